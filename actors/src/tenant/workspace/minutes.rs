//! The first draft of a meeting's minutes, written from its own record: when and where, who
//! attended (and by proxy for whom), the quorum, the agenda in order with presenters, notes and
//! recusals, and the action items agreed.

use std::fmt::Write;

use super::model::*;
use crate::domain::MemberId;
use crate::tenant::state::TenantState;

impl TenantState {
    fn member_name(&self, id: &MemberId) -> String {
        self.members
            .get(id)
            .map_or_else(|| id.to_string(), |m| m.name.clone())
    }

    /// Markdown minutes drafted from the meeting's record.
    pub(super) fn minutes_text(&self, meeting: &Meeting) -> String {
        let view = self.view_of(meeting.clone());
        let board = self.workspace.boards.get(&meeting.board_id);
        let board_name = board.map_or("Board", |b| b.name.as_str());
        let zone = jiff::tz::TimeZone::get(&meeting.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
        let starts = meeting.starts_at.to_zoned_datetime(zone.clone());
        let ends = meeting.ends_at.to_zoned_datetime(zone);
        let mut text = String::new();
        let _ = writeln!(text, "# Minutes — {board_name}: {}\n", meeting.title);
        let _ = writeln!(
            text,
            "**Date:** {} – {} ({})  ",
            starts.strftime("%A %-d %B %Y, %H:%M"),
            ends.strftime("%H:%M"),
            meeting.timezone
        );
        if let Some(location) = &meeting.location {
            let _ = writeln!(text, "**Location:** {location}  ");
        }
        let _ = writeln!(text, "\n## Attendance\n");
        if let Some(board) = board {
            for (id, position) in &board.members {
                let presence = match meeting.attendance.get(id) {
                    Some(Attendance {
                        status: Presence::Present,
                        ..
                    }) => "present".to_owned(),
                    Some(Attendance {
                        status: Presence::Remote,
                        ..
                    }) => "present (remote)".to_owned(),
                    Some(Attendance {
                        status: Presence::Proxy,
                        proxy_holder: Some(holder),
                    }) => format!("represented by proxy ({})", self.member_name(holder)),
                    Some(_) => "absent".to_owned(),
                    None => "not recorded".to_owned(),
                };
                let position = format!("{position:?}").to_lowercase();
                let _ = writeln!(text, "- {} ({position}): {presence}", self.member_name(id));
            }
        }
        let quorum = view.quorum;
        let _ = writeln!(
            text,
            "\n**Quorum:** {} of {} voting members present; {} required — {}.",
            quorum.present,
            quorum.voting_members,
            quorum.required,
            if quorum.quorate {
                "quorate"
            } else {
                "not quorate"
            }
        );
        let _ = writeln!(text, "\n## Agenda\n");
        for item in &meeting.agenda {
            let number = view.numbers.get(&item.id).cloned().unwrap_or_default();
            let indent = if item.parent.is_some() { "   " } else { "" };
            let _ = writeln!(text, "{indent}{number}. **{}**", item.title);
            if let Some(presenter) = &item.presenter {
                let _ = writeln!(
                    text,
                    "{indent}   Presented by {}.",
                    self.member_name(presenter)
                );
            }
            if !item.recusals.is_empty() {
                let names: Vec<String> =
                    item.recusals.iter().map(|m| self.member_name(m)).collect();
                let _ = writeln!(
                    text,
                    "{indent}   Declared a conflict of interest and left for this item: {}.",
                    names.join(", ")
                );
            }
            if let Some(notes) = &item.notes {
                let _ = writeln!(text, "{indent}   {notes}");
            }
        }
        let actions: Vec<&ActionItem> = self
            .workspace
            .actions
            .values()
            .filter(|a| a.meeting_id == meeting.id)
            .collect();
        if !actions.is_empty() {
            let _ = writeln!(text, "\n## Action items\n");
            for action in actions {
                let due = action.due.map(|d| format!(", due {d}")).unwrap_or_default();
                let _ = writeln!(
                    text,
                    "- {} — {}{due}",
                    action.title,
                    self.member_name(&action.owner)
                );
            }
        }
        text
    }
}
