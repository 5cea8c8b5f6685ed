//! `TenantError`: every way a request to the runtime can fail, as the HTTP edge needs to tell
//! them apart. Messages of `Unavailable` and `Internal` are for the log, never for the client.

use crate::domain::ParseError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum TenantError {
    #[error("no tenant answers to this host")]
    UnknownTenant,
    #[error("this tenant is disabled")]
    Disabled,
    #[error("tenant unavailable: {0}")]
    Unavailable(String),
    #[error("tenant busy")]
    Overloaded,
    #[error("invalid {0}")]
    Invalid(ParseError),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("plan limit: {0}")]
    PlanLimit(String),
    #[error("not available in this mode")]
    NotInThisMode,
    #[error("not signed in, or the session or key is no longer valid")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("plan required: {0}")]
    PlanRequired(String),
    #[error("too many attempts; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the code is wrong or no longer valid")]
    InvalidCode,
    #[error("the code has expired")]
    CodeExpired,
    #[error("the upload is larger than {0} bytes")]
    TooLarge(u64),
    #[error("storage failure; the tenant reloads from disk")]
    Storage,
    #[error("internal: {0}")]
    Internal(String),
}
