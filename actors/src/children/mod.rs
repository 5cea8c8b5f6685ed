//! The tenant's on-demand children besides the audit trail: the sign-in rate limiter and the
//! notifier that delivers codes and links.

pub mod documents;
pub mod limiter;
pub mod notifier;
