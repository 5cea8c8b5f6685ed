//! Access over HTTP against the real binary: revocation, tenant isolation of sessions and keys,
//! the permission walk over every route, plan gates, API keys, operator reads, roles, and the
//! audit API with its CSV and offline verifier.

#![cfg(feature = "fault-injection")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::auth::*;
use common::{TestServer, audit_lines, command, error_code, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Requests queued or running in a tenant, as the manager counts them (it answers even while the
/// tenant is busy).
async fn inflight(server: &TestServer, slug: &str) -> u64 {
    let list: Value = server
        .admin(Method::GET, "/tenants")
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    list.as_array()
        .and_then(|all| all.iter().find(|t| t["slug"] == slug))
        .and_then(|t| t["inflight"].as_u64())
        .unwrap_or(0)
}

#[tokio::test]
async fn role_change_disable_and_revoke_end_sessions_even_for_requests_in_flight() {
    let server = TestServer::start_env(&[FAST, ("MAJLIS_CALL_TIMEOUT_MS", "30000")]).await;
    server.create_tenant("acme", "pro").await;
    add(&server, "acme", "Amal", "amal@acme.om", "admin").await;
    let bilal = add(&server, "acme", "Bilal", "bilal@acme.om", "member").await;
    let admin = sign_in(&server, "acme", "amal@acme.om").await;
    let member = sign_in(&server, "acme", "bilal@acme.om").await;
    let server = Arc::new(server);

    // The tenant is held busy; the role change and the member's request queue up in that order.
    let stall = server
        .admin(Method::POST, "/tenants/acme/fault")
        .json(&json!({"fault": "stall_long"}))
        .send()
        .await
        .expect("stall");
    assert_eq!(stall.status(), StatusCode::ACCEPTED);
    let change = {
        let (server, admin, bilal) = (Arc::clone(&server), admin.clone(), bilal.clone());
        tokio::spawn(async move {
            server
                .tenant("acme", Method::PATCH, &format!("/api/members/{bilal}"))
                .header("cookie", admin)
                .json(&json!({"role": "observer"}))
                .send()
                .await
                .expect("patch")
                .status()
        })
    };
    eventually("the change queued", Duration::from_secs(5), || async {
        (inflight(&server, "acme").await >= 1).then_some(())
    })
    .await;
    let in_flight = {
        let (server, member) = (Arc::clone(&server), member.clone());
        tokio::spawn(async move { me(&server, "acme", &member).await })
    };
    eventually(
        "the member's request queued behind it",
        Duration::from_secs(5),
        || async { (inflight(&server, "acme").await >= 2).then_some(()) },
    )
    .await;
    assert_eq!(change.await.expect("task"), StatusCode::OK);
    assert_eq!(
        in_flight.await.expect("task"),
        StatusCode::UNAUTHORIZED,
        "the request in flight is refused"
    );
    assert_eq!(me(&server, "acme", &member).await, StatusCode::UNAUTHORIZED);

    let member = sign_in(&server, "acme", "bilal@acme.om").await;
    let revoke = server
        .tenant(
            "acme",
            Method::POST,
            &format!("/api/members/{bilal}/sessions/revoke"),
        )
        .header("cookie", &admin)
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoke.status(), StatusCode::OK);
    assert_eq!(me(&server, "acme", &member).await, StatusCode::UNAUTHORIZED);

    let member = sign_in(&server, "acme", "bilal@acme.om").await;
    let disable = server
        .tenant(
            "acme",
            Method::POST,
            &format!("/api/members/{bilal}/disable"),
        )
        .header("cookie", &admin)
        .send()
        .await
        .expect("disable");
    assert_eq!(disable.status(), StatusCode::OK);
    assert_eq!(me(&server, "acme", &member).await, StatusCode::UNAUTHORIZED);
    let response = request_code(&server, "acme", "bilal@acme.om", "email").await;
    assert_eq!(
        response.status(),
        StatusCode::ACCEPTED,
        "no hint that the member is disabled"
    );
    let flow = response.json::<Value>().await.expect("json")["flow"]
        .as_str()
        .expect("flow")
        .to_owned();
    assert_eq!(
        verify(&server, "acme", &flow, "123456").await.status(),
        StatusCode::UNAUTHORIZED,
        "disabled members cannot sign in"
    );
    assert_eq!(me(&server, "acme", &admin).await, StatusCode::OK);
}

#[tokio::test]
async fn a_session_or_key_of_one_tenant_is_worthless_on_another() {
    let server = TestServer::start_env(&[FAST]).await;
    server.create_tenant("alpha", "pro").await;
    server.create_tenant("bravo", "pro").await;
    add(&server, "alpha", "Amal", "amal@acme.om", "admin").await;
    add(&server, "bravo", "Amal", "amal@acme.om", "admin").await;
    let cookie = sign_in(&server, "alpha", "amal@acme.om").await;
    assert_eq!(
        me(&server, "bravo", &cookie).await,
        StatusCode::UNAUTHORIZED
    );
    let key: Value = server
        .tenant("alpha", Method::POST, "/api/keys")
        .header("cookie", &cookie)
        .json(&json!({"name": "sync", "scope": "admin"}))
        .send()
        .await
        .expect("key")
        .json()
        .await
        .expect("json");
    let secret = key["secret"].as_str().expect("secret");
    let on_alpha = server
        .tenant("alpha", Method::GET, "/api/members")
        .bearer_auth(secret)
        .send()
        .await
        .expect("get");
    assert_eq!(on_alpha.status(), StatusCode::OK);
    let on_bravo = server
        .tenant("bravo", Method::GET, "/api/members")
        .bearer_auth(secret)
        .send()
        .await
        .expect("get");
    assert_eq!(on_bravo.status(), StatusCode::UNAUTHORIZED);
}

/// A well-formed body for each mutating route, so that the walk tests permissions, not parsing.
fn sample_body(method: &Method, path: &str) -> Option<Value> {
    match (method.as_str(), path) {
        ("POST", "/api/members") => {
            Some(json!({"name": "New", "email": "new@acme.om", "role": "member"}))
        }
        ("PATCH", "/api/members/{id}") => Some(json!({"name": "Renamed"})),
        ("PUT", "/api/roles") => Some(json!({"admin": {"roles": ["read", "update"]}})),
        ("PUT", "/api/features") => Some(json!({"modules": {"calendar": true}})),
        ("POST", "/api/keys") => Some(json!({"name": "k", "scope": "read"})),
        ("POST", "/api/auth/otp/request") => Some(json!({"identity": "x@y.om"})),
        ("POST", "/api/auth/otp/verify") => Some(json!({"flow": "0".repeat(32), "code": "000000"})),
        ("POST", "/api/auth/magic/request") => Some(json!({"email": "x@y.om"})),
        ("POST", "/api/boards") => Some(json!({"name": "Audit Committee"})),
        ("PATCH", "/api/boards/{id}") => Some(json!({"name": "Renamed"})),
        ("PUT", "/api/boards/{id}/members/{member_id}") => Some(json!({"position": "member"})),
        ("POST", "/api/meetings") => {
            Some(json!({"board_id": "b_00000000000000000000", "title": "Q1",
            "starts_at": "2027-01-10T10:00:00+04:00", "ends_at": "2027-01-10T12:00:00+04:00"}))
        }
        ("PATCH", "/api/meetings/{id}") => Some(json!({"title": "Renamed"})),
        ("POST", "/api/meetings/{id}/agenda") => Some(json!({"title": "Item"})),
        ("PATCH", "/api/meetings/{id}/agenda/{item_id}") => Some(json!({"title": "Item"})),
        ("POST", "/api/meetings/{id}/agenda/reorder") => Some(json!({"order": []})),
        ("PUT", "/api/meetings/{id}/rsvp") => Some(json!({"response": "yes"})),
        ("PUT", "/api/meetings/{id}/attendance/{member_id}") => Some(json!({"status": "present"})),
        ("POST", "/api/meetings/{id}/actions") => {
            Some(json!({"title": "Do", "owner_id": "m_00000000000000000000"}))
        }
        ("PATCH", "/api/actions/{id}") => Some(json!({"status": "done"})),
        ("PATCH", "/api/meetings/{id}/minutes") => Some(json!({"text": "Minutes"})),
        ("GET", _) | ("DELETE", _) | ("POST", _) => None,
        (method, path) => panic!("no sample body for {method} {path}: add one"),
    }
}

/// A well-formed id for each kind of path segment.
fn sample_path(path: &str, member: &str) -> String {
    let id = if path.contains("/keys/") {
        "k_00000000000000000000"
    } else if path.contains("/boards/") {
        "b_00000000000000000000"
    } else if path.contains("/meetings/") {
        "g_00000000000000000000"
    } else if path.contains("/actions/") {
        "t_00000000000000000000"
    } else if path.contains("/documents/") {
        "d_00000000000000000000"
    } else {
        member
    };
    path.replace("{id}", id)
        .replace("{member_id}", member)
        .replace("{item_id}", "a_00000000000000000000")
}

#[tokio::test]
async fn every_route_refuses_callers_without_a_session_or_the_permission() {
    let server = TestServer::start_env(&[FAST]).await;
    server.create_tenant("acme", "pro").await;
    let target = add(&server, "acme", "Amal", "amal@acme.om", "admin").await;
    add(&server, "acme", "Omar", "omar@acme.om", "observer").await;
    let observer = sign_in(&server, "acme", "omar@acme.om").await;

    let routes = majlis_http::tenant_route_specs();
    assert!(routes.len() >= 20, "the walk sees every tenant route");
    for route in routes.iter().filter(|r| !r.public) {
        let path = sample_path(route.path, &target);
        let build = || {
            let request = server.tenant("acme", route.method.clone(), &path);
            // Uploads are multipart: a small well-formed file.
            if route.path.ends_with("/documents") || route.path.ends_with("/versions") {
                let part = reqwest::multipart::Part::bytes(b"%PDF-1.7".to_vec()).file_name("a.pdf");
                return request.multipart(reqwest::multipart::Form::new().part("file", part));
            }
            match sample_body(&route.method, route.path) {
                Some(body) => request.json(&body),
                None => request,
            }
        };
        let anonymous = build().send().await.expect("send");
        assert_eq!(
            anonymous.status(),
            StatusCode::UNAUTHORIZED,
            "{} {} without a session",
            route.method,
            route.path
        );

        let mutating = route.method != Method::GET && !route.self_service;
        if mutating {
            let response = build()
                .header("cookie", &observer)
                .send()
                .await
                .expect("send");
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{} {} as an observer",
                route.method,
                route.path
            );
        }
    }
    assert_eq!(
        me(&server, "acme", &observer).await,
        StatusCode::OK,
        "the walk changed nothing it may not"
    );
}

