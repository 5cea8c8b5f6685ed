//! Settings: defaults in code, then `config/majlis.toml` (or `--config FILE`), then `MAJLIS_*`
//! environment variables. Unknown `MAJLIS_*` variables are warned about; secrets never print.

use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

use crate::scheduling::SchedPolicy;

/// The config file read when no `--config` is given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "config/majlis.toml";

/// A value that must never reach a log or an error message.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        lenient_string(deserializer).map(Secret)
    }
}

/// Environment values that look like numbers (`MAJLIS_OPERATOR_TOKEN=123456`) arrive as
/// numbers; a string setting takes them as the text they were.
fn lenient_string<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Int(i64),
        Unsigned(u64),
        Float(f64),
        Bool(bool),
    }
    Ok(match Raw::deserialize(deserializer)? {
        Raw::Text(s) => s,
        Raw::Int(n) => n.to_string(),
        Raw::Unsigned(n) => n.to_string(),
        Raw::Float(n) => n.to_string(),
        Raw::Bool(b) => b.to_string(),
    })
}

fn lenient_option<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    lenient_string(deserializer).map(Some)
}

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeSetting {
    Cloud,
    Onprem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Every setting, with its default. Each field `x` is also `MAJLIS_X` in the environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    #[serde(deserialize_with = "lenient_string")]
    pub bind: String,
    pub data_dir: PathBuf,
    pub mode: ModeSetting,
    #[serde(deserialize_with = "lenient_option")]
    pub tenant: Option<String>,
    #[serde(deserialize_with = "lenient_option")]
    pub base_domain: Option<String>,
    pub operator_token: Option<Secret>,
    pub secret: Option<Secret>,
    pub idle_secs: u64,
    pub log_format: LogFormat,
    pub log: String,
    pub trust_proxy_headers: bool,
    pub max_inflight_per_tenant: usize,
    pub call_timeout_ms: u64,
    pub body_limit_bytes: usize,
    pub upload_limit_bytes: u64,
    pub restart_max: u32,
    pub restart_window_secs: u64,
    pub snapshot_every: u64,
    #[serde(deserialize_with = "lenient_option")]
    pub operator_tenant: Option<String>,
    pub session_idle_secs: u64,
    pub session_absolute_secs: u64,
    pub otp_lock_after: u32,
    pub otp_lock_secs: u64,
    pub otp_identity_burst: u32,
    pub otp_identity_per_secs: u64,
    pub otp_ip_burst: u32,
    pub otp_ip_per_secs: u64,
    pub edge_auth_burst: u32,
    pub edge_auth_per_ms: u64,
    pub sign_in_deadline_ms: u64,
    #[serde(deserialize_with = "lenient_option")]
    pub public_url: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub mail_from: String,
    #[serde(deserialize_with = "lenient_option")]
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTlsSetting,
    #[serde(deserialize_with = "lenient_option")]
    pub smtp_username: Option<String>,
    pub smtp_password: Option<Secret>,
    #[serde(deserialize_with = "lenient_option")]
    pub whatsapp_base_url: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_version: String,
    #[serde(deserialize_with = "lenient_option")]
    pub whatsapp_phone_number_id: Option<String>,
    pub whatsapp_token: Option<Secret>,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_template: String,
    #[serde(deserialize_with = "lenient_string")]
    pub whatsapp_language: String,
    pub whatsapp_timeout_ms: u64,
    pub delivery_concurrency: usize,
    pub delivery_concurrency_per_tenant: usize,
    /// The kernel scheduling policy of the server's threads, set before they start: `batch`
    /// (Linux's `SCHED_BATCH`) or `normal`.
    pub sched_policy: SchedPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTlsSetting {
    None,
    Starttls,
    Tls,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            mode: ModeSetting::Cloud,
            tenant: None,
            base_domain: Some("localhost".into()),
            operator_token: None,
            secret: None,
            idle_secs: 900,
            log_format: LogFormat::Pretty,
            log: "info".into(),
            trust_proxy_headers: false,
            max_inflight_per_tenant: 256,
            call_timeout_ms: 5_000,
            body_limit_bytes: 1024 * 1024,
            upload_limit_bytes: 50 * 1024 * 1024,
            restart_max: 3,
            restart_window_secs: 10,
            snapshot_every: 1_000,
            operator_tenant: None,
            session_idle_secs: 60 * 60,
            session_absolute_secs: 24 * 60 * 60,
            otp_lock_after: 20,
            otp_lock_secs: 15 * 60,
            otp_identity_burst: 5,
            otp_identity_per_secs: 60,
            otp_ip_burst: 20,
            otp_ip_per_secs: 10,
            edge_auth_burst: 60,
            edge_auth_per_ms: 1_000,
            sign_in_deadline_ms: 300,
            public_url: None,
            mail_from: "majlis <no-reply@localhost>".into(),
            smtp_host: None,
            smtp_port: 587,
            smtp_tls: SmtpTlsSetting::Starttls,
            smtp_username: None,
            smtp_password: None,
            whatsapp_base_url: None,
            whatsapp_version: "v21.0".into(),
            whatsapp_phone_number_id: None,
            whatsapp_token: None,
            whatsapp_template: "majlis_sign_in_code".into(),
            whatsapp_language: "en".into(),
            whatsapp_timeout_ms: 10_000,
            delivery_concurrency: 16,
            delivery_concurrency_per_tenant: 8,
            sched_policy: SchedPolicy::default(),
        }
    }
}

