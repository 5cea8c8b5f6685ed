//! Signing in over HTTP against the real binary: codes by file mailer, SMTP and WhatsApp with
//! fallback, expiry on the server clock, brute force, rate limits, enumeration, sessions and
//! their timeouts, magic links.

#![cfg(feature = "fault-injection")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::auth::*;
use common::{TestServer, audit_lines, error_code, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn sign_in_with_an_emailed_code_then_sign_out() {
    let server = TestServer::start_env(&[FAST]).await;
    server.create_tenant("acme", "pro").await;
    let id = add(&server, "acme", "Amal", "amal@acme.om", "admin").await;

    let (flow, code) = code_by_mail(&server, "acme", "Amal@Acme.OM").await;
    let response = verify(&server, "acme", &flow, &code).await;
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    for attribute in [
        "__Host-majlis_session=",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
    ] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Domain"));
    let cookie = cookie_of(&response);
    let value = cookie.split_once('=').expect("pair").1;
    assert!(
        value.split('.').next().expect("id").len() >= 32,
        "an id of at least 128 bits"
    );

    let profile: Value = server
        .tenant("acme", Method::GET, "/api/me")
        .header("cookie", &cookie)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(profile["member"]["id"], id.as_str());
    assert_eq!(profile["role"], "admin");
    assert_eq!(profile["tenant"]["slug"], "acme");
    assert!(
        profile["modules"]
            .as_array()
            .expect("modules")
            .contains(&json!("members"))
    );

    // The code works once.
    assert_eq!(
        error_code(verify(&server, "acme", &flow, &code).await).await,
        (StatusCode::UNAUTHORIZED, "invalid_code".into())
    );
    // A second sign-in gets a new session id.
    let second = sign_in(&server, "acme", "amal@acme.om").await;
    assert_ne!(second, cookie);

    let out = server
        .tenant("acme", Method::POST, "/api/auth/logout")
        .header("cookie", &cookie)
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .contains("Max-Age=0")
    );
    assert_eq!(me(&server, "acme", &cookie).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&server, "acme", &second).await, StatusCode::OK);

    // Sign-in attempts are on the record; the code never is.
    let dir = server.tenant_dir("acme");
    let lines = eventually("sign-in audited", Duration::from_secs(10), || async {
        let lines = audit_lines(&dir);
        lines
            .iter()
            .any(|l| l["action"] == "auth.signout")
            .then_some(lines)
    })
    .await;
    let actions: Vec<&str> = lines.iter().filter_map(|l| l["action"].as_str()).collect();
    for expected in [
        "auth.otp.request",
        "auth.signin",
        "auth.verify.fail",
        "auth.signout",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let trail = std::fs::read_to_string(dir.join("audit.jsonl")).expect("trail");
    assert!(
        !trail.contains(&code),
        "the code is never written to the audit trail"
    );
    for line in lines
        .iter()
        .filter(|l| l["action"].as_str().is_some_and(|a| a.starts_with("auth.")))
    {
        assert!(
            !line.to_string().contains("amal@acme.om"),
            "identities are masked in sign-in lines: {line}"
        );
    }
}

/// An SMTP server in this process that keeps every message it receives.
#[derive(Clone, Default)]
struct Sink {
    current: Arc<Mutex<Vec<u8>>>,
    messages: Arc<Mutex<Vec<String>>>,
}

impl mailin_embedded::Handler for Sink {
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.lock().expect("lock").extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> mailin_embedded::Response {
        let message = std::mem::take(&mut *self.current.lock().expect("lock"));
        self.messages
            .lock()
            .expect("lock")
            .push(String::from_utf8_lossy(&message).into_owned());
        mailin_embedded::response::OK
    }
}

#[tokio::test]
async fn codes_travel_through_a_real_smtp_server() {
    let sink = Sink::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut smtp = mailin_embedded::Server::new(sink.clone());
    smtp.with_name("sink.test").with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = smtp.serve();
    });

    let port = port.to_string();
    let server = TestServer::start_env(&[
        FAST,
        ("MAJLIS_SMTP_HOST", "127.0.0.1"),
        ("MAJLIS_SMTP_PORT", &port),
        ("MAJLIS_SMTP_TLS", "none"),
        ("MAJLIS_MAIL_FROM", "Board Portal <portal@acme.om>"),
    ])
    .await;
    server.create_tenant("acme", "pro").await;
    add(&server, "acme", "Amal", "amal@acme.om", "admin").await;
    let response = request_code(&server, "acme", "amal@acme.om", "email").await;
    let flow = response.json::<Value>().await.expect("json")["flow"]
        .as_str()
        .expect("flow")
        .to_owned();
    let message = eventually(
        "mail at the SMTP server",
        Duration::from_secs(10),
        || async { sink.messages.lock().expect("lock").first().cloned() },
    )
    .await;
    assert!(message.contains("To: amal@acme.om"), "{message}");
    assert!(message.contains("portal@acme.om"), "{message}");
    let code = code_in(&message).expect("a code in the message");
    assert_eq!(
        verify(&server, "acme", &flow, &code).await.status(),
        StatusCode::OK
    );
    assert!(
        mail_files(&server, "acme").is_empty(),
        "nothing went to the file mailer"
    );
}

