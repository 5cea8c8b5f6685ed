//! The tenant: its state, the requests it answers, how it loads, and the actor that owns its
//! directory.

mod actor;
mod auth;
mod children;
mod commands;
mod decide;
mod load;
mod messages;
mod sign_in;
mod state;
mod workspace;

pub use actor::{TenantActor, TenantArgs};
pub use auth::{Access, Caller, Credential};
pub use commands::{
    AuditQuery, JournalRecord, MeView, MemberPatch, NewMember, NewTenant, Reply, Request,
    RequestCtx, Secret, TenantFace, field_diff,
};
pub(crate) use messages::Admission;
#[cfg(feature = "fault-injection")]
pub use messages::Fault;
pub use messages::{Creation, Envelope, TenantMsg};
pub use state::{
    ApiKey, Channel, Collection, Features, KeyScope, Member, MemberStatus, Op, TenantMeta,
    TenantState, TenantStatus,
};
pub use workspace::{
    ActionItem, ActionStatus, AgendaFields, AgendaItem, Attendance, Board, BoardKind, CalendarData,
    FeedData, Meeting, MeetingFields, MeetingFilter, MeetingStatus, MeetingView, Position,
    Presence, Quorum, QuorumView, Rsvp, RsvpResponse, WorkspaceReply, WorkspaceRequest,
};
