//! Sign-in helpers shared by the identity tests: members, codes read from the file mailer,
//! sessions, and the test clock.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{TestServer, eventually};

pub const FAST: (&str, &str) = ("MAJLIS_SIGN_IN_DEADLINE_MS", "20");

pub async fn add(server: &TestServer, slug: &str, name: &str, email: &str, role: &str) -> String {
    let response = server
        .admin(Method::POST, &format!("/tenants/{slug}/members"))
        .json(&json!({"name": name, "email": email, "role": role}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::CREATED);
    let member: Value = response.json().await.expect("json");
    member["id"].as_str().expect("id").to_owned()
}

pub fn mail_files(server: &TestServer, slug: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(server.tenant_dir(slug).join("mail"))
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

pub fn code_in(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
}

pub async fn request_code(
    server: &TestServer,
    slug: &str,
    identity: &str,
    channel: &str,
) -> reqwest::Response {
    server
        .tenant(slug, Method::POST, "/api/auth/otp/request")
        .json(&json!({"identity": identity, "channel": channel}))
        .send()
        .await
        .expect("request code")
}

/// Asks for a code by email and reads it from the file mailer.
pub async fn code_by_mail(server: &TestServer, slug: &str, email: &str) -> (String, String) {
    let before = mail_files(server, slug).len();
    let response = request_code(server, slug, email, "email").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let flow = response.json::<Value>().await.expect("json")["flow"]
        .as_str()
        .expect("flow")
        .to_owned();
    let code = eventually("the code by mail", Duration::from_secs(10), || async {
        let files = mail_files(server, slug);
        let newest = files.get(before)?;
        code_in(&std::fs::read_to_string(newest).ok()?)
    })
    .await;
    (flow, code)
}

pub async fn verify(server: &TestServer, slug: &str, flow: &str, code: &str) -> reqwest::Response {
    server
        .tenant(slug, Method::POST, "/api/auth/otp/verify")
        .json(&json!({"flow": flow, "code": code}))
        .send()
        .await
        .expect("verify")
}

pub fn cookie_of(response: &reqwest::Response) -> String {
    let header = response.headers()["set-cookie"].to_str().expect("ascii");
    header.split(';').next().expect("pair").to_owned()
}

pub async fn sign_in(server: &TestServer, slug: &str, email: &str) -> String {
    let (flow, code) = code_by_mail(server, slug, email).await;
    let response = verify(server, slug, &flow, &code).await;
    assert_eq!(response.status(), StatusCode::OK, "sign-in of {email}");
    cookie_of(&response)
}

pub async fn me(server: &TestServer, slug: &str, cookie: &str) -> StatusCode {
    server
        .tenant(slug, Method::GET, "/api/me")
        .header("cookie", cookie)
        .send()
        .await
        .expect("me")
        .status()
}

pub async fn advance(server: &TestServer, secs: u64) {
    let response = server
        .admin(Method::POST, "/clock/advance")
        .json(&json!({"secs": secs}))
        .send()
        .await
        .expect("advance");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}
