//! The board pack over HTTP against the real binary: uploads streamed to disk and downloaded
//! back byte-identical, versions, ETags, the pack's order, size limits that leave nothing behind,
//! hostile file names, and who may see what.

#![cfg(feature = "fault-injection")]

mod common;

use common::auth::*;
use common::{TestServer, error_code};
use rand::RngCore;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

struct Setup {
    server: TestServer,
    meeting: String,
    items: Vec<String>,
    sara: String,
    nadia: String,
    omar: String,
}

async fn setup(env: &[(&str, &str)]) -> Setup {
    let mut all = vec![FAST];
    all.extend_from_slice(env);
    let server = TestServer::start_env(&all).await;
    server.create_tenant("acme", "pro").await;
    let amal = add(&server, "acme", "Amal", "amal@acme.om", "admin").await;
    let sara_id = add(&server, "acme", "Sara", "sara@acme.om", "secretary").await;
    let omar_id = add(&server, "acme", "Omar", "omar@acme.om", "observer").await;
    add(&server, "acme", "Nadia", "nadia@acme.om", "member").await;
    let admin = sign_in(&server, "acme", "amal@acme.om").await;
    let sara = sign_in(&server, "acme", "sara@acme.om").await;
    let omar = sign_in(&server, "acme", "omar@acme.om").await;
    let nadia = sign_in(&server, "acme", "nadia@acme.om").await;
    let call = |cookie: &str, method: Method, path: &str, body: Value| {
        server
            .tenant("acme", method, path)
            .header("cookie", cookie.to_owned())
            .json(&body)
            .send()
    };
    let board: Value = call(
        &admin,
        Method::POST,
        "/api/boards",
        json!({"name": "Board"}),
    )
    .await
    .expect("board")
    .json()
    .await
    .expect("json");
    let board_id = board["id"].as_str().expect("id").to_owned();
    for (member, position) in [
        (&amal, "chair"),
        (&sara_id, "secretary"),
        (&omar_id, "observer"),
    ] {
        call(
            &admin,
            Method::PUT,
            &format!("/api/boards/{board_id}/members/{member}"),
            json!({"position": position}),
        )
        .await
        .expect("position");
    }
    let meeting: Value = call(
        &sara,
        Method::POST,
        "/api/meetings",
        json!({"board_id": board_id, "title": "Q1",
        "starts_at": "2027-01-10T10:00:00+04:00", "ends_at": "2027-01-10T12:00:00+04:00"}),
    )
    .await
    .expect("meeting")
    .json()
    .await
    .expect("json");
    let meeting_id = meeting["id"].as_str().expect("id").to_owned();
    let mut items = Vec::new();
    for title in ["Strategy", "Accounts"] {
        let updated: Value = call(
            &sara,
            Method::POST,
            &format!("/api/meetings/{meeting_id}/agenda"),
            json!({"title": title}),
        )
        .await
        .expect("item")
        .json()
        .await
        .expect("json");
        items.push(
            updated["agenda"]
                .as_array()
                .expect("agenda")
                .last()
                .expect("item")["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    Setup {
        server,
        meeting: meeting_id,
        items,
        sara,
        nadia,
        omar,
    }
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

async fn upload(
    s: &Setup,
    cookie: &str,
    path: &str,
    name: &str,
    bytes: Vec<u8>,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = Form::new();
    for (key, value) in fields {
        form = form.text(key.to_string(), value.to_string());
    }
    let part = Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str("application/pdf")
        .expect("mime");
    form = form.part("file", part);
    s.server
        .tenant("acme", Method::POST, path)
        .header("cookie", cookie)
        .multipart(form)
        .send()
        .await
        .expect("upload")
}

async fn download(s: &Setup, cookie: &str, path: &str) -> reqwest::Response {
    s.server
        .tenant("acme", Method::GET, path)
        .header("cookie", cookie)
        .send()
        .await
        .expect("download")
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path)
            } else {
                found.push(path)
            }
        }
    }
    found
}

