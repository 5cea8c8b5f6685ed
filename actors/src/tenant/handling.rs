//! How the tenant actor handles a request: the caller authenticated and its access checked,
//! then decided and staged at once, or, for the few requests that wait on a child first (a
//! sign-in's rate limit, an audit query, a document transfer), after that wait.

use ractor::{ActorProcessingErr, ActorRef};
use tracing::Instrument;

use super::actor::{Phase, ReplyPort, TenantActorState};
use super::auth::Caller;
use super::children::{sign_in_identity, spawn_audit};
use super::commands::{Change, Decision, Request, RequestCtx};
use super::messages::{Admission, Envelope, TenantMsg};
use super::workspace::WorkspaceRequest;
use crate::audit::{AuditMsg, Diff};
use crate::error::TenantError;

/// What became of a request handed to the actor.
pub(super) enum Handled {
    /// Answered, refused or staged for the next flush.
    Done,
    /// Checked, and waiting on a child before it can be decided.
    Waits(Box<Checked>),
}

/// A request whose caller is known and allowed to make it.
pub(super) struct Checked {
    ctx: RequestCtx,
    request: Request,
    reply: ReplyPort,
    caller: Caller,
    now: jiff::Timestamp,
    /// Still counted against the in-flight bound until answered.
    _admission: Option<Admission>,
}

impl Checked {
    /// Whether this request waits on a child before it is decided.
    fn waits(&self) -> bool {
        sign_in_identity(&self.request).is_some()
            || matches!(self.request, Request::Audit(_) | Request::AuditExport(_))
            || is_transfer(&self.request)
    }
}

fn is_transfer(request: &Request) -> bool {
    matches!(
        request,
        Request::Workspace(
            WorkspaceRequest::UploadDocument { .. }
                | WorkspaceRequest::ReplaceDocument { .. }
                | WorkspaceRequest::Download { .. }
        )
    )
}

impl TenantActorState {
    fn request_span(&self, ctx: &RequestCtx) -> tracing::Span {
        tracing::info_span!(
            "tenant_request",
            tenant = %self.slug,
            request_id = ctx.request_id.as_deref().unwrap_or("-"),
        )
    }

    /// Checks the request and, unless it waits on a child, decides and stages it.
    pub(super) fn request_now(
        &mut self,
        envelope: Envelope,
    ) -> Result<Handled, ActorProcessingErr> {
        let span = self.request_span(&envelope.ctx);
        let _guard = span.enter();
        let Some(checked) = self.check(envelope) else {
            return Ok(Handled::Done);
        };
        if checked.waits() {
            return Ok(Handled::Waits(Box::new(checked)));
        }
        self.decide_and_stage(checked)?;
        Ok(Handled::Done)
    }

    /// Goes on with a request that waits on a child: the wait, then the decision.
    pub(super) async fn request_after_wait(
        &mut self,
        myself: &ActorRef<TenantMsg>,
        checked: Box<Checked>,
    ) -> Result<(), ActorProcessingErr> {
        let span = self.request_span(&checked.ctx);
        self.wait_then_decide(myself, *checked)
            .instrument(span)
            .await
    }

    /// The caller authenticated and allowed to make the request; `None` once it is answered.
    fn check(&mut self, envelope: Envelope) -> Option<Checked> {
        let live = match &mut self.phase {
            Phase::Ready(live) => live,
            Phase::Broken(reason) => {
                envelope.refuse(TenantError::Unavailable(reason.clone()));
                return None;
            }
            Phase::Loading => {
                envelope.refuse(TenantError::Unavailable("still loading".into()));
                return None;
            }
        };
        let Envelope {
            ctx,
            request,
            reply,
            admission,
        } = envelope;
        let now = self.shared.clock.now();
        let caller = match live
            .state
            .authenticate(&ctx.credential, now, &self.shared.config.auth)
        {
            Ok(caller) => caller,
            Err(err) => {
                let _ = reply.send(Err(err));
                return None;
            }
        };
        if let Err(err) = live.state.check_access(&caller, request.access()) {
            let _ = reply.send(Err(err));
            return None;
        }
        Some(Checked {
            ctx,
            request,
            reply,
            caller,
            now,
            _admission: admission,
        })
    }

    async fn wait_then_decide(
        &mut self,
        myself: &ActorRef<TenantMsg>,
        checked: Checked,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(identity) = sign_in_identity(&checked.request)
            && let Err(wait) = self.rate_limit(myself, identity, checked.ctx.ip).await?
        {
            let _ = checked.reply.send(Err(TenantError::RateLimited {
                retry_after_secs: wait,
            }));
            return Ok(());
        }
        let Phase::Ready(live) = &mut self.phase else {
            return Ok(());
        };
        if let Request::Audit(query) | Request::AuditExport(query) = &checked.request {
            if matches!(checked.request, Request::AuditExport(_))
                && live.state.meta.plan < crate::catalog::Plan::Pro
            {
                let _ = checked.reply.send(Err(TenantError::PlanRequired(
                    "the audit export needs the pro plan or above".into(),
                )));
                return Ok(());
            }
            let query = query.clone();
            if live.audit.is_none() {
                live.audit =
                    Some(spawn_audit(myself, &self.shared, &self.slug, &self.paths).await?);
            }
            if let Some(audit) = &live.audit {
                audit.cast(AuditMsg::Query {
                    query,
                    reply: checked.reply,
                })?;
            }
            return Ok(());
        }
        if is_transfer(&checked.request)
            && let Request::Workspace(workspace) = checked.request
        {
            let (caller, ip) = (&checked.caller, checked.ctx.ip);
            return self
                .transfer(myself, workspace, caller, ip, checked.reply)
                .await;
        }
        self.decide_and_stage(checked)
    }

    /// Decides the request and stages its change, or answers it once the writes before it are
    /// durable.
    fn decide_and_stage(&mut self, checked: Checked) -> Result<(), ActorProcessingErr> {
        let Phase::Ready(live) = &mut self.phase else {
            return Ok(());
        };
        let Checked {
            ctx,
            request,
            reply,
            caller,
            now,
            _admission,
        } = checked;
        let module = request.module();
        let decision = match live
            .state
            .decide(request, now, &caller, &self.shared.config.auth)
        {
            Ok(decision) => decision,
            Err(err) => {
                let _ = reply.send(Err(err));
                return Ok(());
            }
        };
        let Decision {
            mut change,
            reply: answer,
            effect,
        } = decision;
        // Every read by the operator is on the record, in the tenant's own trail.
        if change.is_none()
            && matches!(caller, Caller::OperatorReadOnly | Caller::OperatorAdmin)
            && answer.is_ok()
        {
            change = Some(Change {
                action: "operator.read",
                module,
                target: self.slug.to_string(),
                diff: Diff::none(),
                op: super::state::Op::Accessed,
            });
        }
        match change {
            Some(change) => self.stage(change, answer, caller.principal(), ctx.ip, Some(reply))?,
            None => self.answer_after_pending(reply, answer),
        }
        if let Some(effect) = effect {
            self.after_pending(effect);
        }
        Ok(())
    }
}
