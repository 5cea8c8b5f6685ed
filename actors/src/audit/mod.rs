//! The audit trail: one hash-chained JSON line per mutation in `audit.jsonl`, written by the
//! tenant's audit child actor and verifiable offline.

mod actor;
mod chain;
mod diff;
mod page;

pub use actor::{AuditActor, AuditArgs, AuditMsg, audited_seq};
pub use chain::{
    AuditBatch, AuditEntry, AuditFacts, AuditLine, ChainError, GENESIS_HASH, VerifyReport,
    verify_file, write_line,
};
pub use diff::{Diff, FromTo};
