//! How the tenant decides sign-in requests: code and magic-link flows for any identity, known
//! or not, and the checks of a code against its flow, its tries and the identity's lockout.

use jiff::Timestamp;

use super::auth::{equal_hashes, keyed_hash, random_token, sha256_hex};
use super::commands::{Change, Decision, Effect, Reply, Secret, after};
use super::state::{
    Channel, MAX_FLOW_TRIES, Member, MemberStatus, Op, OtpFlow, Session, TenantState,
};
use crate::audit::Diff;
use crate::config::AuthConfig;
use crate::domain::{Email, Identity, OtpCode};
use crate::error::TenantError;

impl TenantState {
    /// A new flow for any identity, known or not, so that nothing tells them apart; only a known,
    /// active member gets a message.
    pub(super) fn decide_otp_request(
        &self,
        identity: &Identity,
        channel: Channel,
        now: Timestamp,
        auth: &AuthConfig,
    ) -> Decision {
        let flow_id = random_token(16);
        let code = OtpCode::generate();
        let member = self
            .member_by_identity(&identity.key())
            .filter(|m| m.status == MemberStatus::Active)
            .cloned();
        let flow = OtpFlow {
            identity: identity.key(),
            member: member.as_ref().map(|m| m.id),
            code_hash: keyed_hash(&auth.secret, &[&flow_id, code.as_str()]),
            channel,
            expires_at: after(now, auth.code_ttl),
            tries: 0,
            used: false,
        };
        let change = Change {
            action: "auth.otp.request",
            module: "auth",
            target: identity.masked(),
            diff: Diff::of(&serde_json::json!({ "channel": channel, "known": member.is_some() })),
            op: Op::OtpIssued {
                flow_id: flow_id.clone(),
                flow,
            },
        };
        Decision {
            change: Some(change),
            reply: Ok(Reply::Flow { flow_id }),
            effect: member.map(|member| Effect::Deliver {
                member,
                channel,
                secret: Secret::Code(code),
            }),
        }
    }

    pub(super) fn decide_magic_request(
        &self,
        email: Email,
        now: Timestamp,
        auth: &AuthConfig,
    ) -> Result<Decision, TenantError> {
        if !self
            .features
            .flags
            .get("magic_link")
            .copied()
            .unwrap_or(false)
        {
            return Err(TenantError::NotFound("magic link sign-in"));
        }
        let identity = Identity::Email(email);
        let token = random_token(32);
        let flow_id = sha256_hex(&token);
        let member = self
            .member_by_identity(&identity.key())
            .filter(|m| m.status == MemberStatus::Active)
            .cloned();
        let flow = OtpFlow {
            identity: identity.key(),
            member: member.as_ref().map(|m| m.id),
            code_hash: keyed_hash(&auth.secret, &[&flow_id, &token]),
            channel: Channel::Email,
            expires_at: after(now, auth.code_ttl),
            tries: MAX_FLOW_TRIES - 1,
            used: false,
        };
        let change = Change {
            action: "auth.magic.request",
            module: "auth",
            target: identity.masked(),
            diff: Diff::of(&serde_json::json!({ "known": member.is_some() })),
            op: Op::OtpIssued {
                flow_id: flow_id.clone(),
                flow,
            },
        };
        Ok(Decision {
            change: Some(change),
            reply: Ok(Reply::Done),
            effect: member.map(|member| Effect::Deliver {
                member,
                channel: Channel::Email,
                secret: Secret::MagicToken(token),
            }),
        })
    }

    /// Checks a code (or magic token) against its flow. Failures are recorded (and counted
    /// against the identity, whichever flow they used); success opens a session.
    pub(super) fn decide_verify(
        &self,
        flow_id: &str,
        secret: &str,
        now: Timestamp,
        auth: &AuthConfig,
    ) -> Decision {
        let Some(flow) = self.auth.flows.get(flow_id) else {
            return Decision {
                change: Some(Change::audit_only(
                    "auth.verify.unknown_flow",
                    "auth",
                    "-".into(),
                )),
                reply: Err(TenantError::InvalidCode),
                effect: None,
            };
        };
        let lockout = self.auth.lockouts.get(&flow.identity);
        if let Some(until) = lockout.and_then(|l| l.locked_until).filter(|t| *t > now) {
            let wait = until.duration_since(now).as_secs().max(1) as u64;
            return Decision {
                change: Some(Change::audit_only(
                    "auth.verify.locked",
                    "auth",
                    masked(&flow.identity),
                )),
                reply: Err(TenantError::RateLimited {
                    retry_after_secs: wait,
                }),
                effect: None,
            };
        }
        let expected = keyed_hash(&auth.secret, &[flow_id, secret]);
        let alive = !flow.used && flow.tries < MAX_FLOW_TRIES && now < flow.expires_at;
        let right = equal_hashes(&expected, &flow.code_hash);
        let member = flow
            .member
            .as_ref()
            .and_then(|id| self.members.get(id))
            .filter(|m| m.status == MemberStatus::Active);
        match (alive && right, member) {
            (true, Some(member)) => {
                let token = random_token(16);
                let absolute = if auth.operator_tenant.as_ref() == Some(&self.meta.slug) {
                    auth.operator_session_absolute
                } else {
                    auth.session_absolute
                };
                let session = Session {
                    member: member.id,
                    epoch: member.epoch,
                    created_at: now,
                    expires_at: after(now, absolute),
                    last_seen: now,
                };
                let change = Change {
                    action: "auth.signin",
                    module: "auth",
                    target: member.id.to_string(),
                    diff: Diff::of(&serde_json::json!({ "channel": flow.channel })),
                    op: Op::SignedIn {
                        flow_id: flow_id.to_owned(),
                        identity: flow.identity.clone(),
                        session_hash: sha256_hex(&token),
                        session,
                    },
                };
                Decision {
                    change: Some(change),
                    reply: Ok(Reply::SignedIn {
                        token,
                        member: Member::clone(member),
                    }),
                    effect: None,
                }
            }
            _ => {
                let failures = lockout.map_or(0, |l| l.failures) + 1;
                let locked_until =
                    (failures >= auth.lock_after.min(100)).then(|| after(now, auth.lock_for));
                let error = if right && now >= flow.expires_at {
                    TenantError::CodeExpired
                } else {
                    TenantError::InvalidCode
                };
                let change = Change {
                    action: "auth.verify.fail",
                    module: "auth",
                    target: masked(&flow.identity),
                    diff: Diff::of(&serde_json::json!({
                        "reason": match (alive, right) {
                            (false, _) => "flow_dead",
                            (true, false) => "wrong_code",
                            (true, true) => "member_inactive",
                        },
                        "locked": locked_until.is_some(),
                    })),
                    op: Op::OtpFailed {
                        flow_id: flow_id.to_owned(),
                        identity: flow.identity.clone(),
                        locked_until,
                    },
                };
                Decision {
                    change: Some(change),
                    reply: Err(error),
                    effect: None,
                }
            }
        }
    }
}

/// Masks a stored identity key for the audit trail.
fn masked(identity_key: &str) -> String {
    let raw = identity_key
        .split_once(':')
        .map_or(identity_key, |(_, v)| v);
    Identity::parse(raw).map_or_else(|_| "-".into(), |i| i.masked())
}
