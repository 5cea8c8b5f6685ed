//! Who is calling and what they may do: sessions and API keys resolved to a `Caller`, the one
//! permission check (`has_permission`), and the keyed hashes of codes, sessions and keys.

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::state::{Collection, KeyScope, MemberStatus, TenantState};
use crate::catalog::{Action, Catalog};
use crate::config::AuthConfig;
use crate::domain::{MemberId, Principal};
use crate::error::TenantError;

/// What a request presents.
#[derive(Debug, Clone, Default)]
pub enum Credential {
    #[default]
    None,
    /// The opaque id from the session cookie (its signature already checked at the edge).
    Session(String),
    /// `Authorization: Bearer mjk_…`.
    ApiKey(String),
    /// The operator token on a tenant route: read-only, and every read is audited.
    Operator,
    /// The operator API (`/admin/api`): bootstraps and administers tenants.
    OperatorAdmin,
}

/// A caller once its credential has been checked.
#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    Member {
        id: MemberId,
        role: String,
        /// Set when calling with an API key: caps the role.
        scope: Option<KeyScope>,
        key_id: Option<String>,
        session_hash: Option<String>,
    },
    OperatorReadOnly,
    OperatorAdmin,
}

impl Caller {
    pub fn principal(&self) -> Principal {
        match self {
            Caller::Anonymous => Principal::Anonymous,
            Caller::Member {
                key_id: Some(key), ..
            } => Principal::ApiKey(key.clone()),
            Caller::Member { id, .. } => Principal::Member(*id),
            Caller::OperatorReadOnly | Caller::OperatorAdmin => Principal::Operator,
        }
    }

    pub fn member_id(&self) -> Option<&MemberId> {
        match self {
            Caller::Member { id, .. } => Some(id),
            _ => None,
        }
    }
}

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// Any signed-in member (their own data).
    Signed,
    Perm(&'static str, Action),
    OperatorAdmin,
}

/// Modules whose changes administer the tenant: a `write` key may only read them.
const ADMIN_MODULES: &[&str] = &[
    "roles",
    "settings",
    "api_keys",
    "audit",
    "audit_export",
    "billing",
    "webhooks",
];

type HmacSha256 = Hmac<Sha256>;

pub fn keyed_hash(secret: &[u8], parts: &[&str]) -> String {
    // HMAC accepts keys of any length.
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| {
        HmacSha256::new_from_slice(b"majlis").unwrap_or_else(|_| unreachable!())
    });
    for part in parts {
        mac.update(part.as_bytes());
        mac.update(b"\x1f");
    }
    hex::encode(mac.finalize().into_bytes())
}

pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

