//! The tenant: its state, the requests it answers, how it loads, and the actor that owns its
//! directory.

mod actor;
mod auth;
mod commands;
mod load;
mod state;

pub(crate) use actor::Admission;
#[cfg(feature = "fault-injection")]
pub use actor::Fault;
pub use actor::{Creation, Envelope, TenantActor, TenantArgs, TenantMsg};
pub use auth::{Access, Caller, Credential};
pub use commands::{
    AuditQuery, JournalRecord, MeView, MemberPatch, NewMember, NewTenant, Reply, Request,
    RequestCtx, Secret, TenantFace, field_diff,
};
pub use state::{
    ApiKey, Channel, Collection, Features, KeyScope, Member, MemberStatus, Op, TenantMeta,
    TenantState, TenantStatus,
};
