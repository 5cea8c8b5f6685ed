//! Workspace helpers shared by the board tests: a signed-in caller, and a tenant with a board.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::TestServer;
use super::auth::{add, sign_in};

/// A signed-in member's requests to one tenant.
pub struct As<'a> {
    pub server: &'a TestServer,
    pub slug: &'a str,
    pub cookie: String,
}

impl<'a> As<'a> {
    pub async fn new(server: &'a TestServer, slug: &'a str, email: &str) -> Self {
        let cookie = sign_in(server, slug, email).await;
        Self {
            server,
            slug,
            cookie,
        }
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let request = self
            .server
            .tenant(self.slug, method, path)
            .header("cookie", &self.cookie);
        match body {
            Some(body) => request.json(&body),
            None => request,
        }
        .send()
        .await
        .expect("send")
    }

    pub async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let response = self.send(method.clone(), path, body).await;
        let status = response.status();
        let text = response.text().await.expect("text");
        assert!(status.is_success(), "{method} {path} → {status}: {text}");
        serde_json::from_str(&text).expect("json")
    }

    pub async fn status(&self, method: Method, path: &str, body: Option<Value>) -> StatusCode {
        self.send(method, path, body).await.status()
    }
}

pub struct Board {
    pub id: String,
    pub members: HashMap<&'static str, String>,
}

/// A pro tenant with a board: Amal (admin, chair), Sara (secretary), Bilal (member), Omar
/// (observer role and position), and Nadia, a member who does not sit on the board.
pub async fn arrange(server: &TestServer, slug: &'static str) -> Board {
    server.create_tenant(slug, "pro").await;
    let mut members = HashMap::new();
    for (key, name, role) in [
        ("amal", "Amal", "admin"),
        ("sara", "Sara", "secretary"),
        ("bilal", "Bilal", "member"),
        ("omar", "Omar", "observer"),
        ("nadia", "Nadia", "member"),
    ] {
        members.insert(
            key,
            add(server, slug, name, &format!("{key}@{slug}.om"), role).await,
        );
    }
    let admin = As::new(server, slug, &format!("amal@{slug}.om")).await;
    let board = admin
        .ok(Method::POST, "/api/boards", Some(json!({"name": "Board of Directors", "quorum": {"type": "fraction", "numerator": 1, "denominator": 2}})))
        .await;
    let id = board["id"].as_str().expect("id").to_owned();
    for (key, position) in [
        ("amal", "chair"),
        ("sara", "secretary"),
        ("bilal", "member"),
        ("omar", "observer"),
    ] {
        let path = format!("/api/boards/{id}/members/{}", members[key]);
        admin
            .ok(Method::PUT, &path, Some(json!({"position": position})))
            .await;
    }
    Board { id, members }
}

pub fn meeting_body(board: &str, title: &str, starts: &str, ends: &str, timezone: &str) -> Value {
    json!({"board_id": board, "title": title, "starts_at": starts, "ends_at": ends, "timezone": timezone,
           "location": "Board room, Muscat", "video_url": "https://meet.example.om/board"})
}

pub fn numbers(meeting: &Value) -> Vec<(String, String)> {
    meeting["agenda"]
        .as_array()
        .expect("agenda")
        .iter()
        .map(|i| {
            (
                i["number"].as_str().expect("number").to_owned(),
                i["title"].as_str().expect("title").to_owned(),
            )
        })
        .collect()
}
