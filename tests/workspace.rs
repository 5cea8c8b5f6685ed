//! The board workspace over HTTP against the real binary: boards, meetings, agenda numbering and
//! reordering, RSVPs, roll call and quorum, action items, calendars parsed back with a real
//! iCalendar parser, and who may see or change what.

#![cfg(feature = "fault-injection")]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::auth::*;
use common::{TestServer, audit_lines, error_code, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A signed-in member's requests to one tenant.
struct As<'a> {
    server: &'a TestServer,
    slug: &'a str,
    cookie: String,
}

impl<'a> As<'a> {
    async fn new(server: &'a TestServer, slug: &'a str, email: &str) -> Self {
        let cookie = sign_in(server, slug, email).await;
        Self {
            server,
            slug,
            cookie,
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let request = self
            .server
            .tenant(self.slug, method, path)
            .header("cookie", &self.cookie);
        match body {
            Some(body) => request.json(&body),
            None => request,
        }
        .send()
        .await
        .expect("send")
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let response = self.send(method.clone(), path, body).await;
        let status = response.status();
        let text = response.text().await.expect("text");
        assert!(status.is_success(), "{method} {path} → {status}: {text}");
        serde_json::from_str(&text).expect("json")
    }

    async fn status(&self, method: Method, path: &str, body: Option<Value>) -> StatusCode {
        self.send(method, path, body).await.status()
    }
}

struct Board {
    id: String,
    members: HashMap<&'static str, String>,
}

/// A pro tenant with a board: Amal (admin, chair), Sara (secretary), Bilal (member), Omar
/// (observer role and position), and Nadia, a member who does not sit on the board.
async fn arrange(server: &TestServer, slug: &'static str) -> Board {
    server.create_tenant(slug, "pro").await;
    let mut members = HashMap::new();
    for (key, name, role) in [
        ("amal", "Amal", "admin"),
        ("sara", "Sara", "secretary"),
        ("bilal", "Bilal", "member"),
        ("omar", "Omar", "observer"),
        ("nadia", "Nadia", "member"),
    ] {
        members.insert(
            key,
            add(server, slug, name, &format!("{key}@{slug}.om"), role).await,
        );
    }
    let admin = As::new(server, slug, &format!("amal@{slug}.om")).await;
    let board = admin
        .ok(Method::POST, "/api/boards", Some(json!({"name": "Board of Directors", "quorum": {"type": "fraction", "numerator": 1, "denominator": 2}})))
        .await;
    let id = board["id"].as_str().expect("id").to_owned();
    for (key, position) in [
        ("amal", "chair"),
        ("sara", "secretary"),
        ("bilal", "member"),
        ("omar", "observer"),
    ] {
        let path = format!("/api/boards/{id}/members/{}", members[key]);
        admin
            .ok(Method::PUT, &path, Some(json!({"position": position})))
            .await;
    }
    Board { id, members }
}

fn meeting_body(board: &str, title: &str, starts: &str, ends: &str, timezone: &str) -> Value {
    json!({"board_id": board, "title": title, "starts_at": starts, "ends_at": ends, "timezone": timezone,
           "location": "Board room, Muscat", "video_url": "https://meet.example.om/board"})
}

fn numbers(meeting: &Value) -> Vec<(String, String)> {
    meeting["agenda"]
        .as_array()
        .expect("agenda")
        .iter()
        .map(|i| {
            (
                i["number"].as_str().expect("number").to_owned(),
                i["title"].as_str().expect("title").to_owned(),
            )
        })
        .collect()
}

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
    let roll_call = lines
        .iter()
        .find(|l| l["action"] == "meeting.roll_call")
        .expect("roll call line");
    assert!(
        roll_call["diff"]["attendance"].is_object() && roll_call["diff"].get("title").is_none(),
        "{roll_call}"
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

/// Properties of the only VEVENT of an iCalendar document, parsed by a real parser.
fn event_properties(text: &str) -> Vec<ical::property::Property> {
    let mut parser = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()));
    let calendar = parser.next().expect("a calendar").expect("parses");
    assert_eq!(calendar.events.len(), 1, "{text}");
    calendar
        .events
        .into_iter()
        .next()
        .expect("event")
        .properties
}

/// A property's value with RFC 5545 TEXT escapes undone (the parser leaves them in).
fn value(properties: &[ical::property::Property], name: &str) -> Option<String> {
    let raw = properties
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| p.value.clone())?;
    Some(
        raw.replace("\\\\", "\u{0}")
            .replace("\\,", ",")
            .replace("\\;", ";")
            .replace("\\n", "\n")
            .replace("\u{0}", "\\"),
    )
}

fn param(property: &ical::property::Property, name: &str) -> Option<String> {
    property
        .params
        .as_ref()?
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.first().cloned())
}

