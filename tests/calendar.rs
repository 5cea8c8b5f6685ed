//! Calendars over HTTP against the real binary: each meeting's iCalendar parsed back with a real
//! parser (time zones, DST, attendees, SEQUENCE, cancellation) and each member's revocable feed.

#![cfg(feature = "fault-injection")]

mod common;

use std::collections::HashMap;

use common::TestServer;
use common::auth::*;
use common::workspace::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

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