pub fn equal_hashes(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// 128 random bits from the OS, as 32 hex digits.
pub fn random_token(bytes: usize) -> String {
    use rand::TryRngCore;
    let mut buf = vec![0u8; bytes];
    #[allow(clippy::expect_used)]
    rand::rngs::OsRng
        .try_fill_bytes(&mut buf)
        .expect("the operating system's random source failed");
    hex::encode(buf)
}

impl TenantState {
    /// Checks a credential; an invalid session or key is 401, no credential is `Anonymous`.
    pub fn authenticate(
        &mut self,
        credential: &Credential,
        now: Timestamp,
        config: &AuthConfig,
    ) -> Result<Caller, TenantError> {
        match credential {
            Credential::None => Ok(Caller::Anonymous),
            Credential::Operator => Ok(Caller::OperatorReadOnly),
            Credential::OperatorAdmin => Ok(Caller::OperatorAdmin),
            Credential::Session(raw) => {
                let hash = sha256_hex(raw);
                let session = self
                    .auth
                    .sessions
                    .get(&hash)
                    .ok_or(TenantError::Unauthorized)?;
                let idle = jiff::SignedDuration::try_from(config.session_idle).unwrap_or_default();
                let idle_ok = session
                    .last_seen
                    .checked_add(idle)
                    .is_ok_and(|limit| now <= limit);
                if now >= session.expires_at || !idle_ok {
                    return Err(TenantError::Unauthorized);
                }
                let member = self
                    .members
                    .get(&session.member)
                    .filter(|m| m.status == MemberStatus::Active && m.epoch == session.epoch)
                    .ok_or(TenantError::Unauthorized)?;
                let caller = Caller::Member {
                    id: member.id,
                    role: member.role.clone(),
                    scope: None,
                    key_id: None,
                    session_hash: Some(hash.clone()),
                };
                if let Some(session) = self.auth.sessions.get_mut(&hash) {
                    session.last_seen = now;
                }
                self.touch(Collection::Auth);
                Ok(caller)
            }
            Credential::ApiKey(raw) => {
                let id = parse_key_id(raw).ok_or(TenantError::Unauthorized)?;
                let key = self.keys.get(id).ok_or(TenantError::Unauthorized)?;
                if !equal_hashes(&key.secret_hash, &sha256_hex(raw)) {
                    return Err(TenantError::Unauthorized);
                }
                let member = self
                    .members
                    .get(&key.creator)
                    .filter(|m| m.status == MemberStatus::Active)
                    .ok_or(TenantError::Unauthorized)?;
                let caller = Caller::Member {
                    id: member.id,
                    role: member.role.clone(),
                    scope: Some(key.scope),
                    key_id: Some(key.id.clone()),
                    session_hash: None,
                };
                if let Some(key) = self.keys.get_mut(id) {
                    key.last_used = Some(now);
                }
                self.touch(Collection::Keys);
                Ok(caller)
            }
        }
    }

    /// A module the tenant can use at all: visible in its sector and switched on (which the
    /// plan gate allows only up to its plan).
    pub fn module_available(&self, module: &str) -> bool {
        let catalog = Catalog::get();
        let Some(found) = catalog.module(module) else {
            return false;
        };
        found.visible_in(&self.meta.sector)
            && found.requires_plan <= self.meta.plan
            && self.features.modules.get(module).copied().unwrap_or(false)
    }

    /// The one permission check. Deny by default.
    pub fn has_permission(&self, caller: &Caller, module: &str, action: Action) -> bool {
        match caller {
            Caller::Anonymous => false,
            Caller::OperatorAdmin => true,
            Caller::OperatorReadOnly => action == Action::Read,
            Caller::Member { role, scope, .. } => {
                let granted = self
                    .roles
                    .get(role)
                    .and_then(|grants| grants.get(module))
                    .is_some_and(|actions| actions.contains(&action));
                let scoped = match scope {
                    None | Some(KeyScope::Admin) => true,
                    Some(KeyScope::Read) => action == Action::Read,
                    Some(KeyScope::Write) => {
                        action == Action::Read || !ADMIN_MODULES.contains(&module)
                    }
                };
                granted && scoped
            }
        }
    }

    /// Whether `caller` may make a request that needs `access`: 401, 403 or 404 otherwise.
    pub fn check_access(&self, caller: &Caller, access: Access) -> Result<(), TenantError> {
        match access {
            Access::Public => Ok(()),
            Access::Signed => match caller {
                Caller::Member { .. } => Ok(()),
                Caller::Anonymous => Err(TenantError::Unauthorized),
                _ => Err(TenantError::Forbidden("only members have this".into())),
            },
            Access::OperatorAdmin => match caller {
                Caller::OperatorAdmin => Ok(()),
                Caller::Anonymous => Err(TenantError::Unauthorized),
                _ => Err(TenantError::Forbidden("operator only".into())),
            },
            Access::Perm(module, action) => {
                if matches!(caller, Caller::Anonymous) {
                    return Err(TenantError::Unauthorized);
                }
                if !matches!(caller, Caller::OperatorAdmin) {
                    let found = Catalog::get()
                        .module(module)
                        .filter(|m| m.visible_in(&self.meta.sector))
                        .ok_or(TenantError::NotFound("module"))?;
                    if found.requires_plan > self.meta.plan {
                        return Err(TenantError::PlanRequired(format!(
                            "{} needs the {} plan or above",
                            found.name,
                            found.requires_plan.as_str()
                        )));
                    }
                    if !self.module_available(module) {
                        return Err(TenantError::NotFound("module"));
                    }
                }
                if self.has_permission(caller, module, action) {
                    Ok(())
                } else {
                    Err(TenantError::Forbidden(
                        format!("your role may not {action:?} {module}").to_lowercase(),
                    ))
                }
            }
        }
    }
}

/// `mjk_<key id>_<secret>` → the key id (`k_` and 20 hex digits; the secret is 64).
pub fn parse_key_id(raw: &str) -> Option<&str> {
    let rest = raw.strip_prefix("mjk_")?;
    let (id, secret) = (rest.get(..22)?, rest.get(22..)?);
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    let well_formed = id.starts_with("k_")
        && hex(&id[2..])
        && secret
            .strip_prefix('_')
            .is_some_and(|s| s.len() == 64 && hex(s));
    well_formed.then_some(id)
}

/// A new key's secret for the key id.
pub fn new_key_secret(id: &str) -> String {
    format!("mjk_{id}_{}", random_token(32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_come_back_out_of_secrets() {
        let secret = new_key_secret("k_0123456789abcdef0123");
        assert_eq!(parse_key_id(&secret), Some("k_0123456789abcdef0123"));
        assert_eq!(parse_key_id("mjk_k_1_short"), None);
        assert_eq!(parse_key_id("Bearer nonsense"), None);
    }

    #[test]
    fn keyed_hashes_depend_on_the_key_and_every_part() {
        let a = keyed_hash(b"one", &["flow", "123456"]);
        assert_eq!(a, keyed_hash(b"one", &["flow", "123456"]));
        assert_ne!(a, keyed_hash(b"two", &["flow", "123456"]));
        assert_ne!(a, keyed_hash(b"one", &["flow1", "23456"]));
    }
}
