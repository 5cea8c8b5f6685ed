//! The board workspace over HTTP against the real binary: boards, meetings, agenda numbering and
//! reordering, RSVPs, roll call and quorum, action items, and who may see or change what.

#![cfg(feature = "fault-injection")]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::auth::*;
use common::workspace::*;
use common::{TestServer, audit_lines, error_code, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn a_board_meets_with_agenda_rsvps_roll_call_quorum_and_actions() {
    let server = TestServer::start_env(&[FAST]).await;
    let board = arrange(&server, "acme").await;
    let admin = As::new(&server, "acme", "amal@acme.om").await;
    let sara = As::new(&server, "acme", "sara@acme.om").await;
    let bilal = As::new(&server, "acme", "bilal@acme.om").await;
    let omar = As::new(&server, "acme", "omar@acme.om").await;
    let nadia = As::new(&server, "acme", "nadia@acme.om").await;

    let body = meeting_body(
        &board.id,
        "Q4 board meeting",
        "2026-12-01T10:00:00+04:00",
        "2026-12-01T12:00:00+04:00",
        "Asia/Muscat",
    );
    let meeting = sara.ok(Method::POST, "/api/meetings", Some(body)).await;
    let id = meeting["id"].as_str().expect("id").to_owned();
    assert_eq!(
        (meeting["status"].as_str(), meeting["sequence"].as_u64()),
        (Some("draft"), Some(0))
    );
    let base = format!("/api/meetings/{id}");

    // Agenda: numbered 1, 2, 2.1, 3; reordering keeps sub-items under their parent.
    let mut items = HashMap::new();
    for (title, parent) in [
        ("Opening", None),
        ("Financials", None),
        ("Q3 accounts", Some("Financials")),
        ("Any other business", None),
    ] {
        let mut body = json!({"title": title, "duration_min": 15});
        if let Some(parent) = parent {
            body["parent_id"] = json!(items[parent]);
        }
        let updated = sara
            .ok(Method::POST, &format!("{base}/agenda"), Some(body))
            .await;
        let item = updated["agenda"]
            .as_array()
            .expect("agenda")
            .iter()
            .find(|i| i["title"] == title)
            .expect("item");
        items.insert(title, item["id"].as_str().expect("id").to_owned());
    }
    let meeting = admin.ok(Method::GET, &base, None).await;
    let expect = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        numbers(&meeting),
        expect(&[
            ("1", "Opening"),
            ("2", "Financials"),
            ("2.1", "Q3 accounts"),
            ("3", "Any other business")
        ])
    );
    let order = json!({"order": [items["Any other business"], items["Q3 accounts"], items["Opening"], items["Financials"]]});
    let meeting = sara
        .ok(Method::POST, &format!("{base}/agenda/reorder"), Some(order))
        .await;
    assert_eq!(
        numbers(&meeting),
        expect(&[
            ("1", "Any other business"),
            ("2", "Opening"),
            ("3", "Financials"),
            ("3.1", "Q3 accounts")
        ])
    );

    // A conflict of interest: Bilal leaves for the financials; Nadia is not on the board.
    let financials = format!("{base}/agenda/{}", items["Financials"]);
    sara.ok(
        Method::PATCH,
        &financials,
        Some(json!({"recusals": [board.members["bilal"]]})),
    )
    .await;
    let stranger = sara
        .send(
            Method::PATCH,
            &financials,
            Some(json!({"recusals": [board.members["nadia"]]})),
        )
        .await;
    assert_eq!(
        error_code(stranger).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field".into())
    );

    // The status machine refuses jumps.
    assert_eq!(
        sara.status(Method::PATCH, &base, Some(json!({"status": "closed"})))
            .await,
        StatusCode::CONFLICT
    );
    let scheduled = sara
        .ok(Method::PATCH, &base, Some(json!({"status": "scheduled"})))
        .await;
    assert!(scheduled["sequence"].as_u64() > Some(0));

    // Invitations: the board's members answer; others do not even see the meeting.
    bilal
        .ok(
            Method::PUT,
            &format!("{base}/rsvp"),
            Some(json!({"response": "yes", "note": "In person"})),
        )
        .await;
    omar.ok(
        Method::PUT,
        &format!("{base}/rsvp"),
        Some(json!({"response": "maybe"})),
    )
    .await;
    assert_eq!(
        nadia.status(Method::GET, &base, None).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        nadia
            .status(
                Method::PUT,
                &format!("{base}/rsvp"),
                Some(json!({"response": "yes"}))
            )
            .await,
        StatusCode::NOT_FOUND
    );
    let listed = nadia.ok(Method::GET, "/api/meetings", None).await;
    assert_eq!(listed, json!([]));
    assert_eq!(
        omar.status(Method::PATCH, &base, Some(json!({"title": "x"})))
            .await,
        StatusCode::FORBIDDEN,
        "observers cannot change meetings"
    );

    // Roll call and quorum: three voting seats (the observer does not count), half needed.
    let attendance = |member: &str| format!("{base}/attendance/{}", board.members[member]);
    assert_eq!(
        sara.status(
            Method::PUT,
            &attendance("amal"),
            Some(json!({"status": "present"}))
        )
        .await,
        StatusCode::CONFLICT,
        "roll call waits for the meeting to start"
    );
    sara.ok(Method::PATCH, &base, Some(json!({"status": "in_progress"})))
        .await;
    let meeting = sara
        .ok(
            Method::PUT,
            &attendance("amal"),
            Some(json!({"status": "present"})),
        )
        .await;
    assert_eq!(
        meeting["quorum"],
        json!({"voting_members": 3, "required": 2, "present": 1, "quorate": false})
    );
    let meeting = sara
        .ok(
            Method::PUT,
            &attendance("bilal"),
            Some(json!({"status": "remote"})),
        )
        .await;
    assert_eq!(meeting["quorum"]["quorate"], true);
    let proxy = sara
        .send(
            Method::PUT,
            &attendance("sara"),
            Some(json!({"status": "proxy"})),
        )
        .await;
    assert_eq!(
        error_code(proxy).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field".into())
    );
    let meeting = sara
        .ok(
            Method::PUT,
            &attendance("sara"),
            Some(json!({"status": "proxy", "proxy_holder": board.members["amal"]})),
        )
        .await;
    assert_eq!(meeting["quorum"]["present"], 3);

    // Action items: owned, dated, tied to an agenda item; the owner closes theirs.
    let action = sara
        .ok(Method::POST, &format!("{base}/actions"), Some(json!({"title": "Circulate the audited accounts", "owner_id": board.members["bilal"], "due": "2026-12-15", "agenda_item_id": items["Financials"]})))
        .await;
    let mine = bilal.ok(Method::GET, "/api/actions?owner=me", None).await;
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    let done = bilal
        .ok(
            Method::PATCH,
            &format!("/api/actions/{}", action["id"].as_str().expect("id")),
            Some(json!({"status": "done"})),
        )
        .await;
    assert_eq!(done["status"], "done");
    assert_eq!(nadia.ok(Method::GET, "/api/actions", None).await, json!([]));

    // A closed meeting keeps its agenda.
    sara.ok(Method::PATCH, &base, Some(json!({"status": "closed"})))
        .await;
    assert_eq!(
        sara.status(
            Method::POST,
            &format!("{base}/agenda"),
            Some(json!({"title": "Late item"}))
        )
        .await,
        StatusCode::CONFLICT
    );
    assert_eq!(
        sara.status(Method::POST, &format!("{base}/cancel"), None)
            .await,
        StatusCode::CONFLICT
    );

    // Every change is on the record with the fields that changed.
    let dir = server.tenant_dir("acme");
    let lines = eventually("workspace audited", Duration::from_secs(10), || async {
        let lines = audit_lines(&dir);
        lines
            .iter()
            .any(|l| l["action"] == "action.update")
            .then_some(lines)
    })
    .await;
    // An answer or a mark is recorded alone, not the meeting's whole list of them.
    let second = |action: &str| {
        lines
            .iter()
            .filter(|l| l["action"] == action)
            .nth(1)
            .unwrap_or_else(|| panic!("two {action} lines"))
            .clone()
    };
    let (rsvp, roll_call) = (second("meeting.rsvp"), second("meeting.roll_call"));
    let (omar_id, bilal_id) = (&board.members["omar"], &board.members["bilal"]);
    assert_eq!(
        rsvp["diff"]["rsvps"]["to"]
            .as_object()
            .map(|m| m.keys().collect::<Vec<_>>()),
        Some(vec![omar_id]),
        "{rsvp}"
    );
    assert_eq!(rsvp["diff"]["rsvps"]["from"], Value::Null, "{rsvp}");
    assert_eq!(rsvp["diff"]["rsvps"]["to"][omar_id]["response"], "maybe");
    assert_eq!(
        roll_call["diff"]["attendance"]["to"]
            .as_object()
            .map(|m| m.keys().collect::<Vec<_>>()),
        Some(vec![bilal_id]),
        "{roll_call}"
    );
    assert!(roll_call["diff"].get("title").is_none(), "{roll_call}");
    // So is one agenda item's change where it stands.
    let recusal = lines
        .iter()
        .rev()
        .find(|l| l["action"] == "agenda.update")
        .expect("an agenda.update line");
    let financials_id = &items["Financials"];
    assert_eq!(
        recusal["diff"]["agenda"]["to"]
            .as_object()
            .map(|m| m.keys().collect::<Vec<_>>()),
        Some(vec![financials_id]),
        "{recusal}"
    );
    assert_eq!(
        recusal["diff"]["agenda"]["to"][financials_id]["recusals"],
        json!([board.members["bilal"]])
    );
    assert_eq!(
        recusal["diff"]["agenda"]["from"][financials_id]["recusals"],
        json!([])
    );
    assert_eq!(
        roll_call["diff"]["sequence"]["to"].as_u64(),
        roll_call["diff"]["sequence"]["from"]
            .as_u64()
            .map(|s| s + 1)
    );

    // After a kill the answers, marks and agenda items are replayed from the journal.
    let before = sara.ok(Method::GET, &base, None).await;
    let mut server = server;
    let _temp = server.take_temp();
    let data = server.kill9().await;
    let server = TestServer::start_in(&data, &[FAST]).await;
    let sara = As::new(&server, "acme", "sara@acme.om").await;
    let after = sara.ok(Method::GET, &base, None).await;
    assert_eq!(
        (
            &after["rsvps"],
            &after["attendance"],
            &after["agenda"],
            &after["sequence"]
        ),
        (
            &before["rsvps"],
            &before["attendance"],
            &before["agenda"],
            &before["sequence"]
        )
    );
}

