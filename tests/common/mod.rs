//! Test fixture: starts the real `majlis` binary on port 0 with a fresh data directory, waits for
//! its health check, and speaks HTTP to it.

#![allow(dead_code)]

pub mod auth;
pub mod workspace;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const TOKEN: &str = "test-operator-token";
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct TestServer {
    child: Child,
    pub port: u16,
    pub data_dir: PathBuf,
    pub client: reqwest::Client,
    _temp: Option<tempfile::TempDir>,
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
    }
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_majlis")
}

/// A `majlis` command with a clean `MAJLIS_*` environment.
pub fn command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(binary());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("MAJLIS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("MAJLIS_DATA_DIR", data_dir)
        .env("MAJLIS_LOG", "warn")
        .current_dir(data_dir.parent().unwrap_or(data_dir))
        .kill_on_drop(true);
    cmd
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_env(&[]).await
    }

    pub async fn start_env(env: &[(&str, &str)]) -> Self {
        let temp = tempfile::tempdir().expect("tempdir");
        let data_dir = temp.path().join("data");
        let mut server = Self::start_in(&data_dir, env).await;
        server._temp = Some(temp);
        server
    }

    /// Starts a server on an existing (or new) data directory.
    pub async fn start_in(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let log = data_dir.with_extension("log");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let mut cmd = command(data_dir);
        cmd.arg("serve")
            .env("MAJLIS_BIND", "127.0.0.1:0")
            .env("MAJLIS_OPERATOR_TOKEN", TOKEN)
            .env("MAJLIS_BASE_DOMAIN", "localhost")
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (key, value) in env {
            cmd.env(key, value);
        }
        let mut child = cmd.spawn().expect("spawn majlis");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    return digits.parse::<u16>().expect("port");
                }
            }
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("majlis exited before listening:\n{log}");
        })
        .await
        .expect("majlis did not start in time");
        // Keep reading stdout so the pipe never fills.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let server = Self {
            child,
            port,
            data_dir: data_dir.to_owned(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            _temp: None,
        };
        eventually("health", START_TIMEOUT, || async {
            let response = server.get("/api/almajlis/health.json").send().await.ok()?;
            (response.status() == StatusCode::OK).then_some(())
        })
        .await;
        server
    }

    /// The server's environment as the kernel sees it (Linux).
    pub fn environ(&self) -> Vec<String> {
        let pid = self.child.id().expect("running");
        std::fs::read(format!("/proc/{pid}/environ"))
            .expect("environ")
            .split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    /// The kernel scheduling policy of each of the server's threads (Linux: `SCHED_OTHER` is 0,
    /// `SCHED_BATCH` 3), from the 41st field of `/proc/<pid>/task/<tid>/stat`.
    pub fn thread_policies(&self) -> Vec<u32> {
        let pid = self.child.id().expect("running");
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .expect("tasks")
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("stat")).ok())
            .filter_map(|stat| {
                // After the command name in parentheses, the fields count from the third.
                let (_, rest) = stat.rsplit_once(')')?;
                rest.split_whitespace().nth(41 - 3)?.parse().ok()
            })
            .collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path))
    }

    /// A public document, as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json")
    }

    /// An operator request.
    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(&format!("/admin/api{path}")))
            .bearer_auth(TOKEN)
    }

    /// A request to a tenant route, addressed by the tenant's host name.
    pub fn tenant(&self, slug: &str, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("host", format!("{slug}.localhost:{}", self.port))
    }

    pub async fn create_tenant(&self, slug: &str, plan: &str) -> Value {
        let response = self
            .admin(Method::POST, "/tenants")
            .json(&json!({"slug": slug, "name": format!("{slug} board"), "plan": plan, "sector": "corporate"}))
            .send()
            .await
            .expect("create tenant");
        assert_eq!(response.status(), StatusCode::CREATED, "creating {slug}");
        response.json().await.expect("json")
    }

    pub async fn add_member(
        &self,
        slug: &str,
        name: &str,
        email: &str,
    ) -> reqwest::Result<reqwest::Response> {
        self.admin(Method::POST, &format!("/tenants/{slug}/members"))
            .json(&json!({"name": name, "email": email, "role": "member"}))
            .send()
            .await
    }

    pub async fn members(&self, slug: &str) -> Vec<Value> {
        let response = self
            .admin(Method::GET, &format!("/tenants/{slug}/members"))
            .send()
            .await
            .expect("list members");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("json")
    }

    pub async fn inspect(&self, slug: &str) -> Value {
        self.admin(Method::GET, &format!("/tenants/{slug}"))
            .send()
            .await
            .expect("inspect")
            .json()
            .await
            .expect("json")
    }

    pub fn tenant_dir(&self, slug: &str) -> PathBuf {
        self.data_dir.join("tenants").join(slug)
    }

    /// SIGKILL: no shutdown code runs.
    pub async fn kill9(mut self) -> PathBuf {
        self.child.kill().await.expect("kill");
        self.data_dir.clone()
    }

    /// SIGTERM and wait for a clean exit.
    pub async fn stop(mut self) -> PathBuf {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("stops in time")
            .expect("wait");
        assert!(status.success(), "clean exit, got {status}");
        self.data_dir.clone()
    }

    /// Keeps the temp directory alive beyond this server (for a restart on the same data).
    pub fn take_temp(&mut self) -> Option<tempfile::TempDir> {
        self._temp.take()
    }
}

/// Every audit line of a tenant, parsed.
pub fn audit_lines(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line parses"))
        .collect()
}

pub async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("json error body");
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}
