//! The server process as the system sees it: the allocator settings it runs with.

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
