//! The tenant's dealings with its children: starting the audit child without ever overlapping a
//! previous one, the sign-in limiter, the notifier's deliveries, and the documents child's
//! transfers.

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, SpawnErr};

use super::actor::{Phase, ReplyPort, TenantActorState};
use super::auth::Caller;
use super::commands::{Decision, Effect, Request};
use super::messages::TenantMsg;
use super::workspace::{PendingUpload, WorkspaceRequest};
use crate::audit::{AuditActor, AuditArgs, AuditMsg};
use crate::children::documents::{DocumentsActor, DocumentsArgs, DocumentsMsg, StoredBlob};
use crate::children::limiter::{LimiterActor, LimiterMsg};
use crate::children::notifier::{NotifierActor, NotifierArgs, NotifyMsg};
use crate::domain::Slug;
use crate::error::TenantError;
use crate::runtime::Shared;
use crate::store::TenantPaths;

pub(super) async fn spawn_audit(
    myself: &ActorRef<TenantMsg>,
    shared: &Shared,
    slug: &Slug,
    paths: &TenantPaths,
) -> Result<ActorRef<AuditMsg>, ActorProcessingErr> {
    let name = shared.actor_name("audit", slug);
    // A previous audit child of this tenant may still be on its way out: its name is the guard
    // that two writers of one audit trail never overlap.
    for _ in 0..200 {
        let args = AuditArgs {
            path: paths.audit(),
            tenant: myself.clone(),
        };
        match Actor::spawn_linked(Some(name.clone()), AuditActor, args, myself.get_cell()).await {
            Ok((actor, _)) => return Ok(actor),
            Err(SpawnErr::ActorAlreadyRegistered(_)) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(err) => return Err(Box::new(err)),
        }
    }
    Err(format!("audit child {name} did not stop in time").into())
}

/// The identity whose sign-in bucket a request draws from (`Some(None)`: only the address's).
pub(super) fn sign_in_identity(request: &Request) -> Option<Option<String>> {
    match request {
        Request::OtpRequest { identity, .. } => Some(Some(identity.key())),
        Request::MagicRequest { email } => Some(Some(format!("email:{email}"))),
        Request::OtpVerify { .. } | Request::MagicVerify { .. } => Some(None),
        _ => None,
    }
}

impl TenantActorState {
    /// Hands an upload or a download to the documents child, after the checks that need state.
    pub(super) async fn transfer(
        &mut self,
        myself: &ActorRef<TenantMsg>,
        request: WorkspaceRequest,
        caller: &Caller,
        ip: Option<std::net::IpAddr>,
        reply: ReplyPort,
    ) -> Result<(), ActorProcessingErr> {
        let Phase::Ready(live) = &mut self.phase else {
            return Ok(());
        };
        let checked = match &request {
            WorkspaceRequest::Download { document, version } => live
                .state
                .locate_version(caller, document, *version)
                .map(Some),
            other => live.state.prepare_upload(caller, other).map(|_| None),
        };
        let version = match checked {
            Ok(version) => version,
            Err(err) => {
                let _ = reply.send(Err(err));
                return Ok(());
            }
        };
        if live.documents.is_none() {
            let args = DocumentsArgs {
                dir: self.paths.documents(),
                tenant: myself.clone(),
                limit: self.shared.config.upload_limit,
            };
            let name = self.shared.actor_name("documents", &self.slug);
            let (documents, _) =
                Actor::spawn_linked(Some(name), DocumentsActor, args, myself.get_cell()).await?;
            live.documents = Some(documents);
        }
        let Some(documents) = &live.documents else {
            return Ok(());
        };
        match (request, version) {
            (WorkspaceRequest::Download { .. }, Some(version)) => {
                documents.cast(DocumentsMsg::Read { version, reply })?;
            }
            (upload, _) => {
                let target = live.state.prepare_upload(caller, &upload)?;
                let file = match upload {
                    WorkspaceRequest::UploadDocument { file, .. }
                    | WorkspaceRequest::ReplaceDocument { file, .. } => file,
                    _ => return Ok(()),
                };
                let pending = PendingUpload {
                    target,
                    file_name: file.file_name,
                    content_type: file.content_type,
                    uploader: caller.member_id().cloned(),
                    actor: caller.principal(),
                    ip,
                    reply,
                };
                documents.cast(DocumentsMsg::Store {
                    chunks: file.chunks,
                    pending: Box::new(pending),
                })?;
            }
        }
        Ok(())
    }

    /// An upload's bytes are on disk (or were refused): journal the document and answer.
    pub(super) fn document_stored(
        &mut self,
        pending: PendingUpload,
        result: Result<StoredBlob, TenantError>,
    ) -> Result<(), ActorProcessingErr> {
        let Phase::Ready(live) = &mut self.phase else {
            let _ = pending
                .reply
                .send(Err(TenantError::Unavailable("tenant stopping".into())));
            return Ok(());
        };
        let now = self.shared.clock.now();
        let decision = result.and_then(|blob| live.state.decide_stored(&pending, blob, now));
        let PendingUpload {
            actor, ip, reply, ..
        } = pending;
        match decision {
            Ok(Decision {
                change: Some(change),
                reply: answer,
                ..
            }) => self.stage(change, answer, actor, ip, Some(reply)),
            Ok(Decision { reply: answer, .. }) => {
                let _ = reply.send(answer);
                Ok(())
            }
            Err(err) => {
                let _ = reply.send(Err(err));
                Ok(())
            }
        }
    }

    /// Asks the limiter child for a token; `Err(seconds)` when the caller must wait.
    pub(super) async fn rate_limit(
        &mut self,
        myself: &ActorRef<TenantMsg>,
        identity: Option<String>,
        ip: Option<std::net::IpAddr>,
    ) -> Result<Result<(), u64>, ActorProcessingErr> {
        let Phase::Ready(live) = &mut self.phase else {
            return Ok(Ok(()));
        };
        if live.limiter.is_none() {
            let (limiter, _) = Actor::spawn_linked(
                Some(self.shared.actor_name("limiter", &self.slug)),
                LimiterActor,
                self.shared.config.auth.clone(),
                myself.get_cell(),
            )
            .await?;
            live.limiter = Some(limiter);
        }
        let Some(limiter) = &live.limiter else {
            return Ok(Ok(()));
        };
        Ok(ractor::call_t!(
            limiter,
            |reply| LimiterMsg::Check {
                identity,
                ip,
                reply
            },
            5_000
        )?)
    }

    pub(super) async fn start_effect(
        &mut self,
        myself: &ActorRef<TenantMsg>,
        effect: Effect,
    ) -> Result<(), ActorProcessingErr> {
        let Phase::Ready(live) = &mut self.phase else {
            return Ok(());
        };
        if live.notifier.is_none() {
            let args = NotifierArgs {
                slug: self.slug.clone(),
                mail_dir: self.paths.mail_dir(),
                delivery: self.shared.config.delivery.clone(),
                couriers: std::sync::Arc::clone(&self.shared.couriers),
                tenant: myself.clone(),
            };
            let name = self.shared.actor_name("notifier", &self.slug);
            let (notifier, _) =
                Actor::spawn_linked(Some(name), NotifierActor, args, myself.get_cell()).await?;
            live.notifier = Some(notifier);
        }
        let tenant_name = live.state.meta.name.clone();
        if let (
            Some(notifier),
            Effect::Deliver {
                member,
                channel,
                secret,
            },
        ) = (&live.notifier, effect)
        {
            notifier.cast(NotifyMsg::Deliver {
                member,
                channel,
                secret,
                tenant_name,
            })?;
        }
        Ok(())
    }
}
