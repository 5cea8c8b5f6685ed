//! What the workspace decisions share: visibility (a member sees the boards they sit on), the
//! reader's view of a meeting (numbering, quorum), saving records, and input checks.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::model::*;
use super::requests::*;
use crate::audit::{Diff, FromTo};
use crate::catalog::Action;
use crate::config::AuthConfig;
use crate::domain::MemberId;
use crate::error::TenantError;
use crate::tenant::auth::{Caller, keyed_hash, random_token};
use crate::tenant::commands::{Change, Decision, Reply, check_name, field_diff, invalid};
use crate::tenant::state::{Member, Op, TenantState};

pub(super) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_token(10))
}

pub(super) fn not_found(what: &'static str) -> TenantError {
    TenantError::NotFound(what)
}

pub(super) fn check_timezone(name: &str) -> Result<(), TenantError> {
    jiff::tz::TimeZone::get(name)
        .map(|_| ())
        .map_err(|_| invalid("timezone", format!("unknown IANA time zone '{name}'")))
}

pub(super) fn check_url(url: &str) -> Result<(), TenantError> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2000
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(invalid("video_url", "must be an http(s) URL"))
    }
}

/// The audit diff of one entry of a meeting (`field`: a member's answer or mark, keyed by the
/// member; one agenda item, keyed by its id), in the shape `field_diff` gives: only that entry,
/// and the meeting's sequence moving on. Written straight from the entry.
pub(super) fn entry_diff<T: serde::Serialize>(
    field: &str,
    key: &str,
    old: Option<&T>,
    new: &T,
    meeting: &Meeting,
) -> Diff {
    Diff::of(&EntryDiff {
        field,
        change: FromTo {
            from: old.map(|value| Keyed { key, value }),
            to: Keyed { key, value: new },
        },
        sequence: FromTo {
            from: meeting.sequence,
            to: meeting.sequence + 1,
        },
    })
}

/// `{field: change, "sequence": sequence}`.
struct EntryDiff<'a, C> {
    field: &'a str,
    change: C,
    sequence: FromTo<u32, u32>,
}

impl<C: serde::Serialize> serde::Serialize for EntryDiff<'_, C> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry(self.field, &self.change)?;
        map.serialize_entry("sequence", &self.sequence)?;
        map.end()
    }
}

/// `{key: value}`.
struct Keyed<'a, T> {
    key: &'a str,
    value: &'a T,
}

impl<T: serde::Serialize> serde::Serialize for Keyed<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.key, self.value)?;
        map.end()
    }
}

pub(super) fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), TenantError> {
    if value.chars().count() > max || value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(
            field,
            format!("at most {max} characters, no control characters"),
        ));
    }
    Ok(())
}

impl TenantState {
    /// Whether the caller sees everything (administers boards) or only their own boards.
    pub(super) fn sees_all_boards(&self, caller: &Caller) -> bool {
        self.has_permission(caller, "boards", Action::Update)
    }

    pub(super) fn visible_board(&self, caller: &Caller, id: &str) -> Result<&Board, TenantError> {
        let board = self.workspace.boards.get(id).ok_or(not_found("board"))?;
        let sits = caller
            .member_id()
            .is_some_and(|m| board.members.contains_key(m));
        if sits || self.sees_all_boards(caller) {
            Ok(board)
        } else {
            Err(not_found("board"))
        }
    }

