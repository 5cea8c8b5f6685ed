//! Recovery against the real binary after `kill -9` or damage on disk: a torn journal tail is cut
//! with every acknowledged write kept; zeros where acknowledged records were, or a damaged
//! snapshot, fail that tenant alone and nothing is repaired.

mod common;

use std::time::Duration;

use common::{TestServer, audit_lines, error_code, eventually};
use majlis_actors::store::journal_records;
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn a_torn_journal_tail_is_cut_and_everything_acknowledged_stays() {
    let mut server = TestServer::start().await;
    let temp = server.take_temp();
    server.create_tenant("acme", "pro").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let member: Value = server
            .add_member("acme", &format!("M{i}"), &format!("m{i}@acme.om"))
            .await
            .expect("post")
            .json()
            .await
            .expect("json");
        ids.push(member["id"].clone());
    }
    let dir = server.tenant_dir("acme");
    let data = server.kill9().await;
    // A write cut short by the crash: no trailing newline, where the records end (over the
    // zeros written ahead of them, if any).
    let journal = dir.join("journal.jsonl");
    let mut bytes = std::fs::read(&journal).expect("journal");
    let records = journal_records(&bytes).to_vec();
    bytes.truncate(records.len());
    bytes.extend_from_slice(b"{\"seq\":99,\"at\":\"2026-");
    std::fs::write(&journal, &bytes).expect("tear");

    let server = TestServer::start_in(&data, &[]).await;
    let members = server.members("acme").await;
    let found: Vec<Value> = members.iter().map(|m| m["id"].clone()).collect();
    for id in &ids {
        assert!(found.contains(id), "{id} lost");
    }
    let after = std::fs::read(&journal).expect("journal");
    assert!(
        journal_records(&after).starts_with(&records),
        "every record kept"
    );
    assert!(
        !String::from_utf8_lossy(&after).contains("\"seq\":99"),
        "torn tail removed"
    );
    drop(temp);
}

/// The tenant answers 503 `tenant_unavailable`, and the operator sees it failed for a reason
/// that names `cause`.
async fn assert_failed(server: &TestServer, slug: &str, cause: &str) {
    let response = server
        .tenant(slug, Method::GET, "/api/tenant")
        .send()
        .await
        .expect("get");
    assert_eq!(
        error_code(response).await,
        (StatusCode::SERVICE_UNAVAILABLE, "tenant_unavailable".into())
    );
    let view = server.inspect(slug).await;
    assert_eq!(view["state"], "failed");
    assert!(
        view["last_error"]
            .as_str()
            .is_some_and(|e| e.contains(cause)),
        "{view}"
    );
}

#[tokio::test]
async fn zeros_where_acknowledged_records_were_fail_the_tenant_and_cut_nothing() {
    let mut server = TestServer::start().await;
    let temp = server.take_temp();
    server.create_tenant("acme", "pro").await;
    for i in 0..5 {
        server
            .add_member("acme", &format!("M{i}"), &format!("m{i}@acme.om"))
            .await
            .expect("post");
    }
    let dir = server.tenant_dir("acme");
    eventually(
        "the trail holds every write",
        Duration::from_secs(10),
        || async {
            let created = audit_lines(&dir)
                .iter()
                .filter(|l| l["action"] == "member.create")
                .count();
            (created == 5).then_some(())
        },
    )
    .await;
    let data = server.kill9().await;
    // The disk gives back zeros where the second record was: what follows is not a torn batch.
    let journal = dir.join("journal.jsonl");
    let mut bytes = std::fs::read(&journal).expect("journal");
    let second = journal_records(&bytes)
        .iter()
        .position(|b| *b == b'\n')
        .expect("a record")
        + 1;
    bytes[second..second + 16].fill(0);
    std::fs::write(&journal, &bytes).expect("damage");

    let server = TestServer::start_in(&data, &[]).await;
    assert_failed(&server, "acme", "was acknowledged").await;
    assert_eq!(
        std::fs::read(&journal).expect("journal"),
        bytes,
        "nothing cut"
    );
    drop(temp);
}

#[tokio::test]
async fn a_damaged_snapshot_fails_only_its_own_tenant() {
    let mut server = TestServer::start().await;
    let temp = server.take_temp();
    server.create_tenant("broken", "pro").await;
    server.create_tenant("healthy", "pro").await;
    server
        .add_member("healthy", "Ann", "ann@x.om")
        .await
        .expect("post");
    let broken_dir = server.tenant_dir("broken");
    let data = server.stop().await;
    std::fs::write(broken_dir.join("members.json"), "{\"seq\": 1, \"data\": {").expect("damage");

    let server = TestServer::start_in(&data, &[]).await;
    assert_failed(&server, "broken", "members.json").await;
    assert_eq!(server.members("healthy").await.len(), 1);
    let health: Value = server.get_json("/api/almajlis/health.json").await;
    assert_eq!(health["tenants_failed"], 1);
    // The damaged file is left as it was for the operator to inspect.
    let kept = std::fs::read_to_string(broken_dir.join("members.json")).expect("read");
    assert_eq!(kept, "{\"seq\": 1, \"data\": {");
    drop(temp);
}
