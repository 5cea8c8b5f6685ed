//! Tests of the tenant's state: replay over snapshots, and the ops journaled alone.

use super::*;

#[test]
fn replay_skips_what_a_collection_already_holds() {
    let mut state = test_state();
    state.seqs = [5, 0, 0, 3, 0, 0, 0, 0, 0, 0];
    state.apply(
        4,
        Op::SetStatus {
            status: TenantStatus::Disabled,
        },
    );
    assert!(state.is_enabled(), "tenant.json already includes seq 4");
    state.apply(
        6,
        Op::SetStatus {
            status: TenantStatus::Disabled,
        },
    );
    assert!(!state.is_enabled());
    assert!(state.is_dirty(Collection::Tenant));
    assert!(!state.is_dirty(Collection::Members));
    assert_eq!(state.last_seq, 6);
}

#[test]
fn an_answer_is_journaled_alone_and_replays_onto_its_meeting() {
    use crate::tenant::workspace::{Presence, RsvpResponse};
    let mut state = test_state();
    let rsvp = |note: &str| Rsvp {
        response: RsvpResponse::Yes,
        note: Some(note.into()),
        at: Timestamp::UNIX_EPOCH,
    };
    let mut meeting: Meeting = serde_json::from_value(serde_json::json!({
        "id": "g_1", "board_id": "b_1", "title": "General assembly",
        "starts_at": "2027-01-10T06:00:00Z", "ends_at": "2027-01-10T08:00:00Z",
        "timezone": "Asia/Muscat", "location": null, "video_url": null,
        "status": "scheduled", "sequence": 7, "agenda": [], "rsvps": {}, "attendance": {},
        "created_at": "2026-11-23T00:00:00Z"
    }))
    .expect("a meeting");
    for _ in 0..500 {
        meeting
            .rsvps
            .insert(MemberId::generate(), rsvp("an earlier answer"));
    }
    state.apply(
        1,
        Op::MeetingSaved {
            meeting: Box::new(meeting),
        },
    );
    let member = MemberId::generate();
    let op = Op::RsvpSet {
        meeting: "g_1".into(),
        member,
        rsvp: rsvp("coming"),
    };
    let line = serde_json::to_string(&op).expect("serialises");
    assert!(
        line.len() < 300,
        "the journal line holds the answer alone: {line}"
    );
    let replayed: Op = serde_json::from_str(&line).expect("parses");
    state.apply(2, replayed.clone());
    let mark = Op::AttendanceSet {
        meeting: "g_1".into(),
        member,
        attendance: Attendance {
            status: Presence::Present,
            proxy_holder: None,
        },
    };
    state.apply(3, mark);
    // Replay over a snapshot that already holds them changes nothing.
    state.apply(2, replayed.clone());
    let meeting = &state.workspace.meetings["g_1"];
    assert_eq!(meeting.rsvps.len(), 501);
    assert_eq!(meeting.rsvps[&member], rsvp("coming"));
    assert_eq!(meeting.attendance[&member].status, Presence::Present);
    assert_eq!(meeting.sequence, 9, "each entry moves the sequence on once");
    // An answer to a meeting that is gone changes nothing.
    state.apply(
        4,
        Op::RsvpSet {
            meeting: "g_2".into(),
            member,
            rsvp: rsvp("lost"),
        },
    );
    assert_eq!(state.workspace.meetings.len(), 1);
}

#[test]
fn an_agenda_item_is_journaled_alone_and_replays_in_its_place() {
    let mut state = test_state();
    let item = |id: &str, notes: &str| -> AgendaItem {
        serde_json::from_value(serde_json::json!({
            "id": id, "parent": null, "title": format!("Item {id}"), "presenter": null,
            "duration_min": 10, "notes": notes, "recusals": []
        }))
        .expect("an item")
    };
    let mut meeting: Meeting = serde_json::from_value(serde_json::json!({
        "id": "g_1", "board_id": "b_1", "title": "Annual meeting",
        "starts_at": "2027-01-10T06:00:00Z", "ends_at": "2027-01-10T08:00:00Z",
        "timezone": "Asia/Muscat", "location": null, "video_url": null,
        "status": "scheduled", "sequence": 3, "agenda": [], "rsvps": {}, "attendance": {},
        "created_at": "2026-11-23T00:00:00Z"
    }))
    .expect("a meeting");
    meeting.agenda = (0..300)
        .map(|n| item(&format!("a_{n}"), &"a long note ".repeat(20)))
        .collect();
    state.apply(
        1,
        Op::MeetingSaved {
            meeting: Box::new(meeting),
        },
    );
    let op = Op::AgendaItemSet {
        meeting: "g_1".into(),
        item: item("a_150", "moved to next quarter"),
    };
    let line = serde_json::to_string(&op).expect("serialises");
    assert!(
        line.len() < 300,
        "the journal line holds the item alone: {line}"
    );
    let replayed: Op = serde_json::from_str(&line).expect("parses");
    state.apply(2, replayed.clone());
    state.apply(2, replayed.clone());
    let meeting = &state.workspace.meetings["g_1"];
    assert_eq!(meeting.agenda.len(), 300);
    assert_eq!(meeting.agenda[150], item("a_150", "moved to next quarter"));
    assert_eq!(
        meeting.agenda[149].notes.as_deref(),
        Some(&*"a long note ".repeat(20))
    );
    assert_eq!(meeting.sequence, 4, "the item moves the sequence on once");
}