const KNOWN_KEYS: &[&str] = &[
    "bind",
    "data_dir",
    "mode",
    "tenant",
    "base_domain",
    "operator_token",
    "secret",
    "idle_secs",
    "log_format",
    "log",
    "trust_proxy_headers",
    "max_inflight_per_tenant",
    "call_timeout_ms",
    "body_limit_bytes",
    "upload_limit_bytes",
    "restart_max",
    "restart_window_secs",
    "snapshot_every",
    "operator_tenant",
    "session_idle_secs",
    "session_absolute_secs",
    "otp_lock_after",
    "otp_lock_secs",
    "otp_identity_burst",
    "otp_identity_per_secs",
    "otp_ip_burst",
    "otp_ip_per_secs",
    "edge_auth_burst",
    "edge_auth_per_ms",
    "sign_in_deadline_ms",
    "public_url",
    "mail_from",
    "smtp_host",
    "smtp_port",
    "smtp_tls",
    "smtp_username",
    "smtp_password",
    "whatsapp_base_url",
    "whatsapp_version",
    "whatsapp_phone_number_id",
    "whatsapp_token",
    "whatsapp_template",
    "whatsapp_language",
    "whatsapp_timeout_ms",
    "delivery_concurrency",
    "delivery_concurrency_per_tenant",
    "sched_policy",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the config file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Settings and the warnings found while reading them (printed once logging is set up).
#[derive(Debug)]
pub struct Loaded {
    pub settings: Settings,
    pub warnings: Vec<String>,
}

impl Settings {
    /// Reads defaults → file → environment. `file` is `--config`; without it the default file
    /// is read when present.
    pub fn load(file: Option<&Path>) -> Result<Loaded, ConfigError> {
        let mut figment = Figment::new();
        match file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.to_owned())),
            Some(path) => figment = figment.merge(Toml::file(path)),
            None => figment = figment.merge(Toml::file(DEFAULT_CONFIG_FILE)),
        }
        let figment = figment.merge(Env::prefixed("MAJLIS_").only(KNOWN_KEYS));
        let settings: Settings = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let warnings = std::env::vars_os()
            .filter_map(|(key, _)| key.into_string().ok())
            .filter_map(|key| {
                let name = key.strip_prefix("MAJLIS_")?.to_ascii_lowercase();
                (!KNOWN_KEYS.contains(&name.as_str()))
                    .then(|| format!("unknown environment variable {key} is ignored"))
            })
            .collect();
        Ok(Loaded { settings, warnings })
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail returns its own large error type.
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2".into());
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn defaults_then_file_then_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("m.toml", "bind = \"0.0.0.0:9000\"\nidle_secs = 60\n")?;
            jail.set_env("MAJLIS_IDLE_SECS", "5");
            jail.set_env("MAJLIS_NOT_A_SETTING", "1");
            let loaded = Settings::load(Some(Path::new("m.toml"))).expect("loads");
            assert_eq!(loaded.settings.bind, "0.0.0.0:9000");
            assert_eq!(loaded.settings.idle_secs, 5);
            assert_eq!(loaded.settings.call_timeout_ms, 5_000);
            assert!(
                loaded
                    .warnings
                    .iter()
                    .any(|w| w.contains("MAJLIS_NOT_A_SETTING"))
            );
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_is_a_clear_error() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("MAJLIS_MODE", "hybrid");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.to_lowercase().contains("mode"), "{err}");
            Ok(())
        });
    }
}