/// A stand-in for the WhatsApp Business Cloud API that records what it is sent.
#[derive(Clone, Default)]
struct FakeWhatsApp {
    seen: Arc<Mutex<Vec<(String, String, Value)>>>,
    /// 200, 500, or 0 for "never answer in time".
    mode: Arc<Mutex<u16>>,
}

async fn start_fake_whatsapp(fake: FakeWhatsApp) -> String {
    use axum::extract::State;
    use axum::http::{HeaderMap, Uri};
    async fn messages(
        State(fake): State<FakeWhatsApp>,
        uri: Uri,
        headers: HeaderMap,
        body: axum::Json<Value>,
    ) -> (axum::http::StatusCode, axum::Json<Value>) {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        fake.seen
            .lock()
            .expect("lock")
            .push((uri.path().to_owned(), auth, body.0));
        let mode = *fake.mode.lock().expect("lock");
        if mode == 0 {
            std::future::pending::<()>().await;
        }
        let status = axum::http::StatusCode::from_u16(mode).unwrap_or(axum::http::StatusCode::OK);
        (
            status,
            axum::Json(json!({"messages": [{"id": "wamid.test"}]})),
        )
    }
    let app = axum::Router::new()
        .route("/{version}/{phone}/messages", axum::routing::post(messages))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn whatsapp_codes_follow_the_cloud_api_and_fall_back_to_email() {
    let fake = FakeWhatsApp::default();
    *fake.mode.lock().expect("lock") = 200;
    let base = start_fake_whatsapp(fake.clone()).await;
    let server = TestServer::start_env(&[
        FAST,
        ("MAJLIS_WHATSAPP_BASE_URL", &base),
        ("MAJLIS_WHATSAPP_PHONE_NUMBER_ID", "1234567890"),
        ("MAJLIS_WHATSAPP_TOKEN", "wa-token"),
        ("MAJLIS_WHATSAPP_TEMPLATE", "sign_in_code"),
        ("MAJLIS_WHATSAPP_TIMEOUT_MS", "300"),
    ])
    .await;
    server.create_tenant("acme", "pro").await;
    let response = server
        .admin(Method::POST, "/tenants/acme/members")
        .json(&json!({"name": "Amal", "email": "amal@acme.om", "phone": "+968 9123 4567", "role": "admin"}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::CREATED);

    let response = request_code(&server, "acme", "+96891234567", "whatsapp").await;
    let flow = response.json::<Value>().await.expect("json")["flow"]
        .as_str()
        .expect("flow")
        .to_owned();
    let (path, auth, body) = eventually("the Cloud API call", Duration::from_secs(10), || async {
        fake.seen.lock().expect("lock").first().cloned()
    })
    .await;
    assert_eq!(path, "/v21.0/1234567890/messages");
    assert_eq!(auth, "Bearer wa-token");
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(body["to"], "96891234567");
    assert_eq!(body["type"], "template");
    assert_eq!(body["template"]["name"], "sign_in_code");
    let code = body["template"]["components"][0]["parameters"][0]["text"]
        .as_str()
        .expect("code")
        .to_owned();
    assert_eq!(
        verify(&server, "acme", &flow, &code).await.status(),
        StatusCode::OK
    );
    assert!(mail_files(&server, "acme").is_empty());

    for mode in [500, 0] {
        *fake.mode.lock().expect("lock") = mode;
        let before = mail_files(&server, "acme").len();
        let response = request_code(&server, "acme", "+96891234567", "whatsapp").await;
        let flow = response.json::<Value>().await.expect("json")["flow"]
            .as_str()
            .expect("flow")
            .to_owned();
        let code = eventually(
            "the code by email instead",
            Duration::from_secs(10),
            || async {
                let files = mail_files(&server, "acme");
                code_in(&std::fs::read_to_string(files.get(before)?).ok()?)
            },
        )
        .await;
        assert_eq!(
            verify(&server, "acme", &flow, &code).await.status(),
            StatusCode::OK,
            "mode {mode}"
        );
    }
    let dir = server.tenant_dir("acme");
    eventually("fallbacks audited", Duration::from_secs(10), || async {
        let count = audit_lines(&dir)
            .iter()
            .filter(|l| l["action"] == "notify.whatsapp_fallback")
            .count();
        (count == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn codes_expire_after_ten_minutes_on_the_servers_clock() {
    let server = TestServer::start_env(&[FAST]).await;
    server.create_tenant("acme", "pro").await;
    add(&server, "acme", "Amal", "amal@acme.om", "admin").await;

    let (flow, code) = code_by_mail(&server, "acme", "amal@acme.om").await;
    advance(&server, 599).await;
    assert_eq!(
        verify(&server, "acme", &flow, &code).await.status(),
        StatusCode::OK
    );

    let (flow, code) = code_by_mail(&server, "acme", "amal@acme.om").await;
    advance(&server, 601).await;
    assert_eq!(
        error_code(verify(&server, "acme", &flow, &code).await).await,
        (StatusCode::UNAUTHORIZED, "code_expired".into())
    );
}

#[tokio::test]
async fn sessions_end_after_an_idle_hour_and_after_a_day_in_any_case() {
    let server = TestServer::start_env(&[FAST]).await;
    server.create_tenant("acme", "pro").await;
    add(&server, "acme", "Amal", "amal@acme.om", "admin").await;

    let idle = sign_in(&server, "acme", "amal@acme.om").await;
    advance(&server, 59 * 60).await;
    assert_eq!(me(&server, "acme", &idle).await, StatusCode::OK);
    advance(&server, 61 * 60).await;
    assert_eq!(me(&server, "acme", &idle).await, StatusCode::UNAUTHORIZED);

    let busy = sign_in(&server, "acme", "amal@acme.om").await;
    for _ in 0..24 {
        assert_eq!(me(&server, "acme", &busy).await, StatusCode::OK);
        advance(&server, 59 * 60).await;
    }
    advance(&server, 30 * 60).await;
    assert_eq!(
        me(&server, "acme", &busy).await,
        StatusCode::UNAUTHORIZED,
        "24 h absolute limit"
    );
}

#[tokio::test]
async fn brute_force_kills_the_flow_and_then_locks_the_identity() {
    let server = TestServer::start_env(&[FAST, ("MAJLIS_OTP_LOCK_AFTER", "8")]).await;
    server.create_tenant("acme", "pro").await;
    add(&server, "acme", "Amal", "amal@acme.om", "admin").await;

    let (flow, code) = code_by_mail(&server, "acme", "amal@acme.om").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        assert_eq!(
            error_code(verify(&server, "acme", &flow, wrong).await).await,
            (StatusCode::UNAUTHORIZED, "invalid_code".into())
        );
    }
    assert_eq!(
        verify(&server, "acme", &flow, &code).await.status(),
        StatusCode::UNAUTHORIZED,
        "the 6th try fails even with the right code"
    );

    // A new code does not reset the count: two more failures (eight in all) lock the identity.
    let (flow, code) = code_by_mail(&server, "acme", "amal@acme.om").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..2 {
        assert_eq!(
            verify(&server, "acme", &flow, wrong).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let locked = verify(&server, "acme", &flow, &code).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.headers().contains_key("retry-after"));
    advance(&server, 16 * 60).await;
    let (flow, code) = code_by_mail(&server, "acme", "amal@acme.om").await;
    assert_eq!(
        verify(&server, "acme", &flow, &code).await.status(),
        StatusCode::OK,
        "the cool-down ends"
    );
}

#[tokio::test]
async fn code_requests_are_capped_per_address_in_each_tenant_and_at_the_edge() {
    let server = TestServer::start_env(&[
        FAST,
        ("MAJLIS_OTP_IP_BURST", "3"),
        ("MAJLIS_OTP_IP_PER_SECS", "3600"),
    ])
    .await;
    server.create_tenant("acme", "pro").await;
    for n in 0..3 {
        let response = request_code(&server, "acme", &format!("p{n}@acme.om"), "email").await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let capped = request_code(&server, "acme", "p9@acme.om", "email").await;
    assert!(capped.headers().contains_key("retry-after"));
    assert_eq!(
        error_code(capped).await,
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited".into())
    );

    let edge = TestServer::start_env(&[
        FAST,
        ("MAJLIS_EDGE_AUTH_BURST", "4"),
        ("MAJLIS_EDGE_AUTH_PER_MS", "3600000"),
    ])
    .await;
    for slug in ["one", "two", "three"] {
        edge.create_tenant(slug, "pro").await;
    }
    let mut statuses = Vec::new();
    for slug in ["one", "two", "three", "one", "two", "three"] {
        statuses.push(request_code(&edge, slug, "x@y.om", "email").await.status());
    }
    assert_eq!(&statuses[..4], [StatusCode::ACCEPTED; 4]);
    assert_eq!(
        &statuses[4..],
        [StatusCode::TOO_MANY_REQUESTS; 2],
        "one address spraying many tenants"
    );
}

#[tokio::test]
async fn known_and_unknown_identities_look_the_same() {
    let server = TestServer::start().await;
    server.create_tenant("acme", "pro").await;
    add(&server, "acme", "Amal", "amal@acme.om", "admin").await;
    let mut seen = Vec::new();
    for identity in [
        "amal@acme.om",
        "nobody@acme.om",
        "amal@acme.om",
        "+96899999999",
    ] {
        let start = std::time::Instant::now();
        let response = request_code(&server, "acme", identity, "email").await;
        let elapsed = start.elapsed();
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        let keys: Vec<String> = body.as_object().expect("object").keys().cloned().collect();
        let flow_len = body["flow"].as_str().map(str::len);
        seen.push((status, keys, flow_len, elapsed));
    }
    for (status, keys, flow_len, elapsed) in &seen {
        assert_eq!(
            (*status, keys.as_slice(), *flow_len),
            (StatusCode::ACCEPTED, &["flow".to_owned()][..], Some(32))
        );
        assert!(
            *elapsed >= Duration::from_millis(300),
            "answered at the fixed deadline, took {elapsed:?}"
        );
    }
    let slowest = seen.iter().map(|s| s.3).max().expect("max");
    let fastest = seen.iter().map(|s| s.3).min().expect("min");
    assert!(
        slowest - fastest < Duration::from_millis(150),
        "{fastest:?} .. {slowest:?}"
    );
}

#[tokio::test]
async fn magic_links_sign_in_once_when_the_tenant_turns_them_on() {
    let server = TestServer::start_env(&[FAST]).await;
    server.create_tenant("acme", "pro").await;
    add(&server, "acme", "Amal", "amal@acme.om", "admin").await;
    let ask = || {
        server
            .tenant("acme", Method::POST, "/api/auth/magic/request")
            .json(&json!({"email": "amal@acme.om"}))
            .send()
    };
    assert_eq!(
        ask().await.expect("post").status(),
        StatusCode::NOT_FOUND,
        "off by default"
    );

    let admin = sign_in(&server, "acme", "amal@acme.om").await;
    let on = server
        .tenant("acme", Method::PUT, "/api/features")
        .header("cookie", &admin)
        .json(&json!({"flags": {"magic_link": true}}))
        .send()
        .await
        .expect("put");
    assert_eq!(on.status(), StatusCode::OK);
    let before = mail_files(&server, "acme").len();
    assert_eq!(ask().await.expect("post").status(), StatusCode::ACCEPTED);
    let link = eventually("the link by mail", Duration::from_secs(10), || async {
        let raw = std::fs::read_to_string(mail_files(&server, "acme").get(before)?).ok()?;
        // Undo quoted-printable soft line breaks.
        let text = raw.replace("=\r\n", "").replace("=\n", "");
        text.lines()
            .map(str::trim)
            .find(|l| l.contains("/auth/magic/"))
            .map(str::to_owned)
    })
    .await;
    let token = link.rsplit('/').next().expect("token");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let follow = || {
        client
            .get(server.url(&format!("/auth/magic/{token}")))
            .header("host", format!("acme.localhost:{}", server.port))
            .send()
    };
    let first = follow().await.expect("get");
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let cookie = cookie_of(&first);
    assert_eq!(me(&server, "acme", &cookie).await, StatusCode::OK);
    assert_eq!(
        follow().await.expect("get").status(),
        StatusCode::UNAUTHORIZED,
        "single use"
    );
}

#[tokio::test]
async fn sessions_live_in_the_tenant_and_survive_a_restart_or_a_crash() {
    let mut server = TestServer::start_env(&[FAST]).await;
    let temp = server.take_temp();
    server.create_tenant("acme", "pro").await;
    add(&server, "acme", "Amal", "amal@acme.om", "admin").await;
    let cookie = sign_in(&server, "acme", "amal@acme.om").await;
    let data = server.stop().await;

    let server = TestServer::start_in(&data, &[FAST]).await;
    assert_eq!(
        me(&server, "acme", &cookie).await,
        StatusCode::OK,
        "after a clean restart"
    );
    let crashed = sign_in(&server, "acme", "amal@acme.om").await;
    let data = server.kill9().await;

    let server = TestServer::start_in(&data, &[FAST]).await;
    assert_eq!(
        me(&server, "acme", &crashed).await,
        StatusCode::OK,
        "after kill -9"
    );
    // A forged cookie never reaches a session.
    let last = if crashed.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &crashed[..crashed.len() - 1]);
    assert_eq!(me(&server, "acme", &forged).await, StatusCode::UNAUTHORIZED);
    drop(temp);
}
