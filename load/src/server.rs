//! The server under load: started fresh on a temporary data directory (the default), or an
//! existing one given by URL.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::mailbox::{Mail, Mailbox};
use crate::server_settings::ServerSetting;

pub const TOKEN: &str = "majlis-load-operator-token";

/// The in-flight bound of the servers the harness starts: high, so that steady scenarios measure
/// throughput rather than shedding.
const DEFAULT_INFLIGHT: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot start {bin}: {source}")]
    Spawn {
        bin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the server did not say where it listens: {0}")]
    NoPort(String),
    #[error(transparent)]
    Pin(#[from] crate::pin::PinError),
}

/// How the harness starts servers: which binary, with which settings, delivering mail where.
#[derive(Debug, Clone)]
pub struct Launch {
    pub bin: PathBuf,
    /// `MAJLIS_` settings over the harness's defaults (`--server-env`).
    pub settings: Vec<ServerSetting>,
    pub mail: Mail,
}

/// A running server the harness may kill and restart.
#[derive(Debug)]
pub struct Server {
    pub base: String,
    /// The operator token the harness creates tenants with.
    pub token: String,
    pub data_dir: Option<PathBuf>,
    /// Where its sign-in codes arrive.
    pub mailbox: Mailbox,
    bin: Option<PathBuf>,
    child: Option<Child>,
    /// Settings for the next start, over the harness's defaults.
    env: Vec<(String, String)>,
    _temp: Option<tempfile::TempDir>,
}

/// The highest resident memory seen by a background sampler.
#[derive(Debug)]
pub struct RssSampler {
    peak_kb: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    /// Stops sampling and answers the peak, in MB.
    pub fn peak(self) -> f64 {
        self.task.abort();
        self.peak_kb.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0
    }
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The `majlis` binary beside this one (`target/<profile>/majlis`), or `MAJLIS_BIN`.
pub fn default_binary() -> PathBuf {
    if let Ok(path) = std::env::var("MAJLIS_BIN") {
        return PathBuf::from(path);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("majlis")))
        .unwrap_or_else(|| PathBuf::from("majlis"))
}

/// The settings the harness gives every server it starts; a run's (`--server-env`) and a
/// scenario's own go over them.
fn harness_env(data_dir: &Path, idle_secs: u64) -> [(&'static str, OsString); 11] {
    [
        ("MAJLIS_BIND", "127.0.0.1:0".into()),
        ("MAJLIS_DATA_DIR", data_dir.into()),
        ("MAJLIS_OPERATOR_TOKEN", TOKEN.into()),
        ("MAJLIS_BASE_DOMAIN", "localhost".into()),
        ("MAJLIS_LOG", "error".into()),
        ("MAJLIS_IDLE_SECS", idle_secs.to_string().into()),
        ("MAJLIS_SIGN_IN_DEADLINE_MS", "1".into()),
        ("MAJLIS_EDGE_AUTH_BURST", "1000000".into()),
        ("MAJLIS_OTP_IP_BURST", "1000000".into()),
        ("MAJLIS_OTP_IDENTITY_BURST", "1000".into()),
        (
            "MAJLIS_MAX_INFLIGHT_PER_TENANT",
            DEFAULT_INFLIGHT.to_string().into(),
        ),
    ]
}

/// Whether the harness sets `key` itself, on every server it starts (its scenarios depend on
/// those settings, and it reads the sign-in codes the server sends), or reads it for itself
/// (`MAJLIS_BIN`).
pub fn is_harness_setting(key: &str) -> bool {
    key == "MAJLIS_BIN"
        || crate::mailbox::MAIL_SETTINGS.contains(&key)
        || harness_env(Path::new(""), 0).iter().any(|(k, _)| *k == key)
}

impl Server {
    /// What the operator API shows of one tenant (`GET /admin/api/tenants/{slug}`).
    pub async fn tenant_view(
        &self,
        client: &reqwest::Client,
        slug: &str,
    ) -> Option<serde_json::Value> {
        crate::client::json_of(
            client
                .get(format!("{}/admin/api/tenants/{slug}", self.base))
                .bearer_auth(&self.token),
        )
        .await
    }

    /// A server the harness did not start: `data_dir` is its data directory on this machine (its
    /// file mailer's sign-in codes are read there unless it relays to the harness's SMTP sink),
    /// `token` its operator token.
    pub fn external(base: &str, data_dir: Option<PathBuf>, token: &str, mail: Mail) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            mailbox: Mailbox::new(mail, data_dir.clone()),
            data_dir,
            bin: None,
            child: None,
            env: Vec::new(),
            _temp: None,
        }
    }

    /// Starts `launch.bin` on a new temporary data directory, with the run's settings over the
    /// harness's defaults.
    pub async fn spawn(launch: &Launch, idle_secs: u64) -> Result<Self, ServerError> {
        Self::spawn_with(launch, idle_secs, &[]).await
    }

    /// As `spawn`, with the scenario's own settings `env` over the run's (and the mail delivery
    /// over both).
    pub async fn spawn_with(
        launch: &Launch,
        idle_secs: u64,
        env: &[(&str, &str)],
    ) -> Result<Self, ServerError> {
        let temp = tempfile::tempdir().map_err(|source| ServerError::Spawn {
            bin: launch.bin.display().to_string(),
            source,
        })?;
        let data_dir = temp.path().join("data");
        let mailbox = Mailbox::new(launch.mail.clone(), Some(data_dir.clone()));
        let env = launch
            .settings
            .iter()
            .map(|s| (s.key().to_owned(), s.value().to_owned()))
            .chain(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
            .chain(mailbox.server_env())
            .collect();
        let mut server = Self {
            base: String::new(),
            token: TOKEN.to_owned(),
            data_dir: Some(data_dir),
            mailbox,
            bin: Some(launch.bin.clone()),
            child: None,
            env,
            _temp: Some(temp),
        };
        server.start(idle_secs).await?;
        Ok(server)
    }

    /// (Re)starts the spawned server on its data directory.
    pub async fn start(&mut self, idle_secs: u64) -> Result<(), ServerError> {
        let (Some(bin), Some(data_dir)) = (&self.bin, &self.data_dir) else {
            return Ok(());
        };
        let mut cmd = Command::new(bin);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("MAJLIS_") && key != "MAJLIS_BIN" {
                cmd.env_remove(key);
            }
        }
        // The harness's own runtime settings are not the server's.
        cmd.env_remove("TOKIO_WORKER_THREADS");
        if let Some(cores) = crate::pin::server_core_count() {
            cmd.env("TOKIO_WORKER_THREADS", cores.to_string());
        }
        cmd.arg("serve")
            .envs(harness_env(data_dir, idle_secs))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| ServerError::Spawn {
            bin: bin.display().to_string(),
            source,
        })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| ServerError::NoPort("no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    return digits.parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| ServerError::NoPort("no 'listening on' line".into()))?;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        if let Some(pid) = child.id() {
            crate::pin::server(pid)?;
        }
        self.base = format!("http://127.0.0.1:{port}");
        self.child = Some(child);
        Ok(())
    }

    /// Whether the harness started this server (and may read its files at rest).
    pub fn is_spawned(&self) -> bool {
        self.bin.is_some()
    }

    /// SIGKILL: no shutdown code runs.
    pub async fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// CPU time the spawned server has used so far, user and system (Linux).
    pub fn cpu_time(&self) -> Option<Duration> {
        crate::cpu::process_time(Some(self.pid()?))
    }

    /// A setting (`MAJLIS_…`) for the next `start`, over the harness's defaults.
    pub fn set_env(&mut self, key: &str, value: impl ToString) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_string()));
    }

    /// Resident memory of the spawned server, in MB (Linux).
    pub fn rss_mb(&self) -> Option<f64> {
        rss_kb(self.pid()?).map(|kb| kb as f64 / 1024.0)
    }

    /// Samples resident memory every `every` until `RssSampler::peak`.
    pub fn rss_sampler(&self, every: Duration) -> RssSampler {
        let peak_kb = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let pid = self.pid();
        let task = tokio::spawn({
            let peak_kb = std::sync::Arc::clone(&peak_kb);
            async move {
                let Some(pid) = pid else { return };
                loop {
                    if let Some(kb) = rss_kb(pid) {
                        peak_kb.fetch_max(kb, std::sync::atomic::Ordering::Relaxed);
                    }
                    tokio::time::sleep(every).await;
                }
            }
        });
        RssSampler { peak_kb, task }
    }

    /// The newest code mailed to `email` of tenant `slug` since `since` and not handed out
    /// before, waiting for it at most `within`.
    pub async fn next_code(
        &self,
        slug: &str,
        email: &str,
        since: std::time::Instant,
        within: Duration,
    ) -> Option<String> {
        self.mailbox.next_code(slug, email, since, within).await
    }
}
