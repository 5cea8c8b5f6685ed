//! `Application`: turns settings into a running server (runtime + listener + router), and the
//! offline commands that use the runtime without a listener.

use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use majlis_actors::config::{AuthConfig, DeliveryConfig, SmtpConfig, SmtpTls, WhatsAppConfig};
use majlis_actors::domain::{HostName, Slug};
use majlis_actors::manager::ManagerMsg;
use majlis_actors::{Clock, Mode, Runtime, RuntimeConfig, StartError};
use majlis_http::{AppState, HttpConfig};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use crate::config::{ModeSetting, Secret, Settings, SmtpTlsSetting};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Runtime(#[from] StartError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read or create the server secret: {0}")]
    Secret(std::io::Error),
}

/// Checks the settings that the types alone cannot, and builds the runtime's configuration.
pub fn runtime_config(settings: &Settings, secret: &Secret) -> Result<RuntimeConfig, StartupError> {
    let mode = match settings.mode {
        ModeSetting::Cloud => Mode::Cloud,
        ModeSetting::Onprem => {
            let raw = settings.tenant.as_deref().ok_or_else(|| {
                StartupError::Config(
                    "MAJLIS_MODE=onprem needs MAJLIS_TENANT=<slug>, the one tenant this server serves"
                        .into(),
                )
            })?;
            let tenant = Slug::parse(raw)
                .map_err(|e| StartupError::Config(format!("MAJLIS_TENANT: {e}")))?;
            Mode::OnPrem { tenant }
        }
    };
    let base_domain = settings
        .base_domain
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(HostName::parse)
        .transpose()
        .map_err(|e| StartupError::Config(format!("MAJLIS_BASE_DOMAIN: {e}")))?;
    if settings.idle_secs == 0 || settings.max_inflight_per_tenant == 0 {
        return Err(StartupError::Config(
            "idle_secs and max_inflight_per_tenant must be at least 1".into(),
        ));
    }
    if settings.otp_lock_after == 0 || settings.otp_lock_after > 100 {
        return Err(StartupError::Config(
            "otp_lock_after must be between 1 and 100 (NIST SP 800-63B)".into(),
        ));
    }
    let operator_tenant = settings
        .operator_tenant
        .as_deref()
        .map(Slug::parse)
        .transpose()
        .map_err(|e| StartupError::Config(format!("MAJLIS_OPERATOR_TENANT: {e}")))?;
    let secs = Duration::from_secs;
    let auth = AuthConfig {
        secret: std::sync::Arc::from(secret.expose().as_bytes()),
        code_ttl: secs(600),
        lock_after: settings.otp_lock_after,
        lock_for: secs(settings.otp_lock_secs),
        session_idle: secs(settings.session_idle_secs),
        session_absolute: secs(settings.session_absolute_secs),
        operator_tenant,
        operator_session_absolute: secs(settings.session_absolute_secs.min(12 * 60 * 60)),
        otp_identity_burst: settings.otp_identity_burst,
        otp_identity_per: secs(settings.otp_identity_per_secs),
        otp_ip_burst: settings.otp_ip_burst,
        otp_ip_per: secs(settings.otp_ip_per_secs),
    };
    let port = settings.bind.rsplit(':').next().unwrap_or("8080");
    let base = settings
        .base_domain
        .clone()
        .unwrap_or_else(|| "localhost".into());
    let delivery = DeliveryConfig {
        smtp: settings.smtp_host.as_ref().map(|host| SmtpConfig {
            host: host.clone(),
            port: settings.smtp_port,
            tls: match settings.smtp_tls {
                SmtpTlsSetting::None => SmtpTls::None,
                SmtpTlsSetting::Starttls => SmtpTls::StartTls,
                SmtpTlsSetting::Tls => SmtpTls::Tls,
            },
            username: settings.smtp_username.clone(),
            password: settings
                .smtp_password
                .as_ref()
                .map(|p| p.expose().to_owned()),
            timeout: secs(15),
        }),
        mail_from: settings.mail_from.clone(),
        whatsapp: match (
            &settings.whatsapp_base_url,
            &settings.whatsapp_phone_number_id,
            &settings.whatsapp_token,
        ) {
            (Some(base_url), Some(phone_number_id), Some(token)) => Some(WhatsAppConfig {
                base_url: base_url.clone(),
                version: settings.whatsapp_version.clone(),
                phone_number_id: phone_number_id.clone(),
                token: token.expose().to_owned(),
                template: settings.whatsapp_template.clone(),
                language: settings.whatsapp_language.clone(),
                timeout: Duration::from_millis(settings.whatsapp_timeout_ms.max(1)),
            }),
            _ => None,
        },
        public_url: settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{{slug}}.{base}:{port}")),
        concurrency: settings.delivery_concurrency.max(1),
        // On-prem the one tenant has no other to leave slots to.
        concurrency_per_tenant: if matches!(mode, Mode::OnPrem { .. }) {
            settings.delivery_concurrency.max(1)
        } else {
            settings.delivery_concurrency_per_tenant.max(1)
        },
    };
    Ok(RuntimeConfig {
        auth,
        delivery,
        data_root: settings.data_dir.clone(),
        mode,
        base_domain,
        idle: Duration::from_secs(settings.idle_secs),
        restart_max: settings.restart_max,
        restart_window: Duration::from_secs(settings.restart_window_secs),
        snapshot_every: settings.snapshot_every.max(1),
        max_inflight_per_tenant: settings.max_inflight_per_tenant,
        upload_limit: settings.upload_limit_bytes,
    })
}

