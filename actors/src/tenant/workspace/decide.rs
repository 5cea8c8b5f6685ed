//! How the tenant decides workspace requests: one journaled record per change, visibility
//! checked first, illegal moves refused with 409.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::model::*;
use super::requests::*;
use super::support::*;
use crate::audit::Diff;
use crate::config::AuthConfig;
use crate::domain::MemberId;
use crate::error::TenantError;
use crate::tenant::auth::{Caller, equal_hashes};
use crate::tenant::commands::{Change, Decision, Reply, check_name, field_diff, invalid};
use crate::tenant::state::{Member, Op, TenantState};

impl TenantState {
    pub fn decide_workspace(
        &self,
        request: WorkspaceRequest,
        now: Timestamp,
        caller: &Caller,
        auth: &AuthConfig,
    ) -> Result<Decision, TenantError> {
        use WorkspaceRequest::*;
        let reply = |r: WorkspaceReply| Reply::Workspace(r);
        match request {
            ListBoards => {
                let boards = self
                    .workspace
                    .boards
                    .values()
                    .filter(|b| self.visible_board(caller, &b.id).is_ok())
                    .cloned()
                    .collect();
                Ok(Decision::read(reply(WorkspaceReply::Boards(boards))))
            }
            CreateBoard { name, kind, quorum } => {
                check_name(&name).map_err(TenantError::Invalid)?;
                let board = Board {
                    id: new_id("b"),
                    name: name.trim().to_owned(),
                    kind,
                    quorum: quorum.validate()?,
                    members: BTreeMap::new(),
                    created_at: now,
                };
                Ok(self.save_board("board.create", None, board))
            }
            UpdateBoard { id, name, quorum } => {
                let old = self.visible_board(caller, &id)?;
                let mut board = old.clone();
                if let Some(name) = name {
                    check_name(&name).map_err(TenantError::Invalid)?;
                    board.name = name.trim().to_owned();
                }
                if let Some(quorum) = quorum {
                    board.quorum = quorum.validate()?;
                }
                Ok(self.save_board("board.update", Some(old), board))
            }
            SetBoardMember {
                board,
                member,
                position,
            } => {
                let old = self.visible_board(caller, &board)?;
                if !self.members.contains_key(&member) {
                    return Err(not_found("member"));
                }
                let mut board = old.clone();
                board.members.insert(member, position);
                Ok(self.save_board("board.member_set", Some(old), board))
            }
            RemoveBoardMember { board, member } => {
                let old = self.visible_board(caller, &board)?;
                let mut board = old.clone();
                if board.members.remove(&member).is_none() {
                    return Err(not_found("board member"));
                }
                Ok(self.save_board("board.member_remove", Some(old), board))
            }
            ListMeetings(filter) => {
                let mut meetings: Vec<MeetingView> = self
                    .workspace
                    .meetings
                    .values()
                    .filter(|m| filter.board_id.as_ref().is_none_or(|b| *b == m.board_id))
                    .filter(|m| filter.from.is_none_or(|from| m.ends_at >= from))
                    .filter(|m| filter.to.is_none_or(|to| m.starts_at < to))
                    .filter(|m| filter.status.is_none_or(|s| s == m.status))
                    .filter(|m| self.visible_meeting(caller, &m.id).is_ok())
                    .map(|m| self.meeting_view(m))
                    .collect();
                meetings.sort_by_key(|v| v.meeting.starts_at);
                Ok(Decision::read(reply(WorkspaceReply::Meetings(meetings))))
            }
            GetMeeting { id } => {
                let meeting = self.visible_stored_meeting(caller, &id)?;
                Ok(Decision::read(reply(WorkspaceReply::Meeting(Box::new(
                    self.meeting_view(meeting),
                )))))
            }
            CreateMeeting(fields) => {
                let board_id = fields
                    .board_id
                    .clone()
                    .ok_or_else(|| invalid("board_id", "is required"))?;
                self.visible_board(caller, &board_id)
                    .map_err(|_| invalid("board_id", "no such board"))?;
                let title = fields
                    .title
                    .clone()
                    .ok_or_else(|| invalid("title", "is required"))?;
                let starts_at = fields
                    .starts_at
                    .ok_or_else(|| invalid("starts_at", "is required"))?;
                let ends_at = fields
                    .ends_at
                    .ok_or_else(|| invalid("ends_at", "is required"))?;
                let meeting = Meeting {
                    id: new_id("g"),
                    board_id,
                    title,
                    starts_at,
                    ends_at,
                    timezone: fields
                        .timezone
                        .clone()
                        .unwrap_or_else(|| self.meta.timezone.clone()),
                    location: fields.location.clone().flatten(),
                    video_url: fields.video_url.clone().flatten(),
                    status: fields.status.unwrap_or(MeetingStatus::Draft),
                    sequence: 0,
                    agenda: Vec::new(),
                    rsvps: BTreeMap::new(),
                    attendance: BTreeMap::new(),
                    minutes: None,
                    documents: Vec::new(),
                    created_at: now,
                };
                if !matches!(
                    meeting.status,
                    MeetingStatus::Draft | MeetingStatus::Scheduled
                ) {
                    return Err(invalid("status", "a new meeting is draft or scheduled"));
                }
                validate_meeting(&meeting)?;
                Ok(self.save_meeting("meeting.create", None, meeting))
            }
            UpdateMeeting { id, fields } => {
                let old = self.visible_meeting(caller, &id)?;
                let mut meeting = old.clone();
                if matches!(old.status, MeetingStatus::Closed | MeetingStatus::Cancelled) {
                    return Err(TenantError::Conflict(
                        format!("the meeting is {:?}", old.status).to_lowercase(),
                    ));
                }
                if let Some(board) = fields.board_id.filter(|b| *b != old.board_id) {
                    let _ = board;
                    return Err(invalid("board_id", "a meeting stays with its board"));
                }
                if let Some(title) = fields.title {
                    meeting.title = title;
                }
                if let Some(at) = fields.starts_at {
                    meeting.starts_at = at;
                }
                if let Some(at) = fields.ends_at {
                    meeting.ends_at = at;
                }
                if let Some(tz) = fields.timezone {
                    meeting.timezone = tz;
                }
                if let Some(location) = fields.location {
                    meeting.location = location;
                }
                if let Some(url) = fields.video_url {
                    meeting.video_url = url;
                }
                if let Some(status) = fields.status.filter(|s| *s != old.status) {
                    if !old.status.may_become(status) {
                        return Err(TenantError::Conflict(
                            format!("a {:?} meeting cannot become {:?}", old.status, status)
                                .to_lowercase(),
                        ));
                    }
                    meeting.status = status;
                }
                validate_meeting(&meeting)?;
                Ok(self.save_meeting("meeting.update", Some(old), meeting))
            }
            CancelMeeting { id } => {
                let old = self.visible_meeting(caller, &id)?;
                if !old.status.may_become(MeetingStatus::Cancelled) {
                    return Err(TenantError::Conflict(
                        "the meeting can no longer be cancelled".into(),
                    ));
                }
                let mut meeting = old.clone();
                meeting.status = MeetingStatus::Cancelled;
                Ok(self.save_meeting("meeting.cancel", Some(old), meeting))
            }
            AddAgendaItem { meeting, fields } => {
                let old = self.editable_meeting(caller, &meeting)?;
                let mut meeting = old.clone();
                let item = AgendaItem {
                    id: new_id("a"),
                    parent: None,
                    title: String::new(),
                    presenter: None,
                    duration_min: None,
                    notes: None,
                    recusals: Vec::new(),
                };
                let item = self.apply_agenda_fields(&meeting, item, fields, true)?;
                insert_in_order(&mut meeting.agenda, item);
                Ok(self.save_meeting("agenda.add", Some(old), meeting))
            }
            UpdateAgendaItem {
                meeting,
                item,
                fields,
            } => {
                let old = self.editable_meeting(caller, &meeting)?;
                let mut meeting = old.clone();
                let index = meeting
                    .agenda
                    .iter()
                    .position(|i| i.id == item)
                    .ok_or(not_found("agenda item"))?;
                let current = meeting.agenda.remove(index);
                let parent_changed = fields.parent.is_some();
                let updated = self.apply_agenda_fields(&meeting, current, fields, false)?;
                if parent_changed {
                    // A new parent moves the item: the agenda's order changes with it.
                    insert_in_order(&mut meeting.agenda, updated);
                    return Ok(self.save_meeting("agenda.update", Some(old), meeting));
                }
                let diff = entry_diff("agenda", &item, old.agenda.get(index), &updated, old);
                meeting.agenda.insert(index, updated.clone());
                let op = Op::AgendaItemSet {
                    meeting: old.id.clone(),
                    item: updated,
                };
                Ok(self.save_meeting_entry("agenda.update", meeting, op, diff))
            }
            DeleteAgendaItem { meeting, item } => {
                let old = self.editable_meeting(caller, &meeting)?;
                let mut meeting = old.clone();
                let before = meeting.agenda.len();
                meeting
                    .agenda
                    .retain(|i| i.id != item && i.parent.as_deref() != Some(&item));
                if meeting.agenda.len() == before {
                    return Err(not_found("agenda item"));
                }
                Ok(self.save_meeting("agenda.delete", Some(old), meeting))
            }
            ReorderAgenda { meeting, order } => {
                let old = self.editable_meeting(caller, &meeting)?;
                let mut meeting = old.clone();
                let mut ids: Vec<&String> = old.agenda.iter().map(|i| &i.id).collect();
                let mut wanted: Vec<&String> = order.iter().collect();
                ids.sort();
                wanted.sort();
                if ids != wanted {
                    return Err(invalid("order", "must list every agenda item exactly once"));
                }
                let mut items: BTreeMap<String, AgendaItem> = old
                    .agenda
                    .iter()
                    .map(|i| (i.id.clone(), i.clone()))
                    .collect();
                meeting.agenda = order.iter().filter_map(|id| items.remove(id)).collect();
                // Sub-items follow their parent wherever the list put them.
                let tops: Vec<AgendaItem> = meeting
                    .agenda
                    .iter()
                    .filter(|i| i.parent.is_none())
                    .cloned()
                    .collect();
                let mut arranged = Vec::new();
                for top in tops {
                    let children: Vec<AgendaItem> = meeting
                        .agenda
                        .iter()
                        .filter(|c| c.parent.as_deref() == Some(&top.id))
                        .cloned()
                        .collect();
                    arranged.push(top);
                    arranged.extend(children);
                }
                meeting.agenda = arranged;
                Ok(self.save_meeting("agenda.reorder", Some(old), meeting))
            }
            Rsvp {
                meeting,
                response,
                note,
            } => {
                let old = self.visible_meeting(caller, &meeting)?;
                let member = caller.member_id().ok_or_else(|| {
                    TenantError::Forbidden("only members answer invitations".into())
                })?;
                let board = self
                    .workspace
                    .boards
                    .get(&old.board_id)
                    .ok_or(not_found("board"))?;
                if !board.members.contains_key(member) {
                    return Err(TenantError::Forbidden(
                        "only the board's members are invited".into(),
                    ));
                }
                if matches!(old.status, MeetingStatus::Closed | MeetingStatus::Cancelled) {
                    return Err(TenantError::Conflict("the meeting is over".into()));
                }
                if let Some(note) = &note {
                    check_text("note", note, 1000)?;
                }
                let rsvp = self::Rsvp {
                    response,
                    note,
                    at: now,
                };
                let diff = entry_diff("rsvps", member.as_str(), old.rsvps.get(member), &rsvp, old);
                let mut updated = old.clone();
                updated.rsvps.insert(*member, rsvp.clone());
                let op = Op::RsvpSet {
                    meeting: old.id.clone(),
                    member: *member,
                    rsvp,
                };
                Ok(self.save_meeting_entry("meeting.rsvp", updated, op, diff))
            }
            RollCall {
                meeting,
                member,
                status,
                proxy_holder,
            } => {
                let old = self.visible_meeting(caller, &meeting)?;
                let board = self
                    .workspace
                    .boards
                    .get(&old.board_id)
                    .ok_or(not_found("board"))?;
                if !board.members.contains_key(&member) {
                    return Err(invalid("member_id", "not a member of this board"));
                }
                match (status, &proxy_holder) {
                    (Presence::Proxy, Some(holder))
                        if board.members.contains_key(holder) && *holder != member => {}
                    (Presence::Proxy, _) => {
                        return Err(invalid(
                            "proxy_holder",
                            "a proxy needs another member of the board as holder",
                        ));
                    }
                    (_, Some(_)) => return Err(invalid("proxy_holder", "only for status proxy")),
                    _ => {}
                }
                if old.status != MeetingStatus::InProgress {
                    return Err(TenantError::Conflict(
                        "roll call is taken while the meeting is in progress".into(),
                    ));
                }
                let attendance = Attendance {
                    status,
                    proxy_holder,
                };
                let diff = entry_diff(
                    "attendance",
                    member.as_str(),
                    old.attendance.get(&member),
                    &attendance,
                    old,
                );
                let mut updated = old.clone();
                updated.attendance.insert(member, attendance.clone());
                let op = Op::AttendanceSet {
                    meeting: old.id.clone(),
                    member,
                    attendance,
                };
                Ok(self.save_meeting_entry("meeting.roll_call", updated, op, diff))
            }
            CreateAction {
                meeting,
                title,
                owner,
                due,
                agenda_item,
            } => {
                let found = self.visible_meeting(caller, &meeting)?;
                check_name(&title).map_err(|e| invalid("title", e.reason))?;
                if !self.members.contains_key(&owner) {
                    return Err(invalid("owner_id", "no such member"));
                }
                if let Some(item) = &agenda_item
                    && !found.agenda.iter().any(|i| i.id == *item)
                {
                    return Err(invalid("agenda_item_id", "not an item of this meeting"));
                }
                let action = ActionItem {
                    id: new_id("t"),
                    meeting_id: meeting,
                    agenda_item_id: agenda_item,
                    title: title.trim().to_owned(),
                    owner,
                    due,
                    status: ActionStatus::Open,
                    created_at: now,
                };
                let change = Change {
                    action: "action.create",
                    module: "actions",
                    target: action.id.clone(),
                    diff: field_diff(None, Some(&action)),
                    op: Op::ActionSaved {
                        action: action.clone(),
                    },
                };
                Ok(Decision::write(
                    change,
                    reply(WorkspaceReply::Action(action)),
                ))
            }
            UpdateAction { id, status } => {
                let old = self
                    .workspace
                    .actions
                    .get(&id)
                    .ok_or(not_found("action item"))?;
                self.visible_meeting(caller, &old.meeting_id)
                    .map_err(|_| not_found("action item"))?;
                let mut action = old.clone();
                action.status = status;
                let change = Change {
                    action: "action.update",
                    module: "actions",
                    target: id,
                    diff: field_diff(Some(old), Some(&action)),
                    op: Op::ActionSaved {
                        action: action.clone(),
                    },
                };
                Ok(Decision::write(
                    change,
                    reply(WorkspaceReply::Action(action)),
                ))
            }
            ListActions { owner } => {
                let actions = self
                    .workspace
                    .actions
                    .values()
                    .filter(|a| owner.as_ref().is_none_or(|o| *o == a.owner))
                    .filter(|a| self.visible_meeting(caller, &a.meeting_id).is_ok())
                    .cloned()
                    .collect();
                Ok(Decision::read(reply(WorkspaceReply::Actions(actions))))
            }
            MeetingCalendar { id } => {
                let meeting = self.visible_meeting(caller, &id)?;
                let data = self.calendar_data(meeting).ok_or(not_found("meeting"))?;
                Ok(Decision::read(reply(WorkspaceReply::Calendar(Box::new(
                    data,
                )))))
            }
            CalendarToken { rotate } => {
                let member = caller
                    .member_id()
                    .filter(|_| matches!(caller, Caller::Member { key_id: None, .. }))
                    .ok_or_else(|| {
                        TenantError::Forbidden("feeds belong to signed-in members".into())
                    })?;
                let generation = self.workspace.calendar.get(member).copied();
                match generation {
                    Some(generation) if !rotate => {
                        Ok(Decision::read(reply(WorkspaceReply::CalendarToken {
                            token: feed_token(auth, member, generation),
                        })))
                    }
                    _ => {
                        let next = generation.unwrap_or(0) + 1;
                        let change = Change {
                            action: if rotate {
                                "calendar.rotate"
                            } else {
                                "calendar.create"
                            },
                            module: "calendar",
                            target: member.to_string(),
                            diff: Diff::of(
                                &serde_json::json!({ "generation": { "from": generation, "to": next } }),
                            ),
                            op: Op::CalendarRotated { member: *member },
                        };
                        let token = feed_token(auth, member, next);
                        Ok(Decision::write(
                            change,
                            reply(WorkspaceReply::CalendarToken { token }),
                        ))
                    }
                }
            }
            DraftMinutes { meeting } => {
                let old = self.visible_meeting(caller, &meeting)?;
                if old.minutes.is_some() {
                    return Err(TenantError::Conflict(
                        "the meeting has minutes already".into(),
                    ));
                }
                if !matches!(
                    old.status,
                    MeetingStatus::InProgress | MeetingStatus::Closed
                ) {
                    return Err(TenantError::Conflict(
                        "minutes are drafted once the meeting has started".into(),
                    ));
                }
                let mut updated = old.clone();
                updated.minutes = Some(Minutes {
                    status: MinutesStatus::Draft,
                    text: self.minutes_text(old),
                    drafted_at: now,
                    updated_at: now,
                    approved_by: None,
                    approved_at: None,
                });
                Ok(self.save_meeting("minutes.draft", Some(old), updated))
            }
            EditMinutes { meeting, text } => {
                let old = self.visible_meeting(caller, &meeting)?;
                let mut updated = old.clone();
                let minutes = updated.minutes.as_mut().ok_or(not_found("minutes"))?;
                if minutes.status == MinutesStatus::Approved {
                    return Err(TenantError::Conflict("approved minutes are locked".into()));
                }
                check_text("text", &text, 200_000)?;
                minutes.text = text;
                minutes.updated_at = now;
                Ok(self.save_meeting("minutes.update", Some(old), updated))
            }
            ApproveMinutes { meeting } => {
                let old = self.visible_meeting(caller, &meeting)?;
                if old.status != MeetingStatus::Closed {
                    return Err(TenantError::Conflict(
                        "minutes are approved after the meeting is closed".into(),
                    ));
                }
                let approver = *caller.member_id().ok_or_else(|| {
                    TenantError::Forbidden("minutes are approved by a member".into())
                })?;
                let mut updated = old.clone();
                let minutes = updated.minutes.as_mut().ok_or(not_found("minutes"))?;
                if minutes.status == MinutesStatus::Approved {
                    return Err(TenantError::Conflict(
                        "the minutes are approved already".into(),
                    ));
                }
                minutes.status = MinutesStatus::Approved;
                minutes.approved_by = Some(approver);
                minutes.approved_at = Some(now);
                Ok(self.save_meeting("minutes.approve", Some(old), updated))
            }
            UploadDocument { .. } | ReplaceDocument { .. } | Download { .. } => Err(
                TenantError::Internal("document transfers go through the documents child".into()),
            ),
            Pack { meeting } => Ok(Decision::read(reply(WorkspaceReply::Pack(
                self.pack(caller, &meeting)?,
            )))),
            CalendarFeed { token } => {
                let (member_id, _) = token.split_once('.').ok_or(not_found("feed"))?;
                let member_id = MemberId::parse(member_id).map_err(|_| not_found("feed"))?;
                let generation = self
                    .workspace
                    .calendar
                    .get(&member_id)
                    .ok_or(not_found("feed"))?;
                if !equal_hashes(&feed_token(auth, &member_id, *generation), &token) {
                    return Err(not_found("feed"));
                }
                let member = self
                    .members
                    .get(&member_id)
                    .filter(|m| m.status == crate::tenant::state::MemberStatus::Active)
                    .ok_or(not_found("feed"))?;
                let events = self
                    .workspace
                    .meetings
                    .values()
                    .filter(|m| {
                        self.workspace
                            .boards
                            .get(&m.board_id)
                            .is_some_and(|b| b.members.contains_key(&member_id))
                    })
                    .filter_map(|m| self.calendar_data(m))
                    .collect();
                Ok(Decision::read(reply(WorkspaceReply::Feed(Box::new(
                    FeedData {
                        events,
                        member: Member::clone(member),
                    },
                )))))
            }
        }
    }
}
