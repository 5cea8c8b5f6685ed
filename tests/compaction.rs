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

/// A tenant large enough that its snapshots copy the members unchanged since the one before
/// and serialise only the others: after creations, renames and a clean stop, which leaves the
/// journal empty, every member comes back from `members.json` alone, under its last name.
/// (A compaction waits for half as many records as there are members, so with creations alone
/// they come at about 50, 100, 200 … 1,800 members: the last is past the 1,000 from which the
/// members file is kept, and the stop's snapshot copies from it.)
#[tokio::test]
async fn a_large_tenant_reloads_every_member_from_snapshots_that_copied_the_unchanged() {
    let env = [("MAJLIS_SNAPSHOT_EVERY", "50"), common::auth::FAST];
    let mut server = TestServer::start_env(&env).await;
    let temp = server.take_temp();
    server.create_tenant("big", "enterprise").await;
    common::auth::add(&server, "big", "Chair", "chair@big.om", "admin").await;
    let chair = common::workspace::As::new(&server, "big", "chair@big.om").await;
    let mut names = std::collections::BTreeMap::new();
    let numbers: Vec<usize> = (0..1_900).collect();
    let shared = &server;
    for chunk in numbers.chunks(16) {
        let created = futures_util::future::join_all(chunk.iter().map(|n| {
            let email = format!("m{n}@big.om");
            async move {
                shared
                    .add_member("big", &format!("Member {n}"), &email)
                    .await
            }
        }))
        .await;
        for (n, response) in chunk.iter().zip(created) {
            let response = response.expect("post");
            assert_eq!(response.status(), StatusCode::CREATED);
            let member: Value = response.json().await.expect("json");
            let id = member["id"].as_str().expect("id").to_owned();
            names.insert(id, format!("Member {n}"));
        }
    }
    // Renames between snapshots, each member renamed twice, the second time after the members
    // that follow it were created and snapshotted.
    let renamed: Vec<String> = names.keys().step_by(37).cloned().collect();
    for round in 0..2 {
        for id in &renamed {
            let name = format!("Renamed {round} {id}");
            let path = format!("/api/members/{id}");
            chair
                .ok(
                    Method::PATCH,
                    &path,
                    Some(serde_json::json!({"name": name})),
                )
                .await;
            names.insert(id.clone(), name);
        }
    }
    drop(chair);
    // The operator sees what the tenant keeps of its members file: at least the file itself.
    let members_json = server.tenant_dir("big").join("members.json");
    eventually(
        "the kept members file in view",
        Duration::from_secs(10),
        || async {
            let kept = server.inspect("big").await["snapshot_kept_bytes"].as_u64();
            let written = std::fs::metadata(&members_json).map(|m| m.len()).ok();
            kept.zip(written).filter(|(k, w)| k >= w).map(|_| ())
        },
    )
    .await;
    server.create_tenant("small", "pro").await;
    server
        .add_member("small", "Ann", "ann@small.om")
        .await
        .expect("post");
    assert_eq!(server.inspect("small").await["snapshot_kept_bytes"], 0);
    let data = server.stop().await;
    let dir = data.join("tenants").join("big");
    let journal = std::fs::read(dir.join("journal.jsonl")).expect("journal");
    assert!(
        journal.iter().all(|b| *b == 0),
        "a clean stop leaves the state to the snapshot files alone"
    );

    let server = TestServer::start_in(&data, &env).await;
    let listed: std::collections::BTreeMap<String, String> = server
        .members("big")
        .await
        .iter()
        .filter(|m| m["email"] != "chair@big.om")
        .map(|m| {
            let field = |f: &str| m[f].as_str().expect("string").to_owned();
            (field("id"), field("name"))
        })
        .collect();
    assert_eq!(listed, names);
    drop(temp);
}