#[tokio::test]
async fn bad_meetings_are_refused_with_the_field_named() {
    let server = TestServer::start_env(&[FAST]).await;
    let board = arrange(&server, "acme").await;
    let sara = As::new(&server, "acme", "sara@acme.om").await;
    let cases = [
        (
            json!({"board_id": board.id, "title": "X", "starts_at": "2026-12-01T12:00:00Z", "ends_at": "2026-12-01T10:00:00Z"}),
            "ends_at",
        ),
        (
            json!({"board_id": board.id, "title": "X", "starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T12:00:00Z", "timezone": "Mars/Olympus"}),
            "timezone",
        ),
        (
            json!({"board_id": board.id, "title": "X", "starts_at": "tomorrow", "ends_at": "2026-12-01T12:00:00Z"}),
            "starts_at",
        ),
        (
            json!({"board_id": board.id, "title": "X", "starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T12:00:00Z", "video_url": "javascript:alert(1)"}),
            "video_url",
        ),
        (
            json!({"board_id": "b_00000000000000000000", "title": "X", "starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T12:00:00Z"}),
            "board_id",
        ),
        (
            json!({"board_id": board.id, "title": "", "starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T12:00:00Z"}),
            "title",
        ),
    ];
    for (body, field) in cases {
        let response = sara
            .send(Method::POST, "/api/meetings", Some(body.clone()))
            .await;
        let status = response.status();
        let answer: Value = response.json().await.expect("json");
        assert_eq!(
            (status, answer["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}"
        );
    }
    assert_eq!(
        sara.status(Method::GET, "/api/meetings/not-an-id", None)
            .await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn another_tenants_boards_and_meetings_are_unreachable() {
    let server = TestServer::start_env(&[FAST]).await;
    let board = arrange(&server, "acme").await;
    server.create_tenant("rival", "pro").await;
    add(&server, "rival", "Rami", "rami@rival.om", "admin").await;
    let sara = As::new(&server, "acme", "sara@acme.om").await;
    let rami = As::new(&server, "rival", "rami@rival.om").await;
    let meeting = sara
        .ok(
            Method::POST,
            "/api/meetings",
            Some(meeting_body(
                &board.id,
                "Secret",
                "2027-01-10T10:00:00+04:00",
                "2027-01-10T12:00:00+04:00",
                "Asia/Muscat",
            )),
        )
        .await;
    let id = meeting["id"].as_str().expect("id");
    assert_eq!(
        rami.status(Method::GET, &format!("/api/meetings/{id}"), None)
            .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        rami.status(Method::GET, &format!("/api/meetings/{id}.ics"), None)
            .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        rami.status(
            Method::PATCH,
            &format!("/api/boards/{}", board.id),
            Some(json!({"name": "Mine"}))
        )
        .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(rami.ok(Method::GET, "/api/boards", None).await, json!([]));
    assert_eq!(
        rami.status(Method::GET, &format!("/api/meetings/{id}"), None)
            .await,
        StatusCode::NOT_FOUND
    );
    // The session of one tenant does not open the other.
    let foreign = server
        .tenant("acme", Method::GET, "/api/meetings")
        .header("cookie", &rami.cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(foreign.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn meetings_default_to_the_tenants_time_zone() {
    let server = TestServer::start_env(&[FAST]).await;
    let response = server
        .admin(Method::POST, "/tenants")
        .json(&json!({"slug": "london", "name": "London office", "plan": "pro", "sector": "family_office", "timezone": "Europe/London"}))
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), StatusCode::CREATED);
    add(&server, "london", "Amal", "amal@london.om", "admin").await;
    let admin = As::new(&server, "london", "amal@london.om").await;
    let board = admin
        .ok(
            Method::POST,
            "/api/boards",
            Some(json!({"name": "Family council"})),
        )
        .await;
    let meeting = admin
        .ok(
            Method::POST,
            "/api/meetings",
            Some(json!({"board_id": board["id"], "title": "Q1",
            "starts_at": "2027-01-10T10:00:00Z", "ends_at": "2027-01-10T11:00:00Z"})),
        )
        .await;
    assert_eq!(meeting["timezone"], "Europe/London");
}
