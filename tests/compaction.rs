//! Compaction and the journal's sequence: snapshots written beside the write path, and seqs that
//! never come back after a passivation, whatever the records since the last snapshot changed.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{TestServer, audit_lines, eventually};
use majlis_actors::audit::verify_file;
use reqwest::{Method, StatusCode};
use serde_json::Value;

async fn passive(server: &TestServer, slug: &str) {
    eventually("passivation", Duration::from_secs(10), || async {
        (server.inspect(slug).await["state"] == "passive").then_some(())
    })
    .await;
}

/// Every seq of the trail appears once, in order, and the chain holds.
fn assert_sound_trail(dir: &std::path::Path) -> Vec<Value> {
    let lines = audit_lines(dir);
    let seqs: Vec<u64> = lines.iter().filter_map(|l| l["seq"].as_u64()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seqs in order, none twice: {seqs:?}"
    );
    verify_file(&dir.join("audit.jsonl")).expect("chain holds");
    lines
}

#[tokio::test]
async fn a_passivation_after_records_of_no_collection_keeps_their_seqs_used() {
    let server = TestServer::start_env(&[("MAJLIS_IDLE_SECS", "1")]).await;
    server.create_tenant("acme", "pro").await;
    let ann = server
        .add_member("acme", "Ann", "ann@acme.om")
        .await
        .expect("post");
    assert_eq!(ann.status(), StatusCode::CREATED);
    passive(&server, "acme").await;

    // The operator's read is on the record (a seq of its own) but changes no collection.
    let read = server
        .tenant("acme", Method::GET, "/api/members")
        .bearer_auth(common::TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(read.status(), StatusCode::OK);
    passive(&server, "acme").await;

    // The next change takes a seq of its own, so its audit line is written, not taken for one
    // the trail already has.
    let bob = server
        .add_member("acme", "Bob", "bob@acme.om")
        .await
        .expect("post");
    assert_eq!(bob.status(), StatusCode::CREATED);
    let bob: Value = bob.json().await.expect("json");
    let dir = server.tenant_dir("acme");
    eventually("Bob's audit line", Duration::from_secs(10), || async {
        audit_lines(&dir)
            .iter()
            .any(|l| l["action"] == "member.create" && l["target"] == bob["id"])
            .then_some(())
    })
    .await;
    let lines = assert_sound_trail(&dir);
    assert!(lines.iter().any(|l| l["action"] == "operator.read"));
}

#[tokio::test]
async fn writes_across_many_compactions_survive_a_kill_with_one_audit_line_each() {
    let mut server = TestServer::start_env(&[("MAJLIS_SNAPSHOT_EVERY", "5")]).await;
    let temp = server.take_temp();
    server.create_tenant("acme", "pro").await;
    let mut ids = HashSet::new();
    for n in 0..60 {
        let response = server
            .add_member("acme", "Member", &format!("m{n}@acme.om"))
            .await
            .expect("post");
        assert_eq!(response.status(), StatusCode::CREATED);
        let member: Value = response.json().await.expect("json");
        ids.insert(member["id"].as_str().expect("id").to_owned());
    }
    let dir = server.tenant_dir("acme");
    // Compactions ran beside the writes: members are in the snapshot, not only the journal.
    eventually("a later snapshot", Duration::from_secs(10), || async {
        let bytes = std::fs::read(dir.join("members.json")).ok()?;
        let snapshot: Value = serde_json::from_slice(&bytes).expect("snapshot parses");
        (snapshot["seq"].as_u64()? > 20).then_some(())
    })
    .await;

    let data = server.kill9().await;
    let server = TestServer::start_in(&data, &[("MAJLIS_SNAPSHOT_EVERY", "5")]).await;
    let listed: HashSet<String> = server
        .members("acme")
        .await
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_owned))
        .collect();
    assert!(ids.is_subset(&listed), "every acknowledged member is back");
    let dir = server.tenant_dir("acme");
    eventually("every audit line", Duration::from_secs(10), || async {
        let created: Vec<String> = audit_lines(&dir)
            .iter()
            .filter(|l| l["action"] == "member.create")
            .filter_map(|l| l["target"].as_str().map(str::to_owned))
            .collect();
        (created.len() == ids.len()).then_some(())
    })
    .await;
    assert_sound_trail(&dir);
    drop(temp);
}
