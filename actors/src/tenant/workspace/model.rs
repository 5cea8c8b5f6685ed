//! The workspace's records: boards and positions, quorum rules, meetings and their status
//! machine, agenda items, RSVPs, attendance, action items.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::domain::MemberId;
use crate::error::TenantError;
use crate::tenant::commands::invalid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoardKind {
    Board,
    Committee,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    Chair,
    Secretary,
    Member,
    Observer,
}

impl Position {
    /// Observers attend but do not count towards quorum.
    pub(crate) fn counts(self) -> bool {
        self != Position::Observer
    }
}

/// How many voting members make a meeting quorate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Quorum {
    Count { count: u32 },
    Fraction { numerator: u32, denominator: u32 },
}

impl Quorum {
    pub(crate) fn validate(self) -> Result<Self, TenantError> {
        match self {
            Quorum::Count { count } if count >= 1 => Ok(self),
            Quorum::Fraction {
                numerator,
                denominator,
            } if numerator >= 1 && denominator >= 1 && numerator <= denominator => Ok(self),
            _ => Err(invalid(
                "quorum",
                "a count of at least 1, or a fraction between 0 and 1",
            )),
        }
    }

    /// Members needed out of `voting` seats (fractions round up).
    pub fn required(self, voting: u32) -> u32 {
        match self {
            Quorum::Count { count } => count,
            Quorum::Fraction {
                numerator,
                denominator,
            } => (voting * numerator).div_ceil(denominator.max(1)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Board {
    pub id: String,
    pub name: String,
    pub kind: BoardKind,
    pub quorum: Quorum,
    pub members: BTreeMap<MemberId, Position>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingStatus {
    Draft,
    Scheduled,
    InProgress,
    Closed,
    Cancelled,
}

impl MeetingStatus {
    /// The legal moves: draft → scheduled → in_progress → closed, and cancel before closing.
    pub(crate) fn may_become(self, next: MeetingStatus) -> bool {
        use MeetingStatus::*;
        matches!(
            (self, next),
            (Draft, Scheduled)
                | (Scheduled, InProgress)
                | (InProgress, Closed)
                | (Draft | Scheduled | InProgress, Cancelled)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgendaItem {
    pub id: String,
    /// A sub-item (numbered 1.1, 1.2 …) under this top-level item.
    pub parent: Option<String>,
    pub title: String,
    pub presenter: Option<MemberId>,
    pub duration_min: Option<u32>,
    pub notes: Option<String>,
    /// Members who declared a conflict of interest and leave for this item.
    pub recusals: Vec<MemberId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RsvpResponse {
    Yes,
    No,
    Maybe,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rsvp {
    pub response: RsvpResponse,
    pub note: Option<String>,
    pub at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Present,
    Absent,
    Remote,
    Proxy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attendance {
    pub status: Presence,
    pub proxy_holder: Option<MemberId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meeting {
    pub id: String,
    pub board_id: String,
    pub title: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// IANA name, e.g. `Asia/Muscat`.
    pub timezone: String,
    pub location: Option<String>,
    pub video_url: Option<String>,
    pub status: MeetingStatus,
    /// Bumped on every change, as iCalendar's SEQUENCE.
    pub sequence: u32,
    pub agenda: Vec<AgendaItem>,
    pub rsvps: BTreeMap<MemberId, Rsvp>,
    pub attendance: BTreeMap<MemberId, Attendance>,
    /// Drafted from the meeting's own record, edited, then approved and locked.
    #[serde(default)]
    pub minutes: Option<Minutes>,
    /// The board pack, in order.
    #[serde(default)]
    pub documents: Vec<Document>,
    pub created_at: Timestamp,
}

/// One stored version of a document. The client's file name is kept as a label only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentVersion {
    pub sha256: String,
    pub size: u64,
    pub file_name: String,
    pub content_type: String,
    pub uploaded_by: Option<MemberId>,
    pub uploaded_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub id: String,
    pub title: String,
    pub agenda_item_id: Option<String>,
    /// Oldest first; the last is current.
    pub versions: Vec<DocumentVersion>,
    pub created_at: Timestamp,
    /// Set when a new version replaced an earlier one, so attendees see it changed.
    pub replaced_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MinutesStatus {
    Draft,
    Approved,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Minutes {
    pub status: MinutesStatus,
    /// Markdown.
    pub text: String,
    pub drafted_at: Timestamp,
    pub updated_at: Timestamp,
    pub approved_by: Option<MemberId>,
    pub approved_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Open,
    Done,
    Dropped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionItem {
    pub id: String,
    pub meeting_id: String,
    pub agenda_item_id: Option<String>,
    pub title: String,
    pub owner: MemberId,
    pub due: Option<Date>,
    pub status: ActionStatus,
    pub created_at: Timestamp,
}

/// `boards.json`, `meetings.json`, `actions.json`, and the calendar tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    pub boards: BTreeMap<String, Board>,
    /// Shared with a snapshot's copy: a change copies the one meeting it touches, and only
    /// while a snapshot still holds it.
    pub meetings: BTreeMap<String, std::sync::Arc<Meeting>>,
    pub actions: BTreeMap<String, ActionItem>,
    /// Each member's calendar feed generation; rotating bumps it and kills the old feed URL.
    pub calendar: BTreeMap<MemberId, u32>,
}

#[derive(Debug, Clone, Default)]
pub struct MeetingFields {
    pub board_id: Option<String>,
    pub title: Option<String>,
    pub starts_at: Option<Timestamp>,
    pub ends_at: Option<Timestamp>,
    pub timezone: Option<String>,
    pub location: Option<Option<String>>,
    pub video_url: Option<Option<String>>,
    pub status: Option<MeetingStatus>,
}

#[derive(Debug, Clone, Default)]
pub struct AgendaFields {
    pub parent: Option<Option<String>>,
    pub title: Option<String>,
    pub presenter: Option<Option<MemberId>>,
    pub duration_min: Option<Option<u32>>,
    pub notes: Option<Option<String>>,
    pub recusals: Option<Vec<MemberId>>,
}

#[derive(Debug, Clone, Default)]
pub struct MeetingFilter {
    pub board_id: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub status: Option<MeetingStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_rules_round_up() {
        assert_eq!(
            Quorum::Fraction {
                numerator: 1,
                denominator: 2
            }
            .required(7),
            4
        );
        assert_eq!(
            Quorum::Fraction {
                numerator: 2,
                denominator: 3
            }
            .required(9),
            6
        );
        assert_eq!(Quorum::Count { count: 3 }.required(10), 3);
        assert!(
            Quorum::Fraction {
                numerator: 3,
                denominator: 2
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn meeting_status_moves_only_forward() {
        use MeetingStatus::*;
        assert!(Draft.may_become(Scheduled));
        assert!(Scheduled.may_become(InProgress));
        assert!(InProgress.may_become(Closed));
        assert!(Scheduled.may_become(Cancelled));
        assert!(!Closed.may_become(Cancelled));
        assert!(!Draft.may_become(Closed));
        assert!(!Cancelled.may_become(Scheduled));
    }
}