#[tokio::test]
async fn documents_stream_in_and_out_byte_identical_with_versions() {
    let s = setup(&[]).await;
    let first = random_bytes(3 * 1024 * 1024 + 17);
    let path = format!("/api/meetings/{}/documents", s.meeting);
    let response = upload(
        &s,
        &s.sara,
        &path,
        "Accounts 2026.pdf",
        first.clone(),
        &[
            ("title", "Audited accounts"),
            ("agenda_item_id", &s.items[1]),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let document: Value = response.json().await.expect("json");
    let id = document["id"].as_str().expect("id").to_owned();
    let sha = hex::encode(Sha256::digest(&first));
    assert_eq!(document["versions"][0]["sha256"], sha.as_str());
    assert_eq!(document["versions"][0]["size"], first.len());

    let got = download(&s, &s.sara, &format!("/api/documents/{id}")).await;
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.headers()["content-type"], "application/pdf");
    assert_eq!(
        got.headers()["etag"].to_str().expect("ascii"),
        format!("\"{sha}\"")
    );
    assert!(
        got.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .contains("Accounts%202026.pdf")
    );
    assert_eq!(
        got.bytes().await.expect("bytes").to_vec(),
        first,
        "byte-identical"
    );
    let cached = s
        .server
        .tenant("acme", Method::GET, &format!("/api/documents/{id}"))
        .header("cookie", &s.sara)
        .header("if-none-match", format!("\"{sha}\""))
        .send()
        .await
        .expect("get");
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);

    // Stored content-addressed inside the tenant directory.
    let blobs = s.server.tenant_dir("acme").join("documents/blobs");
    assert!(blobs.join(&sha).is_file());

    // A new version keeps the old one and marks the document changed.
    let second = random_bytes(1000);
    let replaced = upload(
        &s,
        &s.sara,
        &format!("/api/documents/{id}/versions"),
        "Accounts v2.pdf",
        second.clone(),
        &[],
    )
    .await;
    assert_eq!(replaced.status(), StatusCode::CREATED);
    let replaced: Value = replaced.json().await.expect("json");
    assert_eq!(replaced["versions"].as_array().map(Vec::len), Some(2));
    assert!(replaced["replaced_at"].is_string());
    assert_eq!(
        download(&s, &s.sara, &format!("/api/documents/{id}"))
            .await
            .bytes()
            .await
            .expect("bytes")
            .to_vec(),
        second
    );
    assert_eq!(
        download(&s, &s.sara, &format!("/api/documents/{id}?version=1"))
            .await
            .bytes()
            .await
            .expect("bytes")
            .to_vec(),
        first
    );
    assert_eq!(
        download(&s, &s.sara, &format!("/api/documents/{id}?version=3"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // The pack follows the agenda: the strategy paper comes before the accounts.
    let strategy = upload(
        &s,
        &s.sara,
        &path,
        "strategy.pdf",
        random_bytes(100),
        &[("agenda_item_id", &s.items[0])],
    )
    .await;
    assert_eq!(strategy.status(), StatusCode::CREATED);
    let pack: Value = download(&s, &s.sara, &format!("/api/meetings/{}/pack", s.meeting))
        .await
        .json()
        .await
        .expect("json");
    let titles: Vec<&str> = pack
        .as_array()
        .expect("pack")
        .iter()
        .filter_map(|d| d["title"].as_str())
        .collect();
    assert_eq!(titles, ["strategy.pdf", "Audited accounts"]);

    // Readers are the board's members; observers read but do not upload; others see nothing.
    assert_eq!(
        download(&s, &s.omar, &format!("/api/documents/{id}"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        upload(&s, &s.omar, &path, "x.pdf", random_bytes(10), &[])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        download(&s, &s.nadia, &format!("/api/documents/{id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        download(&s, &s.nadia, &format!("/api/meetings/{}/pack", s.meeting))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn oversize_uploads_are_refused_and_leave_nothing_on_disk() {
    let s = setup(&[("MAJLIS_UPLOAD_LIMIT_BYTES", "1000000")]).await;
    let path = format!("/api/meetings/{}/documents", s.meeting);
    let response = upload(&s, &s.sara, &path, "huge.pdf", random_bytes(2_500_000), &[]).await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into())
    );
    let documents = s.server.tenant_dir("acme").join("documents");
    assert!(
        files_under(&documents).is_empty(),
        "nothing kept: {:?}",
        files_under(&documents)
    );
    let pack: Value = download(&s, &s.sara, &format!("/api/meetings/{}/pack", s.meeting))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(pack, json!([]));
    // Just under the limit is fine.
    assert_eq!(
        upload(&s, &s.sara, &path, "ok.pdf", random_bytes(999_999), &[])
            .await
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_hostile_file_name_is_only_a_label() {
    let s = setup(&[]).await;
    let path = format!("/api/meetings/{}/documents", s.meeting);
    let before: Vec<_> = files_under(s.server.data_dir.parent().expect("parent"));
    let response = upload(
        &s,
        &s.sara,
        &path,
        "../../../../etc/passwd",
        b"root:x:0:0".to_vec(),
        &[],
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let document: Value = response.json().await.expect("json");
    assert_eq!(document["versions"][0]["file_name"], "passwd");
    let after = files_under(s.server.data_dir.parent().expect("parent"));
    let new: Vec<_> = after.iter().filter(|p| !before.contains(p)).collect();
    let tenant = s.server.tenant_dir("acme");
    assert!(
        new.iter().all(|p| p.starts_with(&tenant)),
        "every new file is inside the tenant: {new:?}"
    );
    assert!(
        new.iter()
            .any(|p| p.parent().is_some_and(|d| d.ends_with("documents/blobs")))
    );
    let missing = upload(
        &s,
        &s.sara,
        &format!("/api/meetings/{}/documents", "g_00000000000000000000"),
        "a.pdf",
        b"x".to_vec(),
        &[],
    )
    .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let no_file = s
        .server
        .tenant("acme", Method::POST, &path)
        .header("cookie", &s.sara)
        .multipart(Form::new().text("title", "x"))
        .send()
        .await
        .expect("post");
    assert_eq!(no_file.status(), StatusCode::BAD_REQUEST);
    let not_multipart = s
        .server
        .tenant("acme", Method::POST, &path)
        .header("cookie", &s.sara)
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(not_multipart.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}
