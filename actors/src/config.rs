//! `RuntimeConfig`: the settings the actor runtime needs, already parsed.

use std::path::PathBuf;
use std::time::Duration;

use crate::domain::{HostName, Slug};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Many tenants, each found by its Host.
    Cloud,
    /// One organisation: every request is this tenant's, and it never passivates.
    OnPrem { tenant: Slug },
}

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub data_root: PathBuf,
    pub mode: Mode,
    /// `<slug>.<base_domain>` reaches a tenant without registering a host.
    pub base_domain: Option<HostName>,
    /// A tenant with no message for this long is passivated.
    pub idle: Duration,
    /// Restart intensity for tenants and their children.
    pub restart_max: u32,
    pub restart_window: Duration,
    /// Journal records that trigger a snapshot.
    pub snapshot_every: u64,
    /// Requests queued or running in one tenant before new ones are refused.
    pub max_inflight_per_tenant: usize,
    /// Largest document upload, in bytes.
    pub upload_limit: u64,
    pub auth: AuthConfig,
    pub delivery: DeliveryConfig,
}

impl RuntimeConfig {
    /// Defaults for a data root, as a test or the offline CLI wants them.
    pub fn for_data_root(data_root: impl Into<PathBuf>) -> Self {
        Self {
            data_root: data_root.into(),
            mode: Mode::Cloud,
            base_domain: None,
            idle: Duration::from_secs(900),
            restart_max: 3,
            restart_window: Duration::from_secs(10),
            snapshot_every: 1000,
            max_inflight_per_tenant: 256,
            upload_limit: 50 * 1024 * 1024,
            auth: AuthConfig::default(),
            delivery: DeliveryConfig {
                mail_from: "majlis <no-reply@localhost>".into(),
                public_url: "http://{slug}.localhost:8080".into(),
                concurrency: 16,
                concurrency_per_tenant: 8,
                ..DeliveryConfig::default()
            },
        }
    }
}

/// Sign-in and session rules (NIST SP 800-63B, OWASP ASVS where stricter than the product).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Keys the hashes of one-time codes and magic links.
    pub secret: std::sync::Arc<[u8]>,
    pub code_ttl: Duration,
    /// Failed codes in a row that lock an identity (at most 100), and for how long.
    pub lock_after: u32,
    pub lock_for: Duration,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    /// The operator's own tenant: the only one with `superadmin`, and shorter sessions.
    pub operator_tenant: Option<Slug>,
    pub operator_session_absolute: Duration,
    /// Codes one identity may ask for: a burst, refilled one per `per`.
    pub otp_identity_burst: u32,
    pub otp_identity_per: Duration,
    /// Codes one client address may ask for (per tenant).
    pub otp_ip_burst: u32,
    pub otp_ip_per: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            secret: std::sync::Arc::from(&b"majlis-test-secret"[..]),
            code_ttl: Duration::from_secs(600),
            lock_after: 20,
            lock_for: Duration::from_secs(15 * 60),
            session_idle: Duration::from_secs(60 * 60),
            session_absolute: Duration::from_secs(24 * 60 * 60),
            operator_tenant: None,
            operator_session_absolute: Duration::from_secs(12 * 60 * 60),
            otp_identity_burst: 5,
            otp_identity_per: Duration::from_secs(60),
            otp_ip_burst: 20,
            otp_ip_per: Duration::from_secs(10),
        }
    }
}

/// How mail and WhatsApp messages leave the server.
#[derive(Debug, Clone, Default)]
pub struct DeliveryConfig {
    /// `None`: the file mailer writes `.eml` files into the tenant's `mail/` folder.
    pub smtp: Option<SmtpConfig>,
    pub mail_from: String,
    pub whatsapp: Option<WhatsAppConfig>,
    /// Where people reach the server, for links in messages (`{slug}` is replaced).
    pub public_url: String,
    /// Messages being delivered at once across the server (connections to the SMTP relay at
    /// most, requests to the WhatsApp API likewise); at least one.
    pub concurrency: usize,
    /// Messages of one tenant being delivered at once, so that one tenant's rush cannot take
    /// every slot of the server; at least one.
    pub concurrency_per_tenant: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    None,
    StartTls,
    Tls,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
    pub timeout: Duration,
}

/// The WhatsApp Business Cloud API: `POST {base_url}/{version}/{phone_number_id}/messages`.
#[derive(Debug, Clone)]
pub struct WhatsAppConfig {
    pub base_url: String,
    pub version: String,
    pub phone_number_id: String,
    pub token: String,
    /// An approved authentication template whose body and button carry the code.
    pub template: String,
    pub language: String,
    pub timeout: Duration,
}
