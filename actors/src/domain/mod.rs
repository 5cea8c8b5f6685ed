//! Parsed domain values: every string that crosses an edge becomes one of these first.

mod email;
mod host;
mod identity;
mod ids;
mod phone;
mod principal;
mod slug;

pub use email::Email;
pub use host::HostName;
pub use identity::{Identity, OtpCode};
pub use ids::MemberId;
pub use phone::Phone;
pub use principal::Principal;
pub use slug::Slug;

/// Why a raw value was refused; the message is safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ParseError {
    pub field: &'static str,
    pub reason: String,
}

impl ParseError {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}
