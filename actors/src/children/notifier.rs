//! `NotifierActor`: delivers sign-in codes and links. Email goes through SMTP (lettre) when
//! configured, otherwise into `.eml` files in the tenant's `mail/` folder; WhatsApp goes through
//! the Business Cloud API and falls back to email, which is logged and audited. Several messages
//! of a tenant are under way at once (each in a task of its own, at most
//! `concurrency_per_tenant`), each holding one of the server's delivery slots (`Couriers`), so a
//! slow relay delays a rush of sign-ins by its latency, not by the latency times the queue.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lettre::AsyncTransport;
use lettre::message::{Mailbox, Message, header::ContentType};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinSet;

use crate::children::couriers::Couriers;
use crate::config::{DeliveryConfig, WhatsAppConfig};
use crate::domain::{Email, Phone, Slug};
use crate::store::blocking;
use crate::tenant::{Channel, Member, Secret, TenantMsg};

#[derive(Debug)]
pub struct NotifierActor;

#[derive(Debug)]
pub struct NotifierArgs {
    pub slug: Slug,
    pub mail_dir: PathBuf,
    pub delivery: DeliveryConfig,
    pub couriers: Arc<Couriers>,
    pub tenant: ActorRef<TenantMsg>,
}

#[derive(Debug)]
pub enum NotifyMsg {
    Deliver {
        member: Member,
        channel: Channel,
        secret: Secret,
        tenant_name: String,
    },
}

#[derive(Debug)]
pub struct NotifierState {
    route: Arc<Route>,
    /// Deliveries under way, at most `concurrency_per_tenant`; dropped (and so aborted) with the
    /// state if the actor fails, waited for when it stops.
    under_way: JoinSet<()>,
}

/// What every delivery of the tenant needs, shared by those under way.
struct Route {
    args: NotifierArgs,
    /// Mail files written, so that two in the same millisecond get different names.
    mailed: AtomicU64,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("slug", &self.args.slug)
            .finish_non_exhaustive()
    }
}

/// A delivery that did not go as asked, for the tenant's audit trail.
#[derive(Debug, Clone)]
pub struct DeliveryNote {
    pub action: &'static str,
    pub target: String,
    pub detail: serde_json::Value,
}

impl Actor for NotifierActor {
    type Msg = NotifyMsg;
    type State = NotifierState;
    type Arguments = NotifierArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: NotifierArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(NotifierState {
            route: Arc::new(Route {
                args,
                mailed: AtomicU64::new(0),
            }),
            under_way: JoinSet::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            NotifyMsg::Deliver {
                member,
                channel,
                secret,
                tenant_name,
            } => {
                let limit = state.route.args.delivery.concurrency_per_tenant.max(1);
                while let Some(done) = state.under_way.try_join_next() {
                    state.route.reap(done);
                }
                // The tenant's own bound: later messages wait in the mailbox, in order.
                while state.under_way.len() >= limit {
                    if let Some(done) = state.under_way.join_next().await {
                        state.route.reap(done);
                    }
                }
                let route = Arc::clone(&state.route);
                state.under_way.spawn(async move {
                    route.deliver(&member, channel, &secret, &tenant_name).await;
                });
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Messages already under way still go out before the tenant stops.
        while let Some(done) = state.under_way.join_next().await {
            state.route.reap(done);
        }
        Ok(())
    }
}

impl Route {
    /// Logs a delivery task that panicked; it audited nothing, so the log is all there is.
    fn reap(&self, done: Result<(), tokio::task::JoinError>) {
        if let Err(error) = done
            && error.is_panic()
        {
            tracing::error!(tenant = %self.args.slug, %error, "a delivery failed unexpectedly");
        }
    }

    /// Delivers one message in one of the server's slots, and tells the tenant what to audit.
    async fn deliver(&self, member: &Member, channel: Channel, secret: &Secret, tenant_name: &str) {
        let Some(_slot) = self.args.couriers.slot().await else {
            return;
        };
        for note in self.notes_of(member, channel, secret, tenant_name).await {
            let _ = self.args.tenant.cast(TenantMsg::Notified(note));
        }
    }

    async fn notes_of(
        &self,
        member: &Member,
        channel: Channel,
        secret: &Secret,
        tenant_name: &str,
    ) -> Vec<DeliveryNote> {
        let mut notes = Vec::new();
        if channel == Channel::Whatsapp {
            let whatsapp = match (&self.args.delivery.whatsapp, &member.phone, secret) {
                (Some(config), Some(phone), Secret::Code(code)) => {
                    self.send_whatsapp(config, phone, code.as_str()).await
                }
                (None, _, _) => Err("WhatsApp is not configured".to_owned()),
                (_, None, _) => Err("the member has no phone".to_owned()),
                (_, _, Secret::MagicToken(_)) => Err("links go by email".to_owned()),
            };
            match whatsapp {
                Ok(()) => return notes,
                Err(reason) => {
                    tracing::warn!(tenant = %self.args.slug, member = %member.id, %reason,
                        "WhatsApp delivery failed; falling back to email");
                    notes.push(DeliveryNote {
                        action: "notify.whatsapp_fallback",
                        target: member.id.to_string(),
                        detail: serde_json::json!({ "reason": reason, "fallback": member.email.is_some() }),
                    });
                }
            }
        }
        let Some(email) = &member.email else {
            notes.push(DeliveryNote {
                action: "notify.undeliverable",
                target: member.id.to_string(),
                detail: serde_json::json!({ "reason": "no email to fall back to" }),
            });
            return notes;
        };
        if let Err(reason) = self.send_email(member, email, secret, tenant_name).await {
            tracing::error!(tenant = %self.args.slug, member = %member.id, %reason, "email delivery failed");
            notes.push(DeliveryNote {
                action: "notify.email_failed",
                target: member.id.to_string(),
                detail: serde_json::json!({ "reason": reason }),
            });
        }
        notes
    }

    async fn send_whatsapp(
        &self,
        config: &WhatsAppConfig,
        phone: &Phone,
        code: &str,
    ) -> Result<(), String> {
        let url = format!(
            "{}/{}/{}/messages",
            config.base_url.trim_end_matches('/'),
            config.version,
            config.phone_number_id
        );
        let body = serde_json::json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": phone.as_str().trim_start_matches('+'),
            "type": "template",
            "template": {
                "name": config.template,
                "language": { "code": config.language },
                "components": [
                    { "type": "body", "parameters": [ { "type": "text", "text": code } ] },
                    { "type": "button", "sub_type": "url", "index": "0",
                      "parameters": [ { "type": "text", "text": code } ] }
                ]
            }
        });
        let response = self
            .args
            .couriers
            .http()
            .post(url)
            .bearer_auth(&config.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the API answered {}", response.status()))
        }
    }

