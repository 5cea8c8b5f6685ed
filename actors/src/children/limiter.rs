//! `LimiterActor`: the tenant's sign-in rate limits (per identity, per client address), built on
//! governor's keyed GCRA limiters. Spawned on the first sign-in request.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::config::AuthConfig;

#[derive(Debug)]
pub struct LimiterActor;

#[derive(Debug)]
pub enum LimiterMsg {
    /// Takes one token from each bucket named; `Err(seconds)` when one of them is empty.
    Check {
        identity: Option<String>,
        ip: Option<IpAddr>,
        reply: RpcReplyPort<Result<(), u64>>,
    },
}

pub struct LimiterState {
    identity: DefaultKeyedRateLimiter<String>,
    ip: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl std::fmt::Debug for LimiterState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimiterState").finish_non_exhaustive()
    }
}

fn quota(burst: u32, per: Duration) -> Quota {
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(per.max(Duration::from_millis(1)))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

impl Actor for LimiterActor {
    type Msg = LimiterMsg;
    type State = LimiterState;
    type Arguments = AuthConfig;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        config: AuthConfig,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(LimiterState {
            identity: RateLimiter::keyed(quota(config.otp_identity_burst, config.otp_identity_per)),
            ip: RateLimiter::keyed(quota(config.otp_ip_burst, config.otp_ip_per)),
            clock: DefaultClock::default(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            LimiterMsg::Check {
                identity,
                ip,
                reply,
            } => {
                let now = state.clock.now();
                let wait = |d: Duration| d.as_secs().max(1);
                let mut verdict = Ok(());
                if let Some(ip) = ip
                    && let Err(denied) = state.ip.check_key(&ip)
                {
                    verdict = Err(wait(denied.wait_time_from(now)));
                }
                if verdict.is_ok()
                    && let Some(identity) = identity
                    && let Err(denied) = state.identity.check_key(&identity)
                {
                    verdict = Err(wait(denied.wait_time_from(now)));
                }
                // Forget idle keys now and then so memory follows active callers.
                if state.identity.len() > 10_000 {
                    state.identity.retain_recent();
                    state.ip.retain_recent();
                }
                let _ = reply.send(verdict);
            }
        }
        Ok(())
    }
}