#[tokio::test]
async fn meetings_export_as_icalendar_correct_in_every_time_zone() {
    let server = TestServer::start_env(&[FAST]).await;
    let board = arrange(&server, "acme").await;
    let sara = As::new(&server, "acme", "sara@acme.om").await;
    let bilal = As::new(&server, "acme", "bilal@acme.om").await;

    let cases = [
        (
            "2026-12-01T10:00:00+04:00",
            "2026-12-01T12:00:00+04:00",
            "Asia/Muscat",
            "20261201T060000Z",
        ),
        // New York leaves daylight saving time on 1 November 2026: 09:00 is 13:00Z the day
        // before and 14:00Z that day.
        (
            "2026-10-31T09:00:00-04:00",
            "2026-10-31T10:00:00-04:00",
            "America/New_York",
            "20261031T130000Z",
        ),
        (
            "2026-11-01T09:00:00-05:00",
            "2026-11-01T10:00:00-05:00",
            "America/New_York",
            "20261101T140000Z",
        ),
    ];
    for (starts, ends, zone, utc) in cases {
        let meeting = sara
            .ok(
                Method::POST,
                "/api/meetings",
                Some(meeting_body(&board.id, "Strategy", starts, ends, zone)),
            )
            .await;
        let id = meeting["id"].as_str().expect("id").to_owned();
        let ics = sara
            .send(Method::GET, &format!("/api/meetings/{id}.ics"), None)
            .await;
        assert_eq!(ics.status(), StatusCode::OK);
        assert!(
            ics.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("text/calendar")
        );
        let properties = event_properties(&ics.text().await.expect("text"));
        assert_eq!(
            value(&properties, "DTSTART").as_deref(),
            Some(utc),
            "{zone}"
        );
        assert_eq!(value(&properties, "UID"), Some(format!("{id}@acme.majlis")));
        assert!(
            value(&properties, "DESCRIPTION")
                .is_some_and(|d| d.contains(&format!("/meetings/{id}")) && d.contains(zone))
        );
    }

    let meeting = sara
        .ok(
            Method::POST,
            "/api/meetings",
            Some(meeting_body(
                &board.id,
                "Q4, budget; review",
                "2026-12-01T10:00:00+04:00",
                "2026-12-01T12:00:00+04:00",
                "Asia/Muscat",
            )),
        )
        .await;
    let id = meeting["id"].as_str().expect("id").to_owned();
    let base = format!("/api/meetings/{id}");
    sara.ok(Method::PATCH, &base, Some(json!({"status": "scheduled"})))
        .await;
    bilal
        .ok(
            Method::PUT,
            &format!("{base}/rsvp"),
            Some(json!({"response": "yes"})),
        )
        .await;
    let fetch = || async {
        event_properties(
            &sara
                .send(Method::GET, &format!("{base}.ics"), None)
                .await
                .text()
                .await
                .expect("text"),
        )
    };
    let first = fetch().await;
    assert_eq!(
        value(&first, "SUMMARY").as_deref(),
        Some("Board of Directors — Q4, budget; review")
    );
    assert_eq!(
        value(&first, "LOCATION").as_deref(),
        Some("Board room, Muscat")
    );
    assert_eq!(value(&first, "STATUS").as_deref(), Some("CONFIRMED"));
    let organizer = first
        .iter()
        .find(|p| p.name == "ORGANIZER")
        .expect("organizer");
    assert_eq!(organizer.value.as_deref(), Some("mailto:sara@acme.om"));
    let attendees: HashMap<String, String> = first
        .iter()
        .filter(|p| p.name == "ATTENDEE")
        .map(|p| {
            (
                p.value.clone().expect("value"),
                param(p, "PARTSTAT").expect("partstat"),
            )
        })
        .collect();
    assert_eq!(attendees.len(), 4, "one per board member");
    assert_eq!(attendees["mailto:bilal@acme.om"], "ACCEPTED");
    assert_eq!(attendees["mailto:amal@acme.om"], "NEEDS-ACTION");

    let sequence = |p: &[ical::property::Property]| {
        value(p, "SEQUENCE")
            .and_then(|s| s.parse::<u32>().ok())
            .expect("sequence")
    };
    sara.ok(Method::PATCH, &base, Some(json!({"location": "Online"})))
        .await;
    let second = fetch().await;
    assert!(sequence(&second) > sequence(&first));
    assert_eq!(
        value(&second, "UID"),
        value(&first, "UID"),
        "the UID is stable"
    );
    sara.ok(Method::POST, &format!("{base}/cancel"), None).await;
    let cancelled = fetch().await;
    assert_eq!(value(&cancelled, "STATUS").as_deref(), Some("CANCELLED"));
    assert!(sequence(&cancelled) > sequence(&second));
}

