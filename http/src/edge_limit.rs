//! The edge's own sign-in limit: one client address asking for codes across many tenants is
//! stopped here, before any tenant is woken. Tenants keep their own finer limits.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::ClientIp;

pub struct EdgeLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl std::fmt::Debug for EdgeLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeLimiter").finish_non_exhaustive()
    }
}

impl EdgeLimiter {
    pub fn new(burst: u32, per: Duration) -> Self {
        let quota = Quota::with_period(per.max(Duration::from_millis(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN));
        Self {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// `Err(seconds to wait)` when this address has used its burst.
    fn check(&self, ip: IpAddr) -> Result<(), u64> {
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&ip)
            .map_err(|denied| denied.wait_time_from(self.clock.now()).as_secs().max(1))
    }
}

/// Whether a route asks for sign-in codes or spends them (sign-out does neither).
pub fn is_sign_in(path: &str) -> bool {
    path.starts_with("/api/auth/") && path != "/api/auth/logout" || path.starts_with("/auth/magic/")
}

/// The limit itself, layered onto the sign-in routes only (`is_sign_in`), so that no other
/// request pays for it.
pub async fn limit_sign_in(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let ip = match <ClientIp as axum::extract::FromRequestParts<AppState>>::from_request_parts(
        &mut parts, &state,
    )
    .await
    {
        Ok(ClientIp(ip)) => ip,
        Err(err) => return err.into_response(),
    };
    if let Some(ip) = ip
        && let Err(wait) = state.edge_limit.check(ip)
    {
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many sign-in requests from this address; try again later",
        )
        .retry_after(u32::try_from(wait).unwrap_or(u32::MAX))
        .into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::is_sign_in;

    #[test]
    fn only_routes_that_ask_for_or_spend_codes_are_limited() {
        assert!(is_sign_in("/api/auth/otp/request"));
        assert!(is_sign_in("/api/auth/otp/verify"));
        assert!(is_sign_in("/api/auth/magic/request"));
        assert!(is_sign_in("/auth/magic/{id}"));
        assert!(!is_sign_in("/api/auth/logout"));
        assert!(!is_sign_in("/api/members"));
        assert!(!is_sign_in("/api/almajlis/sectors.json"));
    }
}
