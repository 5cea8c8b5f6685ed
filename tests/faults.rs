//! Supervision under injected faults (test builds with `--features fault-injection`): a panicking
//! tenant restarts alone, a crash-looping one is marked failed until the operator restarts it,
//! a failed fsync is never retried, and the audit child recovers.

#![cfg(feature = "fault-injection")]

mod common;

use std::time::Duration;

use common::{TestServer, audit_lines, error_code, eventually};
use majlis_actors::audit::verify_file;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn inject(server: &TestServer, slug: &str, fault: &str) {
    let response = server
        .admin(Method::POST, &format!("/tenants/{slug}/fault"))
        .json(&json!({"fault": fault}))
        .send()
        .await
        .expect("inject");
    assert_eq!(
        response.status(),
        StatusCode::ACCEPTED,
        "inject {fault} into {slug}"
    );
}

async fn face_status(server: &TestServer, slug: &str) -> StatusCode {
    server
        .tenant(slug, Method::GET, "/api/tenant")
        .send()
        .await
        .expect("get")
        .status()
}

#[tokio::test]
async fn a_panicking_tenant_restarts_alone_and_a_crash_loop_is_stopped() {
    let server = TestServer::start().await;
    server.create_tenant("shaky", "pro").await;
    server.create_tenant("steady", "pro").await;
    server
        .add_member("shaky", "Ann", "ann@shaky.om")
        .await
        .expect("post");

    inject(&server, "shaky", "panic").await;
    assert_eq!(face_status(&server, "steady").await, StatusCode::OK);
    let view = eventually("restart after panic", Duration::from_secs(10), || async {
        let view = server.inspect("shaky").await;
        (view["restarts"] == 1 && view["state"] == "active").then_some(view)
    })
    .await;
    assert!(
        view["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("panic")),
        "{view}"
    );
    assert_eq!(
        server.members("shaky").await.len(),
        1,
        "state reloaded from disk"
    );

    // Past the intensity limit (3 in 10 s) the tenant is failed and stays so.
    for _ in 0..3 {
        eventually("tenant active", Duration::from_secs(10), || async {
            (server.inspect("shaky").await["state"] == "active").then_some(())
        })
        .await;
        inject(&server, "shaky", "panic").await;
        assert_eq!(face_status(&server, "steady").await, StatusCode::OK);
    }
    eventually("tenant failed", Duration::from_secs(10), || async {
        (server.inspect("shaky").await["state"] == "failed").then_some(())
    })
    .await;
    let refused = server
        .tenant("shaky", Method::GET, "/api/tenant")
        .send()
        .await
        .expect("get");
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(face_status(&server, "steady").await, StatusCode::OK);

    let restarted: Value = server
        .admin(Method::POST, "/tenants/shaky/restart")
        .send()
        .await
        .expect("restart")
        .json()
        .await
        .expect("json");
    assert_eq!(restarted["state"], "active");
    assert_eq!(face_status(&server, "shaky").await, StatusCode::OK);
    assert_eq!(server.members("shaky").await.len(), 1);
}

#[tokio::test]
async fn a_failed_fsync_is_refused_never_retried_and_the_tenant_reloads() {
    let server = TestServer::start().await;
    server.create_tenant("acme", "pro").await;
    server
        .add_member("acme", "Ann", "ann@acme.om")
        .await
        .expect("post");

    inject(&server, "acme", "fail_next_fsync").await;
    let failed = server
        .add_member("acme", "Bob", "bob@acme.om")
        .await
        .expect("post");
    assert_eq!(
        error_code(failed).await,
        (StatusCode::SERVICE_UNAVAILABLE, "storage_failure".into())
    );

    let view = eventually("reload", Duration::from_secs(10), || async {
        let view = server.inspect("acme").await;
        (view["restarts"] == 1 && view["state"] == "active").then_some(view)
    })
    .await;
    assert!(
        view["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("fsync")),
        "{view}"
    );
    let members = server.members("acme").await;
    let names: Vec<&str> = members.iter().filter_map(|m| m["name"].as_str()).collect();
    assert_eq!(names, ["Ann"], "the refused write is not there");

    // The same write goes through once the tenant has reloaded.
    let retried = server
        .add_member("acme", "Bob", "bob@acme.om")
        .await
        .expect("post");
    assert_eq!(retried.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn the_audit_child_is_restarted_and_misses_nothing() {
    let server = TestServer::start().await;
    server.create_tenant("acme", "pro").await;
    for i in 0..3 {
        server
            .add_member("acme", "M", &format!("m{i}@acme.om"))
            .await
            .expect("post");
    }
    inject(&server, "acme", "panic_audit").await;
    for i in 3..6 {
        let response = server
            .add_member("acme", "M", &format!("m{i}@acme.om"))
            .await
            .expect("post");
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let dir = server.tenant_dir("acme");
    eventually("six members audited", Duration::from_secs(10), || async {
        let created = audit_lines(&dir)
            .iter()
            .filter(|l| l["action"] == "member.create")
            .count();
        (created == 6).then_some(())
    })
    .await;
    verify_file(&dir.join("audit.jsonl")).expect("chain intact");
    assert_eq!(server.inspect("acme").await["state"], "active");
}

#[tokio::test]
async fn a_busy_tenant_sheds_load_and_a_slow_one_times_out_cleanly() {
    let server = TestServer::start_env(&[
        ("MAJLIS_MAX_INFLIGHT_PER_TENANT", "2"),
        ("MAJLIS_CALL_TIMEOUT_MS", "500"),
    ])
    .await;
    server.create_tenant("slow", "pro").await;
    server.create_tenant("quick", "pro").await;
    inject(&server, "slow", "stall").await;

    let requests = (0..6).map(|_| server.tenant("slow", Method::GET, "/api/tenant").send());
    let answers = futures_join_all(requests).await;
    let mut busy = 0;
    let mut timed_out = 0;
    for response in answers {
        let response = response.expect("answered, never hung");
        assert!(response.headers().contains_key("retry-after"));
        match error_code(response).await {
            (StatusCode::SERVICE_UNAVAILABLE, code) if code == "tenant_busy" => busy += 1,
            (StatusCode::SERVICE_UNAVAILABLE, code) if code == "timeout" => timed_out += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(
        (busy, timed_out),
        (4, 2),
        "two admitted and timed out, the rest shed"
    );
    assert_eq!(
        face_status(&server, "quick").await,
        StatusCode::OK,
        "other tenants unaffected"
    );
    eventually(
        "slow tenant answers again",
        Duration::from_secs(10),
        || async { (face_status(&server, "slow").await == StatusCode::OK).then_some(()) },
    )
    .await;
}

/// Runs the futures concurrently and collects their outputs in order.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}
