//! `NotifierActor`: delivers sign-in codes and links. Email goes through SMTP (lettre) when
//! configured, otherwise into `.eml` files in the tenant's `mail/` folder; WhatsApp goes through
//! the Business Cloud API and falls back to email, which is logged and audited.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, Message, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::config::{DeliveryConfig, SmtpTls, WhatsAppConfig};
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

pub struct NotifierState {
    args: NotifierArgs,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for NotifierState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifierState")
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
        let smtp = match &args.delivery.smtp {
            None => None,
            Some(config) => {
                let builder = match config.tls {
                    SmtpTls::None => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
                    }
                    SmtpTls::StartTls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)?
                    }
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)?,
                };
                let mut builder = builder.port(config.port).timeout(Some(config.timeout));
                if let (Some(user), Some(password)) = (&config.username, &config.password) {
                    builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
                }
                Some(builder.build())
            }
        };
        let http = reqwest::Client::builder()
            .timeout(
                args.delivery
                    .whatsapp
                    .as_ref()
                    .map_or(Duration::from_secs(10), |w| w.timeout),
            )
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(NotifierState { args, smtp, http })
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
                for note in state.deliver(&member, channel, &secret, &tenant_name).await {
                    let _ = state.args.tenant.cast(TenantMsg::Notified(note));
                }
            }
        }
        Ok(())
    }
}

impl NotifierState {
    async fn deliver(
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
            .http
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
        match &self.smtp {
            Some(transport) => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| format!("SMTP: {e}")),
            None => {
                let dir = self.args.mail_dir.clone();
                let name = format!(
                    "{}-{}.eml",
                    jiff::Timestamp::now().as_millisecond(),
                    member.id
                );
                let path = dir.join(&name);
                let bytes = message.formatted();
                blocking(|| {
                    std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, bytes))
                })
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
                tracing::info!(tenant = %self.args.slug, path = %path.display(), "mail written to the mail folder (no SMTP configured)");
                Ok(())
            }
        }
    }
}