#[tokio::test]
async fn the_plan_gate_holds_against_the_api_and_a_hand_edited_file() {
    let mut server = TestServer::start_env(&[FAST]).await;
    let temp = server.take_temp();
    server.create_tenant("small", "free").await;
    add(&server, "small", "Amal", "amal@acme.om", "admin").await;
    let admin = sign_in(&server, "small", "amal@acme.om").await;
    let put = server
        .tenant("small", Method::PUT, "/api/features")
        .header("cookie", &admin)
        .json(&json!({"modules": {"api_keys": true}}))
        .send()
        .await
        .expect("put");
    let (status, code) = error_code(put).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "plan_required")
    );

    let dir = server.tenant_dir("small");
    let data = server.stop().await;
    let path = dir.join("features.json");
    let text = std::fs::read_to_string(&path).expect("features");
    let edited = text.replace("\"api_keys\": false", "\"api_keys\": true");
    assert_ne!(edited, text);
    std::fs::write(&path, edited).expect("edit by hand");

    let server = TestServer::start_in(&data, &[FAST]).await;
    let admin = sign_in(&server, "small", "amal@acme.om").await;
    let keys = server
        .tenant("small", Method::POST, "/api/keys")
        .header("cookie", &admin)
        .json(&json!({"name": "k", "scope": "read"}))
        .send()
        .await
        .expect("post");
    assert_eq!(
        error_code(keys).await,
        (StatusCode::FORBIDDEN, "plan_required".into()),
        "a module above the plan stays off"
    );
    let features: Value = server
        .tenant("small", Method::GET, "/api/features")
        .header("cookie", &admin)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(features["modules"]["api_keys"], false);
    drop(temp);
}