#[test]
fn a_member_edit_moves_the_contacts_that_changed_and_keeps_the_rest() {
    let mut state = test_state();
    let email = |raw: &str| Some(Email::parse(raw).expect("email"));
    let mut member = Member {
        id: MemberId::generate(),
        name: "Salma".into(),
        email: email("salma@acme.example"),
        phone: None,
        role: "member".into(),
        status: MemberStatus::Active,
        created_at: Timestamp::UNIX_EPOCH,
        epoch: 0,
    };
    let found =
        |state: &TenantState, identity: &str| state.member_by_identity(identity).map(|m| m.id);
    let shared = Arc::new(member.clone());
    state.apply(
        1,
        Op::AddMember {
            member: Arc::clone(&shared),
        },
    );
    assert!(
        Arc::ptr_eq(&state.members[&member.id], &shared),
        "the state holds the op's member"
    );
    assert_eq!(found(&state, "email:salma@acme.example"), Some(member.id));

    member.name = "Salma A.".into();
    state.apply(
        2,
        Op::UpdateMember {
            member: Arc::new(member.clone()),
        },
    );
    assert_eq!(found(&state, "email:salma@acme.example"), Some(member.id));
    assert_eq!(state.members[&member.id].name, "Salma A.");

    member.email = email("salma@new.example");
    member.phone = Some(Phone::parse("+96891234567").expect("phone"));
    state.apply(
        3,
        Op::UpdateMember {
            member: Arc::new(member.clone()),
        },
    );
    assert_eq!(
        found(&state, "email:salma@acme.example"),
        None,
        "the old email is free"
    );
    assert_eq!(found(&state, "email:salma@new.example"), Some(member.id));
    assert_eq!(found(&state, "phone:+96891234567"), Some(member.id));
    assert_eq!(state.contacts.len(), 2);
}

#[test]
fn a_snapshot_copy_shares_the_members_it_holds() {
    let mut state = test_state();
    let member = Arc::new(Member {
        id: MemberId::generate(),
        name: "Hamad".into(),
        email: Some(Email::parse("hamad@acme.example").expect("email")),
        phone: None,
        role: "member".into(),
        status: MemberStatus::Active,
        created_at: Timestamp::UNIX_EPOCH,
        epoch: 0,
    });
    state.apply(
        1,
        Op::AddMember {
            member: Arc::clone(&member),
        },
    );
    let copy = state.dirty_copy();
    assert!(Arc::ptr_eq(&copy.members[&member.id], &member));
    let id = member.id;
    assert_eq!(
        serde_json::to_string(&copy.members).expect("serialises"),
        format!(
            r#"{{"{id}":{{"id":"{id}","name":"Hamad","email":"hamad@acme.example","phone":null,"role":"member","status":"active","created_at":"1970-01-01T00:00:00Z","epoch":0}}}}"#
        ),
        "a snapshot file holds members byte for byte as before"
    );
}

#[test]
fn a_change_after_a_snapshot_copy_leaves_the_copy_as_it_was() {
    use crate::tenant::workspace::RsvpResponse;
    let mut state = test_state();
    let meeting = |id: &str| -> Meeting {
        serde_json::from_value(serde_json::json!({
            "id": id, "board_id": "b_1", "title": "Board meeting",
            "starts_at": "2027-01-10T06:00:00Z", "ends_at": "2027-01-10T08:00:00Z",
            "timezone": "Asia/Muscat", "location": null, "video_url": null,
            "status": "scheduled", "sequence": 0, "agenda": [], "rsvps": {}, "attendance": {},
            "created_at": "2026-11-23T00:00:00Z"
        }))
        .expect("a meeting")
    };
    for (seq, id) in [(1, "g_1"), (2, "g_2")] {
        state.apply(
            seq,
            Op::MeetingSaved {
                meeting: Box::new(meeting(id)),
            },
        );
    }
    let copy = state.dirty_copy();
    let view = state.meeting_view(&state.workspace.meetings["g_2"]);
    let member = MemberId::generate();
    state.apply(
        3,
        Op::RsvpSet {
            meeting: "g_1".into(),
            member,
            rsvp: Rsvp {
                response: RsvpResponse::No,
                note: None,
                at: Timestamp::UNIX_EPOCH,
            },
        },
    );
    assert_eq!(state.workspace.meetings["g_1"].rsvps.len(), 1);
    assert_eq!(state.workspace.meetings["g_1"].sequence, 1);
    assert!(
        copy.workspace.meetings["g_1"].rsvps.is_empty(),
        "the copy keeps seq 2's meeting"
    );
    assert_eq!(copy.workspace.meetings["g_1"].sequence, 0);
    let (now, then) = (&state.workspace.meetings, &copy.workspace.meetings);
    assert!(
        !Arc::ptr_eq(&now["g_1"], &then["g_1"]),
        "the changed meeting was copied"
    );
    assert!(
        Arc::ptr_eq(&now["g_2"], &then["g_2"]),
        "the other is still shared"
    );
    // An answer being sent shares its meeting the same way.
    state.apply(
        4,
        Op::RsvpSet {
            meeting: "g_2".into(),
            member,
            rsvp: Rsvp {
                response: RsvpResponse::Yes,
                note: None,
                at: Timestamp::UNIX_EPOCH,
            },
        },
    );
    assert!(
        view.meeting.rsvps.is_empty(),
        "the answer shows the meeting it was made from"
    );
    assert_eq!(state.workspace.meetings["g_2"].rsvps.len(), 1);
}