    pub(super) fn visible_meeting(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<&Meeting, TenantError> {
        self.visible_stored_meeting(caller, id).map(|m| &**m)
    }

    /// The stored meeting the caller may see, to share (an answer holds it without a copy).
    pub(super) fn visible_stored_meeting(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<&Arc<Meeting>, TenantError> {
        let meeting = self
            .workspace
            .meetings
            .get(id)
            .ok_or(not_found("meeting"))?;
        self.visible_board(caller, &meeting.board_id)
            .map_err(|_| not_found("meeting"))?;
        Ok(meeting)
    }

    /// The view of a stored meeting: it shares the meeting, which a change then copies first if
    /// the view is still being answered.
    pub fn meeting_view(&self, meeting: &Arc<Meeting>) -> MeetingView {
        self.view_of(Arc::clone(meeting))
    }

    /// The view of a meeting the caller no longer needs, without copying it.
    pub(super) fn view_of(&self, meeting: impl Into<Arc<Meeting>>) -> MeetingView {
        let meeting: Arc<Meeting> = meeting.into();
        let mut numbers = BTreeMap::new();
        let mut top = 0;
        for item in meeting.agenda.iter().filter(|i| i.parent.is_none()) {
            top += 1;
            numbers.insert(item.id.clone(), top.to_string());
            let mut sub = 0;
            for child in meeting
                .agenda
                .iter()
                .filter(|c| c.parent.as_deref() == Some(&item.id))
            {
                sub += 1;
                numbers.insert(child.id.clone(), format!("{top}.{sub}"));
            }
        }
        let board = self.workspace.boards.get(&meeting.board_id);
        let voting: Vec<&MemberId> = board
            .map(|b| {
                b.members
                    .iter()
                    .filter(|(_, p)| p.counts())
                    .map(|(m, _)| m)
                    .collect()
            })
            .unwrap_or_default();
        let present = voting
            .iter()
            .filter(|m| {
                meeting.attendance.get(**m).is_some_and(|a| {
                    matches!(
                        a.status,
                        Presence::Present | Presence::Remote | Presence::Proxy
                    )
                })
            })
            .count() as u32;
        let required = board.map_or(1, |b| b.quorum.required(voting.len() as u32));
        let quorum = QuorumView {
            voting_members: voting.len() as u32,
            required,
            present,
            quorate: present >= required && required > 0,
        };
        MeetingView {
            meeting,
            numbers,
            quorum,
        }
    }

    pub(super) fn save_meeting(
        &self,
        action: &'static str,
        old: Option<&Meeting>,
        mut meeting: Meeting,
    ) -> Decision {
        if old.is_some() {
            meeting.sequence += 1;
        }
        let change = Change {
            action,
            module: "meetings",
            target: meeting.id.clone(),
            diff: field_diff(old, Some(&meeting)),
            op: Op::MeetingSaved {
                meeting: Box::new(meeting.clone()),
            },
        };
        Decision::write(
            change,
            Reply::Workspace(WorkspaceReply::Meeting(Box::new(self.view_of(meeting)))),
        )
    }

    /// Saves one entry of a meeting (`meeting` as it is with the entry), journaled as `op`
    /// alone: its cost does not grow with the meeting.
    pub(super) fn save_meeting_entry(
        &self,
        action: &'static str,
        mut meeting: Meeting,
        op: Op,
        diff: Diff,
    ) -> Decision {
        meeting.sequence += 1;
        let change = Change {
            action,
            module: "meetings",
            target: meeting.id.clone(),
            diff,
            op,
        };
        Decision::write(
            change,
            Reply::Workspace(WorkspaceReply::Meeting(Box::new(self.view_of(meeting)))),
        )
    }

    pub(super) fn save_board(
        &self,
        action: &'static str,
        old: Option<&Board>,
        board: Board,
    ) -> Decision {
        let change = Change {
            action,
            module: "boards",
            target: board.id.clone(),
            diff: field_diff(old, Some(&board)),
            op: Op::BoardSaved {
                board: board.clone(),
            },
        };
        Decision::write(change, Reply::Workspace(WorkspaceReply::Board(board)))
    }

    pub(super) fn calendar_data(&self, meeting: &Meeting) -> Option<CalendarData> {
        let board = self.workspace.boards.get(&meeting.board_id)?.clone();
        let members: Vec<Arc<Member>> = board
            .members
            .keys()
            .filter_map(|id| self.members.get(id))
            .cloned()
            .collect();
        let organizer = board
            .members
            .iter()
            .find(|(_, p)| **p == Position::Secretary)
            .or_else(|| board.members.iter().find(|(_, p)| **p == Position::Chair))
            .and_then(|(id, _)| self.members.get(id))
            .cloned();
        Some(CalendarData {
            meeting: meeting.clone(),
            board,
            members,
            organizer,
            tenant_slug: self.meta.slug.to_string(),
        })
    }

    /// A meeting whose agenda may still change (not closed or cancelled).
    pub(super) fn editable_meeting(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<&Meeting, TenantError> {
        let meeting = self.visible_meeting(caller, id)?;
        if matches!(
            meeting.status,
            MeetingStatus::Closed | MeetingStatus::Cancelled
        ) {
            return Err(TenantError::Conflict(
                "the meeting is closed; its agenda is final".into(),
            ));
        }
        Ok(meeting)
    }

    pub(super) fn apply_agenda_fields(
        &self,
        meeting: &Meeting,
        mut item: AgendaItem,
        fields: AgendaFields,
        creating: bool,
    ) -> Result<AgendaItem, TenantError> {
        if let Some(title) = fields.title {
            check_name(&title).map_err(|e| invalid("title", e.reason))?;
            item.title = title.trim().to_owned();
        } else if creating {
            return Err(invalid("title", "is required"));
        }
        if let Some(parent) = fields.parent {
            if let Some(parent_id) = &parent {
                let valid = meeting
                    .agenda
                    .iter()
                    .any(|i| i.id == *parent_id && i.parent.is_none());
                let has_children = meeting
                    .agenda
                    .iter()
                    .any(|c| c.parent.as_deref() == Some(&item.id));
                if !valid || *parent_id == item.id || has_children {
                    return Err(invalid(
                        "parent_id",
                        "must be a top-level item of this meeting (two levels at most)",
                    ));
                }
            }
            item.parent = parent;
        }
        let board = self.workspace.boards.get(&meeting.board_id);
        let on_board = |m: &MemberId| board.is_some_and(|b| b.members.contains_key(m));
        if let Some(presenter) = fields.presenter {
            if let Some(p) = &presenter
                && !self.members.contains_key(p)
            {
                return Err(invalid("presenter_id", "no such member"));
            }
            item.presenter = presenter;
        }
        if let Some(duration) = fields.duration_min {
            if duration.is_some_and(|d| d == 0 || d > 24 * 60) {
                return Err(invalid("duration_min", "between 1 and 1440 minutes"));
            }
            item.duration_min = duration;
        }
        if let Some(notes) = fields.notes {
            if let Some(n) = &notes {
                check_text("notes", n, 20_000)?;
            }
            item.notes = notes;
        }
        if let Some(recusals) = fields.recusals {
            if let Some(stranger) = recusals.iter().find(|m| !on_board(m)) {
                return Err(invalid(
                    "recusals",
                    format!("{stranger} does not sit on this board"),
                ));
            }
            item.recusals = recusals;
        }
        Ok(item)
    }
}

/// `<member id>.<mac>`: the member's feed URL token for one generation.
pub(super) fn feed_token(auth: &AuthConfig, member: &MemberId, generation: u32) -> String {
    let mac = keyed_hash(
        &auth.secret,
        &["calendar", member.as_str(), &generation.to_string()],
    );
    format!("{member}.{}", &mac[..40])
}

/// Puts an item at the end of its level: a top-level item last, a sub-item after its siblings.
pub(super) fn insert_in_order(agenda: &mut Vec<AgendaItem>, item: AgendaItem) {
    match &item.parent {
        None => agenda.push(item),
        Some(parent) => {
            let after = agenda
                .iter()
                .rposition(|i| i.id == *parent || i.parent.as_deref() == Some(parent))
                .map_or(agenda.len(), |p| p + 1);
            agenda.insert(after, item);
        }
    }
}

pub(super) fn validate_meeting(meeting: &Meeting) -> Result<(), TenantError> {
    check_name(&meeting.title).map_err(|e| invalid("title", e.reason))?;
    check_timezone(&meeting.timezone)?;
    if meeting.ends_at <= meeting.starts_at {
        return Err(invalid("ends_at", "must be after starts_at"));
    }
    if let Some(location) = &meeting.location {
        check_text("location", location, 500)?;
    }
    if let Some(url) = &meeting.video_url {
        check_url(url)?;
    }
    Ok(())
}
