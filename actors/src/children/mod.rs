//! The tenant's on-demand children besides the audit trail: the sign-in rate limiter, the
//! notifier that delivers codes and links (through the server's shared couriers), and the
//! documents child.

pub mod couriers;
pub mod documents;
pub mod limiter;
pub mod notifier;
