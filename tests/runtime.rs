//! The runtime core over HTTP against the real binary: discovery, tenant administration, host
//! resolution, passivation, on-prem mode (recovery from damaged files: `tests/recovery.rs`).

mod common;

use std::time::Duration;

use common::{TestServer, audit_lines, command, error_code, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn discovery_documents_are_public_cors_open_and_cacheable() {
    let server = TestServer::start().await;
    for path in ["/api/almajlis/sectors.json", "/api/almajlis/modules.json"] {
        let response = server.get(path).send().await.expect("get");
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(headers["access-control-allow-origin"], "*");
        assert!(
            headers["cache-control"]
                .to_str()
                .expect("ascii")
                .contains("max-age")
        );
        let etag = headers["etag"].clone();
        let again = server
            .get(path)
            .header("if-none-match", etag)
            .send()
            .await
            .expect("get");
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
    let modules: Value = server.get_json("/api/almajlis/modules.json").await;
    let api_keys = modules["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .find(|m| m["id"] == "api_keys")
        .expect("api_keys module");
    assert_eq!(api_keys["requires_plan"], "pro");
    let sectors: Value = server.get_json("/api/almajlis/sectors.json").await;
    assert!(
        sectors["sectors"][0]["sub_sectors"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    );

    let health: Value = server.get_json("/api/almajlis/health.json").await;
    assert_eq!(health["status"], "ok");
    let openapi: Value = server
        .get("/api/openapi.json")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    for path in [
        "/api/meetings/{id}/agenda",
        "/admin/api/tenants",
        "/api/auth/otp/request",
    ] {
        assert!(
            openapi["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert_eq!(health["storage_writable"], true);
    assert_eq!(health["tenants_active"], 0);
    assert!(health["version"].is_string() && health["uptime_s"].is_u64());
}

#[tokio::test]
async fn tenant_creation_refuses_bad_input_with_clear_errors() {
    let server = TestServer::start().await;
    let create = |body: Value| server.admin(Method::POST, "/tenants").json(&body).send();

    let long = "a".repeat(64);
    for slug in [
        "..",
        "../etc",
        "a/b",
        "Acme",
        "acmé",
        "-acme",
        "a",
        long.as_str(),
    ] {
        let body = json!({"slug": slug, "name": "X", "plan": "free", "sector": "corporate"});
        let response = create(body).await.expect("post");
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{slug:?}"
        );
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["field"], "slug", "{slug:?}");
    }
    let bad = [
        (
            json!({"slug": "acme", "name": "X", "plan": "gold", "sector": "corporate"}),
            "plan",
        ),
        (
            json!({"slug": "acme", "name": "X", "plan": "free", "sector": "mining"}),
            "sector",
        ),
        (
            json!({"slug": "acme", "name": "X", "plan": "free", "sector": "sports", "sub_sector": "bank"}),
            "sub_sector",
        ),
        (
            json!({"slug": "acme", "name": "", "plan": "free", "sector": "corporate"}),
            "name",
        ),
        (
            json!({"slug": "acme", "name": "X", "plan": "free", "sector": "corporate", "timezone": "Mars/Base"}),
            "timezone",
        ),
        (
            json!({"slug": "acme", "plan": "free", "sector": "corporate"}),
            "name",
        ),
        (
            json!({"slug": "acme", "name": "X", "plan": "free", "sector": "corporate", "colour": "red"}),
            "colour",
        ),
        (
            json!({"slug": "acme", "name": "X", "plan": "free", "sector": "corporate", "hosts": ["a b"]}),
            "hosts[0]",
        ),
    ];
    for (body, field) in bad {
        let response = create(body.clone()).await.expect("post");
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        let answer: Value = response.json().await.expect("json");
        assert_eq!(answer["field"], field, "{body}");
    }
    let malformed = server
        .admin(Method::POST, "/tenants")
        .header("content-type", "application/json")
        .body("{\"slug\": \"acme\",")
        .send()
        .await
        .expect("post");
    assert_eq!(
        error_code(malformed).await,
        (StatusCode::BAD_REQUEST, "malformed_json".into())
    );
    let oversize = server
        .admin(Method::POST, "/tenants")
        .header("content-type", "application/json")
        .body(format!("{{\"name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024)))
        .send()
        .await
        .expect("post");
    assert_eq!(
        error_code(oversize).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into())
    );

    // Nothing of the refused requests reached the disk.
    let entries = std::fs::read_dir(server.data_dir.join("tenants"))
        .expect("tenants dir")
        .count();
    assert_eq!(entries, 0);

    server.create_tenant("acme", "free").await;
    let duplicate =
        create(json!({"slug": "acme", "name": "X", "plan": "free", "sector": "corporate"}))
            .await
            .expect("post");
    assert_eq!(
        error_code(duplicate).await,
        (StatusCode::CONFLICT, "conflict".into())
    );
}

#[tokio::test]
async fn the_operator_api_needs_the_token_and_is_absent_without_one() {
    let server = TestServer::start().await;
    let anonymous = server.get("/admin/api/tenants").send().await.expect("get");
    assert_eq!(
        error_code(anonymous).await,
        (StatusCode::UNAUTHORIZED, "unauthorized".into())
    );
    let wrong = server
        .get("/admin/api/tenants")
        .bearer_auth("not-the-token")
        .send()
        .await
        .expect("get");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let without_token = TestServer::start_env(&[("MAJLIS_OPERATOR_TOKEN", "")]).await;
    let response = without_token
        .admin(Method::GET, "/tenants")
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn hosts_resolve_to_tenants_and_nothing_else() {
    let server = TestServer::start().await;
    let response = server
        .admin(Method::POST, "/tenants")
        .json(&json!({"slug": "ofc", "name": "Fencing Federation", "plan": "pro",
                      "sector": "sports", "sub_sector": "federation", "hosts": ["Board.Fencing.OM"]}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::CREATED);

    let face: Value = server
        .tenant("ofc", Method::GET, "/api/tenant")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        face,
        json!({"slug": "ofc", "name": "Fencing Federation", "sector": "sports",
                            "sub_sector": "federation", "plan": "pro"})
    );
    let by_host = server
        .get("/api/tenant")
        .header("host", "board.fencing.om.")
        .send()
        .await
        .expect("get");
    assert_eq!(by_host.status(), StatusCode::OK);

    for host in [
        "nobody.localhost",
        "evil.example",
        "ofc.localhost.evil.example",
        "..",
        "localhost",
    ] {
        let response = server
            .get("/api/tenant")
            .header("host", host)
            .send()
            .await
            .expect("get");
        assert_eq!(
            error_code(response).await,
            (StatusCode::NOT_FOUND, "unknown_tenant".into()),
            "{host}"
        );
    }
    // X-Forwarded-Host is not trusted unless configured.
    let forwarded = server
        .get("/api/tenant")
        .header("host", "nobody.localhost")
        .header("x-forwarded-host", "ofc.localhost")
        .send()
        .await
        .expect("get");
    assert_eq!(forwarded.status(), StatusCode::NOT_FOUND);

    let unknown_route = server.get("/no/such/route").send().await.expect("get");
    assert_eq!(
        error_code(unknown_route).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
}

#[tokio::test]
async fn idle_tenants_passivate_and_come_back_with_their_data() {
    let server = TestServer::start_env(&[("MAJLIS_IDLE_SECS", "1")]).await;
    server.create_tenant("acme", "pro").await;
    let added: Value = server
        .add_member("acme", "Ann", "ann@acme.om")
        .await
        .expect("post")
        .json()
        .await
        .expect("json");

    eventually("passivation", Duration::from_secs(10), || async {
        (server.inspect("acme").await["state"] == "passive").then_some(())
    })
    .await;
    // Passivation wrote a snapshot and emptied the journal.
    let journal = std::fs::read(server.tenant_dir("acme").join("journal.jsonl")).expect("journal");
    assert!(journal.is_empty());

    let members = server.members("acme").await;
    assert_eq!(members, vec![added]);
    assert_eq!(server.inspect("acme").await["state"], "active");
}

#[tokio::test]
async fn restart_disable_and_enable_are_audited_operator_actions() {
    let server = TestServer::start().await;
    server.create_tenant("acme", "pro").await;
    server
        .add_member("acme", "Ann", "ann@acme.om")
        .await
        .expect("post");

    let restarted: Value = server
        .admin(Method::POST, "/tenants/acme/restart")
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(restarted["state"], "active");
    assert_eq!(server.members("acme").await.len(), 1);

    let disabled = server
        .admin(Method::POST, "/tenants/acme/disable")
        .send()
        .await
        .expect("post");
    assert_eq!(disabled.status(), StatusCode::OK);
    let face = server
        .tenant("acme", Method::GET, "/api/tenant")
        .send()
        .await
        .expect("get");
    assert_eq!(
        error_code(face).await,
        (StatusCode::FORBIDDEN, "tenant_disabled".into())
    );
    assert_eq!(server.inspect("acme").await["state"], "disabled");
    let again = server
        .admin(Method::POST, "/tenants/acme/disable")
        .send()
        .await
        .expect("post");
    assert_eq!(again.status(), StatusCode::CONFLICT);

    let enabled = server
        .admin(Method::POST, "/tenants/acme/enable")
        .send()
        .await
        .expect("post");
    assert_eq!(enabled.status(), StatusCode::OK);
    let face = server
        .tenant("acme", Method::GET, "/api/tenant")
        .send()
        .await
        .expect("get");
    assert_eq!(face.status(), StatusCode::OK);

    let dir = server.tenant_dir("acme");
    let actions = eventually("audit lines", Duration::from_secs(10), || async {
        let lines = audit_lines(&dir);
        (lines.len() >= 5).then_some(lines)
    })
    .await;
    let names: Vec<&str> = actions
        .iter()
        .map(|l| l["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "tenant.create",
            "member.create",
            "operator.read",
            "tenant.disable",
            "tenant.enable"
        ]
    );
    assert!(
        actions
            .iter()
            .all(|l| l["actor"] == "operator" && l["ip"] == "127.0.0.1")
    );
    assert_eq!(
        actions[3]["diff"],
        json!({"status": {"from": "enabled", "to": "disabled"}})
    );
    // The disabled state survives a restart of the server.
    let bad = server
        .admin(Method::POST, "/tenants/acme/disable")
        .send()
        .await
        .expect("post");
    assert_eq!(bad.status(), StatusCode::OK);
    let mut server = server;
    let temp = server.take_temp();
    let data = server.stop().await;
    let server = TestServer::start_in(&data, &[]).await;
    assert_eq!(server.inspect("acme").await["state"], "disabled");
    drop(temp);
}

#[tokio::test]
async fn on_prem_mode_pins_one_tenant_whatever_the_host() {
    let temp = tempfile::tempdir().expect("tempdir");
    let data = temp.path().join("data");
    let created = command(&data)
        .args([
            "tenant",
            "create",
            "--slug",
            "acme",
            "--name",
            "Acme Holding",
            "--plan",
            "enterprise",
            "--sector",
            "family_office",
        ])
        .output()
        .await
        .expect("run tenant create");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    let missing_pin = command(&data)
        .arg("serve")
        .env("MAJLIS_MODE", "onprem")
        .output()
        .await
        .expect("run serve");
    assert!(!missing_pin.status.success());
    assert!(String::from_utf8_lossy(&missing_pin.stderr).contains("MAJLIS_TENANT"));

    let server = TestServer::start_in(
        &data,
        &[
            ("MAJLIS_MODE", "onprem"),
            ("MAJLIS_TENANT", "acme"),
            ("MAJLIS_IDLE_SECS", "1"),
        ],
    )
    .await;
    for host in ["portal.acme.internal", "10.0.0.5", "whatever.localhost"] {
        let face: Value = server
            .get("/api/tenant")
            .header("host", host)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(face["slug"], "acme", "{host}");
    }
    let create = server
        .admin(Method::POST, "/tenants")
        .json(&json!({"slug": "other", "name": "X", "plan": "free", "sector": "corporate"}))
        .send()
        .await
        .expect("post");
    assert_eq!(
        create.status(),
        StatusCode::NOT_FOUND,
        "tenant creation is cloud-only"
    );

    // Idle for three idle periods and still active: the pinned tenant never passivates.
    let start = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    while start.elapsed() < Duration::from_secs(3) {
        tick.tick().await;
        assert_eq!(server.inspect("acme").await["state"], "active");
    }
}

#[tokio::test]
async fn a_second_server_cannot_open_the_same_data_directory() {
    let server = TestServer::start().await;
    let second = command(&server.data_dir)
        .arg("serve")
        .env("MAJLIS_BIND", "127.0.0.1:0")
        .output()
        .await
        .expect("run");
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("in use"));
}

#[tokio::test]
async fn unknown_settings_are_warned_about_and_bad_ones_refused() {
    let server = TestServer::start_env(&[("MAJLIS_IDEL_SECS", "5")]).await;
    let log = server.data_dir.with_extension("log");
    let text = std::fs::read_to_string(log).expect("log");
    assert!(text.contains("MAJLIS_IDEL_SECS"), "{text}");

    let temp = tempfile::tempdir().expect("tempdir");
    let refused = command(&temp.path().join("data"))
        .arg("serve")
        .env("MAJLIS_MODE", "hybrid")
        .output()
        .await
        .expect("run");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .to_lowercase()
            .contains("mode")
    );
}

#[tokio::test]
async fn member_bootstrap_validates_and_records_operator_reads() {
    let server = TestServer::start().await;
    server.create_tenant("acme", "free").await;
    let admin = server
        .admin(Method::POST, "/tenants/acme/members")
        .json(&json!({"name": "Ann", "email": "Ann@Acme.OM", "phone": "+968 9123 4567", "role": "admin"}))
        .send()
        .await
        .expect("post");
    assert_eq!(admin.status(), StatusCode::CREATED);
    let admin: Value = admin.json().await.expect("json");
    assert_eq!(
        (admin["email"].as_str(), admin["phone"].as_str()),
        (Some("ann@acme.om"), Some("+96891234567"))
    );

    let cases = [
        (
            json!({"name": "B", "email": "not-an-email", "role": "admin"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "B", "phone": "12345", "role": "admin"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "B", "role": "admin"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "B", "email": "b@acme.om", "role": "superadmin"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "B", "email": "ann@acme.om", "role": "member"}),
            StatusCode::CONFLICT,
        ),
    ];
    for (body, status) in cases {
        let response = server
            .admin(Method::POST, "/tenants/acme/members")
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), status, "{body}");
    }
    let unknown = server
        .add_member("nobody", "X", "x@x.om")
        .await
        .expect("post");
    assert_eq!(
        error_code(unknown).await,
        (StatusCode::NOT_FOUND, "unknown_tenant".into())
    );

    assert_eq!(server.members("acme").await.len(), 1);
    let dir = server.tenant_dir("acme");
    let lines = eventually("read audited", Duration::from_secs(10), || async {
        let lines = audit_lines(&dir);
        (lines.len() == 3).then_some(lines)
    })
    .await;
    assert_eq!(lines[2]["action"], "operator.read");
    assert_eq!(lines[2]["actor"], "operator");
}
