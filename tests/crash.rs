//! Acknowledged means durable: concurrent writers across tenants, `kill -9` at a random moment,
//! restart, and every acknowledged write is there with exactly one audit line in a sound chain.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TestServer, audit_lines, eventually};
use majlis_actors::audit::verify_file;
use majlis_actors::store::journal_records;
use rand::Rng;
use reqwest::StatusCode;
use serde_json::Value;

const TENANTS: [&str; 3] = ["alpha", "bravo", "charlie"];
const WRITERS_PER_TENANT: usize = 3;
const ROUNDS: usize = 4;

type Acked = Arc<Mutex<HashMap<String, BTreeSet<String>>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_at_a_random_instant() {
    let temp = tempfile::tempdir().expect("tempdir");
    let data = temp.path().join("data");
    let acked: Acked = Arc::default();

    for round in 0..ROUNDS {
        // Arrange: a server on the same data directory as the last round.
        let server =
            Arc::new(TestServer::start_in(&data, &[("MAJLIS_SNAPSHOT_EVERY", "25")]).await);
        if round == 0 {
            for slug in TENANTS {
                server.create_tenant(slug, "enterprise").await;
            }
        }
        let count = Arc::new(AtomicUsize::new(0));
        let mut writers = Vec::new();
        for slug in TENANTS {
            for writer in 0..WRITERS_PER_TENANT {
                let (server, acked, count) =
                    (Arc::clone(&server), Arc::clone(&acked), Arc::clone(&count));
                writers.push(tokio::spawn(async move {
                    for n in 0.. {
                        let email = format!("r{round}w{writer}n{n}@{slug}.om");
                        let Ok(response) = server.add_member(slug, "Writer", &email).await else {
                            return;
                        };
                        if response.status() != StatusCode::CREATED {
                            continue;
                        }
                        let Ok(member) = response.json::<Value>().await else {
                            return;
                        };
                        let id = member["id"].as_str().expect("id").to_owned();
                        acked
                            .lock()
                            .expect("lock")
                            .entry(slug.to_owned())
                            .or_default()
                            .insert(id);
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                }));
            }
        }
        // Act: kill -9 once a random number of writes has been acknowledged.
        let kill_after = rand::rng().random_range(20..120);
        eventually(
            "writes to be acknowledged",
            Duration::from_secs(60),
            || async { (count.load(Ordering::SeqCst) >= kill_after).then_some(()) },
        )
        .await;
        let server = Arc::try_unwrap(server).ok();
        match server {
            Some(server) => {
                server.kill9().await;
            }
            None => {
                // Writers still hold the server; kill through its pid file instead.
                let pid = std::fs::read_to_string(data.join("majlis.lock")).expect("pid");
                let status = std::process::Command::new("kill")
                    .args(["-KILL", pid.trim()])
                    .status()
                    .expect("kill");
                assert!(status.success());
            }
        }
        for writer in writers {
            let _ = writer.await;
        }
    }

    // Assert: a fresh start finds every acknowledged write, once, with its audit line.
    let server = TestServer::start_in(&data, &[]).await;
    let acked = acked.lock().expect("lock").clone();
    for slug in TENANTS {
        let members = server.members(slug).await;
        let present: BTreeSet<String> = members
            .iter()
            .map(|m| m["id"].as_str().expect("id").to_owned())
            .collect();
        assert_eq!(present.len(), members.len(), "no duplicates in {slug}");
        let expected = acked.get(slug).cloned().unwrap_or_default();
        let lost: Vec<_> = expected.difference(&present).collect();
        assert!(lost.is_empty(), "{slug} lost acknowledged writes: {lost:?}");

        let dir = server.tenant_dir(slug);
        let audited = eventually("audit catch-up", Duration::from_secs(20), || async {
            let created: BTreeSet<String> = audit_lines(&dir)
                .iter()
                .filter(|l| l["action"] == "member.create")
                .map(|l| l["target"].as_str().expect("target").to_owned())
                .collect();
            (created == present).then_some(created)
        })
        .await;
        assert_eq!(audited.len(), present.len());
        let lines = audit_lines(&dir);
        let seqs: BTreeSet<u64> = lines
            .iter()
            .map(|l| l["seq"].as_u64().expect("seq"))
            .collect();
        assert_eq!(seqs.len(), lines.len(), "one audit line per seq in {slug}");
        verify_file(&dir.join("audit.jsonl")).expect("hash chain verifies");

        for file in ["tenant.json", "features.json", "roles.json", "members.json"] {
            let text = std::fs::read_to_string(dir.join(file)).expect(file);
            serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{slug}/{file}: {e}"));
        }
        let journal = std::fs::read(dir.join("journal.jsonl")).expect("journal");
        let journal = String::from_utf8(journal_records(&journal).to_vec()).expect("utf-8");
        for line in journal.lines() {
            serde_json::from_str::<Value>(line).expect("journal line parses");
        }
    }
}
