//! The tenant: its state, the requests it answers, how it loads, and the actor that owns its
//! directory.

mod actor;
mod auth;
mod children;
mod commands;
mod compaction;
mod decide;
mod group_commit;
mod handling;
mod load;
mod members_file;
mod messages;
mod sign_in;
mod state;
mod workspace;

pub use actor::{TenantActor, TenantArgs};
pub use auth::{Access, Caller, Credential};

/// A random file name for temporary files.
pub fn random_name() -> String {
    auth::random_token(16)
}
pub use commands::{
    AuditQuery, JournalRecord, MeView, MemberPatch, NewMember, NewTenant, Reply, Request,
    RequestCtx, Secret, TenantFace, field_diff,
};
pub use members_file::MembersFile;
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
    Document, DocumentVersion, FeedData, IncomingFile, Meeting, MeetingFields, MeetingFilter,
    MeetingStatus, MeetingView, PendingUpload, Position, Presence, Quorum, QuorumView, Rsvp,
    RsvpResponse, UploadTarget, WorkspaceReply, WorkspaceRequest, clean_content_type,
    clean_file_name,
};
