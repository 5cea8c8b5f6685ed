//! The tenant: its state, the requests it answers, how it loads, and the actor that owns its
//! directory.

mod actor;
mod commands;
mod load;
mod state;

pub(crate) use actor::Admission;
#[cfg(feature = "fault-injection")]
pub use actor::Fault;
pub use actor::{Creation, Envelope, TenantActor, TenantArgs, TenantMsg};
pub use commands::{
    JournalRecord, NewMember, NewTenant, Reply, Request, RequestCtx, TenantFace, field_diff,
};
pub use state::{
    Collection, Features, Member, MemberStatus, Op, TenantMeta, TenantState, TenantStatus,
};