#[tokio::test]
async fn each_member_has_a_revocable_calendar_feed() {
    let server = TestServer::start_env(&[FAST]).await;
    let board = arrange(&server, "acme").await;
    server.create_tenant("other", "pro").await;
    let sara = As::new(&server, "acme", "sara@acme.om").await;
    let bilal = As::new(&server, "acme", "bilal@acme.om").await;
    let nadia = As::new(&server, "acme", "nadia@acme.om").await;
    for title in ["January", "February"] {
        sara.ok(
            Method::POST,
            "/api/meetings",
            Some(meeting_body(
                &board.id,
                title,
                "2027-01-10T10:00:00+04:00",
                "2027-01-10T12:00:00+04:00",
                "Asia/Muscat",
            )),
        )
        .await;
    }
    let url = bilal.ok(Method::GET, "/api/me/calendar", None).await["url"]
        .as_str()
        .expect("url")
        .to_owned();
    assert_eq!(
        bilal.ok(Method::GET, "/api/me/calendar", None).await["url"],
        url,
        "the same URL until rotated"
    );
    let path = url
        .split_once("/ics/")
        .map(|(_, t)| format!("/ics/{t}"))
        .expect("feed path");
    let feed = |slug: &'static str, path: String| {
        let server = &server;
        async move {
            server
                .tenant(slug, Method::GET, &path)
                .send()
                .await
                .expect("get")
        }
    };
    let response = feed("acme", path.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("text");
    let mut parser = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()));
    let calendar = parser.next().expect("calendar").expect("parses");
    assert_eq!(calendar.events.len(), 2);

    assert_eq!(
        feed("other", path.clone()).await.status(),
        StatusCode::NOT_FOUND,
        "another tenant knows no such feed"
    );
    let nadia_url = nadia.ok(Method::GET, "/api/me/calendar", None).await["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let nadia_path = nadia_url
        .split_once("/ics/")
        .map(|(_, t)| format!("/ics/{t}"))
        .expect("path");
    let empty = feed("acme", nadia_path).await.text().await.expect("text");
    assert!(
        !empty.contains("BEGIN:VEVENT"),
        "no meetings of boards she does not sit on"
    );

    let rotated = bilal
        .ok(Method::POST, "/api/me/calendar/rotate", None)
        .await["url"]
        .as_str()
        .expect("url")
        .to_owned();
    assert_ne!(rotated, url);
    assert_eq!(
        feed("acme", path).await.status(),
        StatusCode::NOT_FOUND,
        "the old URL is dead"
    );
    let new_path = rotated
        .split_once("/ics/")
        .map(|(_, t)| format!("/ics/{t}"))
        .expect("path");
    assert_eq!(feed("acme", new_path).await.status(), StatusCode::OK);
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
async fn minutes_are_drafted_from_the_record_approved_and_locked() {
    let server = TestServer::start_env(&[FAST]).await;
    let board = arrange(&server, "acme").await;
    let admin = As::new(&server, "acme", "amal@acme.om").await;
    let sara = As::new(&server, "acme", "sara@acme.om").await;
    let bilal = As::new(&server, "acme", "bilal@acme.om").await;
    let meeting = sara
        .ok(
            Method::POST,
            "/api/meetings",
            Some(meeting_body(
                &board.id,
                "Annual meeting",
                "2026-12-01T10:00:00+04:00",
                "2026-12-01T12:00:00+04:00",
                "Asia/Muscat",
            )),
        )
        .await;
    let base = format!("/api/meetings/{}", meeting["id"].as_str().expect("id"));
    let item = sara.ok(Method::POST, &format!("{base}/agenda"), Some(json!({"title": "Dividend", "presenter_id": board.members["amal"], "notes": "Proposed at 5%.", "recusals": [board.members["bilal"]]}))).await;
    let item_id = item["agenda"][0]["id"].as_str().expect("item").to_owned();
    assert_eq!(
        sara.status(Method::POST, &format!("{base}/minutes"), None)
            .await,
        StatusCode::CONFLICT,
        "not before the meeting starts"
    );
    sara.ok(Method::PATCH, &base, Some(json!({"status": "scheduled"})))
        .await;
    sara.ok(Method::PATCH, &base, Some(json!({"status": "in_progress"})))
        .await;
    for (member, status) in [
        ("amal", "present"),
        ("sara", "present"),
        ("bilal", "remote"),
    ] {
        sara.ok(
            Method::PUT,
            &format!("{base}/attendance/{}", board.members[member]),
            Some(json!({"status": status})),
        )
        .await;
    }
    sara.ok(Method::POST, &format!("{base}/actions"), Some(json!({"title": "Notify shareholders", "owner_id": board.members["sara"], "due": "2026-12-08", "agenda_item_id": item_id}))).await;

    let drafted = sara
        .ok(Method::POST, &format!("{base}/minutes"), None)
        .await;
    let text = drafted["minutes"]["text"]
        .as_str()
        .expect("text")
        .to_owned();
    assert_eq!(drafted["minutes"]["status"], "draft");
    for expected in [
        "Annual meeting",
        "Tuesday 1 December 2026, 10:00",
        "Asia/Muscat",
        "Amal (chair): present",
        "Bilal (member): present (remote)",
        "Omar (observer): not recorded",
        "3 of 3 voting members present; 2 required — quorate",
        "1. **Dividend**",
        "Presented by Amal",
        "conflict of interest and left for this item: Bilal",
        "Proposed at 5%.",
        "Notify shareholders — Sara, due 2026-12-08",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    assert_eq!(
        sara.status(Method::POST, &format!("{base}/minutes"), None)
            .await,
        StatusCode::CONFLICT,
        "drafted once"
    );
    assert_eq!(
        bilal
            .status(
                Method::PATCH,
                &format!("{base}/minutes"),
                Some(json!({"text": "mine"}))
            )
            .await,
        StatusCode::FORBIDDEN
    );
    let edited = sara
        .ok(
            Method::PATCH,
            &format!("{base}/minutes"),
            Some(json!({"text": format!("{text}\nThe chair closed the meeting at 12:00.")})),
        )
        .await;
    assert!(
        edited["minutes"]["text"]
            .as_str()
            .expect("text")
            .ends_with("12:00.")
    );
    assert_eq!(
        admin
            .status(Method::POST, &format!("{base}/minutes/approve"), None)
            .await,
        StatusCode::CONFLICT,
        "approved after closing"
    );
    sara.ok(Method::PATCH, &base, Some(json!({"status": "closed"})))
        .await;
    let approved = admin
        .ok(Method::POST, &format!("{base}/minutes/approve"), None)
        .await;
    assert_eq!(approved["minutes"]["status"], "approved");
    assert_eq!(
        approved["minutes"]["approved_by"],
        board.members["amal"].as_str()
    );
    assert!(approved["minutes"]["approved_at"].is_string());
    assert_eq!(
        sara.status(
            Method::PATCH,
            &format!("{base}/minutes"),
            Some(json!({"text": "rewrite"}))
        )
        .await,
        StatusCode::CONFLICT,
        "locked"
    );

    let dir = server.tenant_dir("acme");
    eventually("minutes audited", Duration::from_secs(10), || async {
        let lines = audit_lines(&dir);
        let update = lines.iter().find(|l| l["action"] == "minutes.update")?;
        update["diff"]["minutes"].is_object().then_some(())
    })
    .await;
}

#[tokio::test]
async fn members_meetings_and_actions_export_as_safe_csv() {
    let server = TestServer::start_env(&[FAST]).await;
    let board = arrange(&server, "acme").await;
    add(
        &server,
        "acme",
        "=cmd|' /C calc'!A0",
        "evil@acme.om",
        "member",
    )
    .await;
    let sara = As::new(&server, "acme", "sara@acme.om").await;
    let meeting = sara
        .ok(
            Method::POST,
            "/api/meetings",
            Some(meeting_body(
                &board.id,
                "+1 budget",
                "2027-01-10T10:00:00+04:00",
                "2027-01-10T12:00:00+04:00",
                "Asia/Muscat",
            )),
        )
        .await;
    let id = meeting["id"].as_str().expect("id");
    sara.ok(
        Method::POST,
        &format!("/api/meetings/{id}/actions"),
        Some(json!({"title": "@SUM(A1)", "owner_id": board.members["bilal"]})),
    )
    .await;
    for (path, columns, rows) in [
        ("/api/members.csv", 7, 6),
        ("/api/meetings.csv", 13, 1),
        ("/api/actions.csv", 8, 1),
    ] {
        let response = sara.send(Method::GET, path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("text/csv")
        );
        let text = response.text().await.expect("text");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(reader.headers().expect("header").len(), columns, "{path}");
        let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        assert_eq!(records.len(), rows, "{path}");
        for cell in records
            .iter()
            .flat_map(|r| r.iter().map(str::to_owned).collect::<Vec<_>>())
        {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "{path}: unescaped {cell:?}"
            );
        }
    }
    let nadia = As::new(&server, "acme", "nadia@acme.om").await;
    let her_view = nadia
        .send(Method::GET, "/api/meetings.csv", None)
        .await
        .text()
        .await
        .expect("text");
    assert_eq!(
        her_view.lines().count(),
        1,
        "only the header: she sits on no board"
    );
    let omar = As::new(&server, "acme", "omar@acme.om").await;
    assert_eq!(
        omar.status(Method::GET, "/api/members.csv", None).await,
        StatusCode::FORBIDDEN,
        "observers do not read the member list"
    );
}
