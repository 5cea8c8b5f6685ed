//! Meeting records over HTTP against the real binary: minutes drafted from the record, approved
//! and locked; CSV exports of members, meetings and action items.

#![cfg(feature = "fault-injection")]

mod common;

use std::time::Duration;

use common::auth::*;
use common::workspace::*;
use common::{TestServer, audit_lines, eventually};
use reqwest::{Method, StatusCode};
use serde_json::json;

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