    async fn send_email(
        &self,
        member: &Member,
        email: &Email,
        secret: &Secret,
        tenant_name: &str,
    ) -> Result<(), String> {
        let (subject, body) = match secret {
            Secret::Code(code) => (
                format!("Your sign-in code for {tenant_name}"),
                format!(
                    "Hello {},\n\nYour sign-in code for {tenant_name} is:\n\n    {}\n\nIt expires in 10 minutes and works once. If you did not ask for it, ignore this message.\n",
                    member.name,
                    code.as_str()
                ),
            ),
            Secret::MagicToken(token) => {
                let base = self
                    .args
                    .delivery
                    .public_url
                    .replace("{slug}", self.args.slug.as_str());
                (
                    format!("Sign in to {tenant_name}"),
                    format!(
                        "Hello {},\n\nFollow this link to sign in to {tenant_name}:\n\n    {base}/auth/magic/{token}\n\nIt expires in 10 minutes and works once. If you did not ask for it, ignore this message.\n",
                        member.name
                    ),
                )
            }
        };
        let from: Mailbox = self
            .args
            .delivery
            .mail_from
            .parse()
            .map_err(|e| format!("mail_from: {e}"))?;
        let to: Mailbox = email
            .as_str()
            .parse()
            .map_err(|e| format!("recipient: {e}"))?;
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| format!("building the message: {e}"))?;
        match self.args.couriers.smtp() {
            Some(transport) => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| format!("SMTP: {e}")),
            None => {
                let dir = self.args.mail_dir.clone();
                // Named by time, then by count, so the folder lists mail in the order it was
                // written; never over an existing file.
                let name = format!(
                    "{}-{:06}-{}.eml",
                    jiff::Timestamp::now().as_millisecond(),
                    self.mailed.fetch_add(1, Ordering::Relaxed) % 1_000_000,
                    member.id
                );
                let path = dir.join(&name);
                let bytes = message.formatted();
                blocking(|| {
                    use std::io::Write;
                    std::fs::create_dir_all(&dir)?;
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&path)?
                        .write_all(&bytes)
                })
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
                tracing::info!(tenant = %self.args.slug, path = %path.display(), "mail written to the mail folder (no SMTP configured)");
                Ok(())
            }
        }
    }
}