#[tokio::test]
async fn api_keys_are_scoped_rotated_and_revoked() {
    let server = TestServer::start_env(&[FAST]).await;
    server.create_tenant("acme", "pro").await;
    add(&server, "acme", "Amal", "amal@acme.om", "admin").await;
    let admin = sign_in(&server, "acme", "amal@acme.om").await;
    let create = |scope: &'static str| {
        server
            .tenant("acme", Method::POST, "/api/keys")
            .header("cookie", &admin)
            .json(&json!({"name": scope, "scope": scope}))
            .send()
    };
    let read: Value = create("read")
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let secret = read["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("mjk_") && secret.len() >= 4 + 22 + 1 + 32);
    let list = server
        .tenant("acme", Method::GET, "/api/members")
        .bearer_auth(&secret)
        .send()
        .await
        .expect("get");
    assert_eq!(list.status(), StatusCode::OK);
    let write = server
        .tenant("acme", Method::POST, "/api/members")
        .bearer_auth(&secret)
        .json(&json!({"name": "X", "email": "x@acme.om", "role": "member"}))
        .send()
        .await
        .expect("post");
    assert_eq!(
        write.status(),
        StatusCode::FORBIDDEN,
        "a read key cannot write"
    );

    let keys: Value = server
        .tenant("acme", Method::GET, "/api/keys")
        .header("cookie", &admin)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(keys[0]["last_used"].is_string());
    assert!(keys[0].get("secret").is_none() && !keys.to_string().contains(&secret));

    let id = read["id"].as_str().expect("id");
    let rotated: Value = server
        .tenant("acme", Method::POST, &format!("/api/keys/{id}/rotate"))
        .header("cookie", &admin)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let new_secret = rotated["secret"].as_str().expect("secret");
    assert_eq!(
        server
            .tenant("acme", Method::GET, "/api/me")
            .bearer_auth(&secret)
            .send()
            .await
            .expect("get")
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server
            .tenant("acme", Method::GET, "/api/me")
            .bearer_auth(new_secret)
            .send()
            .await
            .expect("get")
            .status(),
        StatusCode::OK
    );
    let deleted = server
        .tenant("acme", Method::DELETE, &format!("/api/keys/{id}"))
        .header("cookie", &admin)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        server
            .tenant("acme", Method::GET, "/api/me")
            .bearer_auth(new_secret)
            .send()
            .await
            .expect("get")
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_operator_reads_on_the_record_and_cannot_write() {
    let server = TestServer::start_env(&[FAST]).await;
    server.create_tenant("acme", "pro").await;
    add(&server, "acme", "Amal", "amal@acme.om", "admin").await;
    let read = server
        .tenant("acme", Method::GET, "/api/members")
        .bearer_auth(common::TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(read.status(), StatusCode::OK);
    let write = server
        .tenant("acme", Method::POST, "/api/members")
        .bearer_auth(common::TOKEN)
        .json(&json!({"name": "X", "email": "x@acme.om", "role": "member"}))
        .send()
        .await
        .expect("post");
    assert_eq!(write.status(), StatusCode::FORBIDDEN);
    let dir = server.tenant_dir("acme");
    eventually("operator read audited", Duration::from_secs(10), || async {
        audit_lines(&dir)
            .iter()
            .any(|l| {
                l["action"] == "operator.read"
                    && l["actor"] == "operator"
                    && l["module"] == "members"
            })
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn roles_are_validated_and_superadmin_is_not_for_cloud_tenants() {
    let server = TestServer::start_env(&[FAST]).await;
    server.create_tenant("acme", "pro").await;
    add(&server, "acme", "Amal", "amal@acme.om", "admin").await;
    let admin = sign_in(&server, "acme", "amal@acme.om").await;
    let put = |body: Value| {
        server
            .tenant("acme", Method::PUT, "/api/roles")
            .header("cookie", &admin)
            .json(&body)
            .send()
    };
    let full = json!(["read", "create", "update", "delete"]);
    for (body, expected) in [
        (
            json!({"admin": {"roles": full, "nonsense": ["read"]}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"admin": {"roles": ["fly"]}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"admin": {"roles": full}, "superadmin": {"roles": full}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"admin": {"roles": ["read"]}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"admin": {"roles": full, "members": full}, "clerk": {"members": ["read"]}}),
            StatusCode::OK,
        ),
    ] {
        assert_eq!(
            put(body.clone()).await.expect("put").status(),
            expected,
            "{body}"
        );
    }
    let member = server
        .admin(Method::POST, "/tenants/acme/members")
        .json(&json!({"name": "S", "email": "s@acme.om", "role": "superadmin"}))
        .send()
        .await
        .expect("post");
    assert_eq!(member.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_audit_api_pages_filters_and_exports_safe_csv() {
    let server = TestServer::start_env(&[FAST]).await;
    server.create_tenant("acme", "pro").await;
    server.create_tenant("small", "free").await;
    add(&server, "acme", "Amal", "amal@acme.om", "admin").await;
    add(&server, "small", "Amal", "amal@acme.om", "admin").await;
    add(
        &server,
        "acme",
        "=HYPERLINK(\"http://evil\")",
        "evil@acme.om",
        "member",
    )
    .await;
    let admin = sign_in(&server, "acme", "amal@acme.om").await;

    let page: Value = server
        .tenant("acme", Method::GET, "/api/audit?module=members&limit=1")
        .header("cookie", &admin)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(page["lines"].as_array().expect("lines").len(), 1);
    assert_eq!(page["lines"][0]["module"], "members");
    let next = page["next"].as_u64().expect("a next page");
    let second: Value = server
        .tenant(
            "acme",
            Method::GET,
            &format!("/api/audit?module=members&after={next}"),
        )
        .header("cookie", &admin)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(
        second["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .all(|l| l["seq"].as_u64() > Some(next))
    );
    let bad = server
        .tenant("acme", Method::GET, "/api/audit?from=yesterday")
        .header("cookie", &admin)
        .send()
        .await
        .expect("get");
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let csv = server
        .tenant("acme", Method::GET, "/api/audit.csv")
        .header("cookie", &admin)
        .send()
        .await
        .expect("get");
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/csv")
    );
    let text = csv.text().await.expect("text");
    assert!(text.starts_with("seq,at,actor,ip,action,module,target,diff,prev_hash,hash"));
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut rows = 0;
    for record in reader.records() {
        let record = record.expect("a well-formed CSV row");
        assert_eq!(record.len(), 10);
        for cell in record.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "unescaped formula cell {cell:?}"
            );
        }
        rows += 1;
    }
    assert!(rows >= 4);
    assert!(
        text.contains("HYPERLINK"),
        "the hostile name is exported as data"
    );

    let small = sign_in(&server, "small", "amal@acme.om").await;
    let refused = server
        .tenant("small", Method::GET, "/api/audit.csv")
        .header("cookie", &small)
        .send()
        .await
        .expect("get");
    let status = refused.status();
    let body: Value = refused.json().await.expect("json");
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["message"].as_str().is_some_and(|m| m.contains("pro")),
        "{body}"
    );
}

#[tokio::test]
async fn the_offline_verifier_names_the_first_edited_line() {
    let mut server = TestServer::start_env(&[FAST]).await;
    let temp = server.take_temp();
    server.create_tenant("acme", "pro").await;
    for n in 0..4 {
        add(
            &server,
            "acme",
            &format!("M{n}"),
            &format!("m{n}@acme.om"),
            "member",
        )
        .await;
    }
    let dir = server.tenant_dir("acme");
    let data = server.stop().await;
    let ok = command(&data)
        .args(["audit", "verify", "acme"])
        .output()
        .await
        .expect("verify");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let path = dir.join("audit.jsonl");
    let text = std::fs::read_to_string(&path).expect("trail");
    std::fs::write(&path, text.replacen("M2", "M9", 1)).expect("edit");
    let broken = command(&data)
        .args(["audit", "verify", "acme"])
        .output()
        .await
        .expect("verify");
    assert!(!broken.status.success());
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("line 4"), "{stderr}");
    drop(temp);
}