/// The server secret: `MAJLIS_SECRET`, or one generated on first start and kept (mode 0600) in
/// the data root.
pub fn load_or_create_secret(settings: &Settings) -> Result<Secret, StartupError> {
    if let Some(secret) = &settings.secret {
        return Ok(secret.clone());
    }
    let path = settings.data_dir.join("secret");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(Secret::new(text.trim().to_owned())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StartupError::Secret(e)),
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(StartupError::Secret)?;
    use std::io::Write;
    file.write_all(secret.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(StartupError::Secret)?;
    Ok(Secret::new(secret))
}

pub struct Application {
    listener: TcpListener,
    runtime: Runtime,
    app: AppState,
    settings: Settings,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port())
            .finish()
    }
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        std::fs::create_dir_all(&settings.data_dir).map_err(StartupError::Secret)?;
        let secret = load_or_create_secret(&settings)?;
        let config = runtime_config(&settings, &secret)?;
        let onprem = matches!(config.mode, Mode::OnPrem { .. });
        let public_url = config.delivery.public_url.clone();
        let clock = Clock::system();
        let runtime = Runtime::start(config, clock.clone()).await?;
        let http = HttpConfig {
            operator_token_sha256: settings
                .operator_token
                .as_ref()
                .filter(|t| !t.expose().is_empty())
                .map(|t| Sha256::digest(t.expose().trim().as_bytes()).to_vec()),
            body_limit: settings.body_limit_bytes,
            call_timeout: Duration::from_millis(settings.call_timeout_ms.max(1)),
            trust_proxy_headers: settings.trust_proxy_headers,
            onprem,
            cookie_secret: secret.expose().as_bytes().to_vec(),
            sign_in_deadline: Duration::from_millis(settings.sign_in_deadline_ms),
            edge_auth_burst: settings.edge_auth_burst,
            edge_auth_per: Duration::from_millis(settings.edge_auth_per_ms.max(1)),
            public_url,
            #[cfg(feature = "fault-injection")]
            clock,
        };
        #[cfg(not(feature = "fault-injection"))]
        let _ = clock;
        let app = AppState::new(runtime.manager(), http);
        let listener =
            TcpListener::bind(&settings.bind)
                .await
                .map_err(|source| StartupError::Bind {
                    addr: settings.bind.clone(),
                    source,
                })?;
        Ok(Self {
            listener,
            runtime,
            app,
            settings,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Tells a person where the server is and how to sign in or create the first tenant.
    pub async fn banner(&self) -> String {
        let addr = self.listener.local_addr().ok();
        let port = self.port();
        let host = addr.map(|a| a.ip().to_string()).unwrap_or_default();
        let mut text = format!(
            "majlis {} listening on http://{host}:{port} (data in {})\n",
            env!("CARGO_PKG_VERSION"),
            self.settings.data_dir.display()
        );
        let tenants = match self.runtime.manager().get() {
            Some(manager) => manager
                .call(ManagerMsg::List, Some(Duration::from_secs(5)))
                .await
                .ok()
                .and_then(|r| match r {
                    ractor::rpc::CallResult::Success(list) => Some(list),
                    _ => None,
                })
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let base = self
            .settings
            .base_domain
            .clone()
            .unwrap_or_else(|| "localhost".into());
        if let Mode::OnPrem { tenant } = &self.runtime.shared().config.mode {
            text += &format!("on-prem mode: every request is tenant '{tenant}'\n");
            text += &format!("sign in at http://{host}:{port}/\n");
        } else if tenants.is_empty() {
            text += "no tenants yet; create the first one with:\n";
            text += "  majlis tenant create --slug acme --name \"Acme Board\" --plan pro --sector corporate\n";
            text += &format!("then sign in at http://acme.{base}:{port}/\n");
        } else {
            text += "sign in at:\n";
            for view in tenants {
                text += &format!("  http://{}.{base}:{port}/\n", view.slug);
            }
        }
        text
    }

    /// Serves until SIGINT or SIGTERM, then drains connections and passivates every tenant.
    pub async fn run_until_stopped(self) {
        let Self {
            listener,
            mut runtime,
            app,
            ..
        } = self;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::serve::serve(
            listener,
            majlis_http::app(app),
            async move {
                let _ = stop_rx.await;
            },
        ));
        let trimmer = tokio::spawn(crate::allocator::trim_after_passivation(runtime.manager()));
        tokio::select! {
            () = shutdown_signal() => tracing::info!("shutting down"),
            () = runtime.stopped() => tracing::error!("the actor runtime stopped"),
        }
        let _ = stop_tx.send(());
        trimmer.abort();
        if let Err(err) = server.await {
            tracing::error!(error = %err, "the accept loop ended abnormally");
        }
        runtime.shutdown().await;
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = interrupt => {}
        () = async {
            match terminate.as_mut() {
                Some(s) => { s.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// Runs `work` against a runtime started on the data root, without a listener; fails when a
/// server already holds that data root.
pub async fn with_offline_runtime<T>(
    settings: &Settings,
    work: impl AsyncFnOnce(&Runtime) -> T,
) -> Result<T, StartupError> {
    std::fs::create_dir_all(&settings.data_dir).map_err(StartupError::Secret)?;
    let secret = load_or_create_secret(settings)?;
    let config = runtime_config(settings, &secret)?;
    let runtime = Runtime::start(config, Clock::system()).await?;
    let out = work(&runtime).await;
    runtime.shutdown().await;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_prem_the_one_tenant_may_use_every_delivery_slot() {
        let secret = Secret::new("0".repeat(64));
        let cloud = Settings {
            delivery_concurrency: 12,
            delivery_concurrency_per_tenant: 3,
            ..Settings::default()
        };
        let delivery = runtime_config(&cloud, &secret).expect("config").delivery;
        assert_eq!(
            (delivery.concurrency, delivery.concurrency_per_tenant),
            (12, 3)
        );
        let onprem = Settings {
            mode: ModeSetting::Onprem,
            tenant: Some("acme".into()),
            ..cloud
        };
        let delivery = runtime_config(&onprem, &secret).expect("config").delivery;
        assert_eq!(
            (delivery.concurrency, delivery.concurrency_per_tenant),
            (12, 12)
        );
    }
}
