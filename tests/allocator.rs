//! The server process as the system sees it: the allocator settings and the scheduling policy
//! it runs with.

mod common;

use common::TestServer;

#[tokio::test]
async fn the_server_runs_with_two_allocator_arenas_unless_told_otherwise() {
    let server = TestServer::start().await;
    assert!(
        server.environ().iter().any(|v| v == "MALLOC_ARENA_MAX=2"),
        "the server re-executes itself with MALLOC_ARENA_MAX=2"
    );
    let own = TestServer::start_env(&[("MALLOC_ARENA_MAX", "4")]).await;
    assert!(own.environ().iter().any(|v| v == "MALLOC_ARENA_MAX=4"));
    assert!(
        own.get("/api/almajlis/health.json")
            .send()
            .await
            .expect("health")
            .status()
            .is_success()
    );
}

#[tokio::test]
async fn every_thread_of_the_server_runs_under_sched_batch_unless_told_otherwise() {
    const SCHED_OTHER: u32 = 0;
    const SCHED_BATCH: u32 = 3;
    let server = TestServer::start().await;
    let policies = server.thread_policies();
    assert!(
        policies.len() >= 2,
        "the runtime's threads are there: {policies:?}"
    );
    assert!(
        policies.iter().all(|p| *p == SCHED_BATCH),
        "every thread is SCHED_BATCH: {policies:?}"
    );
    let normal = TestServer::start_env(&[("MAJLIS_SCHED_POLICY", "normal")]).await;
    let policies = normal.thread_policies();
    assert!(
        !policies.is_empty() && policies.iter().all(|p| *p == SCHED_OTHER),
        "with sched_policy = normal every thread keeps the default: {policies:?}"
    );
}

#[tokio::test]
async fn an_unknown_scheduling_policy_stops_the_server_before_it_starts() {
    let temp = tempfile::tempdir().expect("tempdir");
    let output = common::command(&temp.path().join("data"))
        .arg("serve")
        .env("MAJLIS_BIND", "127.0.0.1:0")
        .env("MAJLIS_SCHED_POLICY", "fifo")
        .output()
        .await
        .expect("run majlis");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("batch") && stderr.contains("normal"),
        "the error names the accepted values: {stderr}"
    );
}
