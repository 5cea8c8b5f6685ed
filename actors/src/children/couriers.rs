//! `Couriers`: the server's ways out for messages, built once when the runtime starts and shared
//! by every tenant's notifier — one SMTP transport that keeps a pool of open connections to the
//! relay, one HTTP client for the WhatsApp Cloud API, and a bound on the messages being delivered
//! at once across all tenants, so that a relay never sees more connections than it is given.

use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::config::{DeliveryConfig, SmtpTls};

/// How long an idle connection to the relay is kept open for the next message.
const SMTP_IDLE: Duration = Duration::from_secs(60);

pub struct Couriers {
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    http: reqwest::Client,
    /// One permit a message being delivered, across the whole server.
    in_flight: Semaphore,
}

impl std::fmt::Debug for Couriers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Couriers")
            .field("smtp", &self.smtp.is_some())
            .field("free_slots", &self.in_flight.available_permits())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CourierError {
    #[error("the SMTP relay {host}: {source}")]
    Smtp {
        host: String,
        #[source]
        source: lettre::transport::smtp::Error,
    },
    #[error("the HTTP client for the WhatsApp Cloud API: {0}")]
    Http(#[from] reqwest::Error),
}

impl Couriers {
    /// Builds the transports of `config`. Call it inside the tokio runtime: the SMTP pool keeps a
    /// task there that closes connections left idle.
    pub fn build(config: &DeliveryConfig) -> Result<Self, CourierError> {
        let in_flight = config.concurrency.max(1);
        let smtp = match &config.smtp {
            None => None,
            Some(smtp) => {
                let relay = |error| CourierError::Smtp {
                    host: smtp.host.clone(),
                    source: error,
                };
                let builder = match smtp.tls {
                    SmtpTls::None => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
                    }
                    SmtpTls::StartTls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                            .map_err(relay)?
                    }
                    SmtpTls::Tls => {
                        AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(relay)?
                    }
                };
                let mut builder = builder
                    .port(smtp.port)
                    .timeout(Some(smtp.timeout))
                    .pool_config(
                        PoolConfig::new()
                            .max_size(u32::try_from(in_flight).unwrap_or(u32::MAX))
                            .idle_timeout(SMTP_IDLE),
                    );
                if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
                    builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
                }
                Some(builder.build())
            }
        };
        let http = reqwest::Client::builder()
            .timeout(
                config
                    .whatsapp
                    .as_ref()
                    .map_or(Duration::from_secs(10), |w| w.timeout),
            )
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            smtp,
            http,
            in_flight: Semaphore::new(in_flight),
        })
    }

    /// The relay's transport, when one is configured (otherwise mail goes to the file mailer).
    pub fn smtp(&self) -> Option<&AsyncSmtpTransport<Tokio1Executor>> {
        self.smtp.as_ref()
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Waits for one of the server's delivery slots, held while one message is delivered.
    pub async fn slot(&self) -> Option<SemaphorePermit<'_>> {
        self.in_flight.acquire().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SmtpConfig;

    fn relay(tls: SmtpTls) -> DeliveryConfig {
        DeliveryConfig {
            smtp: Some(SmtpConfig {
                host: "smtp.example.om".into(),
                port: 587,
                tls,
                username: Some("portal".into()),
                password: Some("secret".into()),
                timeout: Duration::from_secs(5),
            }),
            concurrency: 3,
            ..DeliveryConfig::default()
        }
    }

    #[tokio::test]
    async fn every_tls_mode_builds_a_pooled_transport_and_slots_are_bounded() {
        for tls in [SmtpTls::None, SmtpTls::StartTls, SmtpTls::Tls] {
            let couriers = Couriers::build(&relay(tls)).expect("built");
            assert!(couriers.smtp().is_some());
            let slots = [
                couriers.slot().await,
                couriers.slot().await,
                couriers.slot().await,
            ];
            assert!(slots.iter().all(Option::is_some));
            assert_eq!(couriers.in_flight.available_permits(), 0);
            drop(slots);
            assert_eq!(couriers.in_flight.available_permits(), 3);
        }
        let files = Couriers::build(&DeliveryConfig::default()).expect("built");
        assert!(files.smtp().is_none());
        assert!(files.slot().await.is_some(), "at least one slot");
    }
}
