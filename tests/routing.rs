//! Requests that meet a tenant while it passivates: whether they go straight to the running actor
//! or through the manager (stopping, passive), each is answered by the tenant, and every
//! acknowledged write is kept.

mod common;

use std::time::Duration;

use common::TestServer;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn requests_racing_passivation_are_all_answered_and_kept() {
    let server = TestServer::start_env(&[("MAJLIS_IDLE_SECS", "1")]).await;
    server.create_tenant("acme", "pro").await;
    let mut acknowledged = Vec::new();
    let mut passive_seen = 0;
    // Rounds land from just before to just after the idle timeout (the sweep runs every quarter
    // of it), so some meet a running tenant, some one being stopped and some a passive one.
    let mut pace = tokio::time::interval(Duration::from_millis(75));
    for round in 0..8u32 {
        for _ in 0..(12 + round) {
            pace.tick().await;
        }
        if server.inspect("acme").await["state"] == "passive" {
            passive_seen += 1;
        }
        let server = &server;
        let writes = (0..6).map(|i| {
            let email = format!("r{round}w{i}@acme.om");
            async move { server.add_member("acme", "Member", &email).await }
        });
        let reads = (0..3).map(|_| server.tenant("acme", Method::GET, "/api/meetings").send());
        let (writes, reads) = tokio::join!(join_all(writes), join_all(reads));
        for response in writes {
            let response = response.expect("an answer");
            assert_eq!(response.status(), StatusCode::CREATED, "round {round}");
            let body: Value = response.json().await.expect("json");
            acknowledged.push(body["id"].as_str().expect("id").to_owned());
        }
        for response in reads {
            // Reached the tenant, which asks for credentials: not dropped, not refused.
            assert_eq!(
                response.expect("an answer").status(),
                StatusCode::UNAUTHORIZED,
                "round {round}"
            );
        }
    }
    assert!(
        passive_seen >= 1,
        "the rounds never met a passive tenant: the test did not exercise passivation"
    );
    let members = server.members("acme").await;
    for id in &acknowledged {
        assert!(
            members.iter().any(|m| m["id"] == id.as_str()),
            "acknowledged member {id} is missing"
        );
    }
    assert_eq!(members.len(), acknowledged.len());
}
