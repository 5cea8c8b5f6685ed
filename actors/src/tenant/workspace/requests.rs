//! What can be asked of the workspace, what each request needs, and what it answers.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Serialize;

use super::model::*;
use crate::catalog::Action;
use crate::domain::MemberId;
use crate::tenant::auth::Access;
use crate::tenant::state::Member;

#[derive(Debug)]
pub enum WorkspaceRequest {
    ListBoards,
    CreateBoard {
        name: String,
        kind: BoardKind,
        quorum: Quorum,
    },
    UpdateBoard {
        id: String,
        name: Option<String>,
        quorum: Option<Quorum>,
    },
    SetBoardMember {
        board: String,
        member: MemberId,
        position: Position,
    },
    RemoveBoardMember {
        board: String,
        member: MemberId,
    },
    ListMeetings(MeetingFilter),
    GetMeeting {
        id: String,
    },
    CreateMeeting(MeetingFields),
    UpdateMeeting {
        id: String,
        fields: MeetingFields,
    },
    CancelMeeting {
        id: String,
    },
    AddAgendaItem {
        meeting: String,
        fields: AgendaFields,
    },
    UpdateAgendaItem {
        meeting: String,
        item: String,
        fields: AgendaFields,
    },
    DeleteAgendaItem {
        meeting: String,
        item: String,
    },
    ReorderAgenda {
        meeting: String,
        order: Vec<String>,
    },
    Rsvp {
        meeting: String,
        response: RsvpResponse,
        note: Option<String>,
    },
    RollCall {
        meeting: String,
        member: MemberId,
        status: Presence,
        proxy_holder: Option<MemberId>,
    },
    CreateAction {
        meeting: String,
        title: String,
        owner: MemberId,
        due: Option<Date>,
        agenda_item: Option<String>,
    },
    UpdateAction {
        id: String,
        status: ActionStatus,
    },
    ListActions {
        owner: Option<MemberId>,
    },
    /// The meeting with everything its iCalendar form needs.
    MeetingCalendar {
        id: String,
    },
    /// The caller's feed URL token (made on first ask); `rotate` makes a new one.
    CalendarToken {
        rotate: bool,
    },
    /// The feed itself, by token: every meeting of the member's boards.
    /// Drafts the minutes from the meeting's record.
    DraftMinutes {
        meeting: String,
    },
    EditMinutes {
        meeting: String,
        text: String,
    },
    ApproveMinutes {
        meeting: String,
    },
    /// A new document of the board pack, streamed in.
    UploadDocument {
        meeting: String,
        agenda_item: Option<String>,
        title: Option<String>,
        file: IncomingFile,
    },
    /// A new version of a document.
    ReplaceDocument {
        document: String,
        file: IncomingFile,
    },
    /// A version of a document (the current one by default), streamed out.
    Download {
        document: String,
        version: Option<usize>,
    },
    /// The meeting's documents in board-pack order.
    Pack {
        meeting: String,
    },
    CalendarFeed {
        token: String,
    },
}

impl WorkspaceRequest {
    pub fn access(&self) -> Access {
        use Action::{Create, Delete, Read, Update};
        use WorkspaceRequest::*;
        match self {
            ListBoards => Access::Perm("boards", Read),
            CreateBoard { .. } => Access::Perm("boards", Create),
            UpdateBoard { .. } | SetBoardMember { .. } | RemoveBoardMember { .. } => {
                Access::Perm("boards", Update)
            }
            ListMeetings(_) | GetMeeting { .. } | Rsvp { .. } => Access::Perm("meetings", Read),
            CreateMeeting(_) => Access::Perm("meetings", Create),
            UpdateMeeting { .. } | RollCall { .. } => Access::Perm("meetings", Update),
            CancelMeeting { .. } => Access::Perm("meetings", Delete),
            AddAgendaItem { .. } => Access::Perm("agenda", Create),
            UpdateAgendaItem { .. } | ReorderAgenda { .. } => Access::Perm("agenda", Update),
            DeleteAgendaItem { .. } => Access::Perm("agenda", Delete),
            CreateAction { .. } => Access::Perm("actions", Create),
            UpdateAction { .. } => Access::Perm("actions", Update),
            ListActions { .. } => Access::Perm("actions", Read),
            MeetingCalendar { .. } | CalendarToken { .. } => Access::Perm("calendar", Read),
            CalendarFeed { .. } => Access::Public,
            DraftMinutes { .. } => Access::Perm("minutes", Create),
            UploadDocument { .. } => Access::Perm("documents", Create),
            ReplaceDocument { .. } => Access::Perm("documents", Update),
            Download { .. } | Pack { .. } => Access::Perm("documents", Read),
            EditMinutes { .. } | ApproveMinutes { .. } => Access::Perm("minutes", Update),
        }
    }
}

/// A meeting as its readers see it: with numbering and quorum worked out.
#[derive(Debug, Clone)]
pub struct MeetingView {
    pub meeting: std::sync::Arc<Meeting>,
    /// Agenda item id → "1", "1.1", "2" …
    pub numbers: BTreeMap<String, String>,
    pub quorum: QuorumView,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct QuorumView {
    pub voting_members: u32,
    pub required: u32,
    pub present: u32,
    pub quorate: bool,
}

/// A file on its way in: what the client called it, and its bytes.
#[derive(Debug)]
pub struct IncomingFile {
    pub file_name: String,
    pub content_type: String,
    pub chunks: crate::children::documents::Chunks,
}

#[derive(Debug)]
pub enum WorkspaceReply {
    Boards(Vec<Board>),
    Board(Board),
    Meetings(Vec<MeetingView>),
    Meeting(Box<MeetingView>),
    Actions(Vec<ActionItem>),
    Action(ActionItem),
    Calendar(Box<CalendarData>),
    CalendarToken {
        token: String,
    },
    Feed(Box<FeedData>),
    Pack(Vec<Document>),
    Document(Box<Document>),
    DocumentStream {
        version: DocumentVersion,
        chunks: crate::children::documents::Chunks,
    },
}

/// What an iCalendar event is made of.
#[derive(Debug, Clone)]
pub struct CalendarData {
    pub meeting: Meeting,
    pub board: Board,
    pub members: Vec<std::sync::Arc<Member>>,
    pub organizer: Option<std::sync::Arc<Member>>,
    pub tenant_slug: String,
}

#[derive(Debug, Clone)]
pub struct FeedData {
    pub events: Vec<CalendarData>,
    pub member: Member,
}
