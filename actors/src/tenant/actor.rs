//! `TenantActor`: the only writer of one tenant's directory. Writes are staged in the journal and
//! acknowledged after one shared fdatasync (group commit, see `group_commit`); the audit child
//! gets each batch after.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use super::children::spawn_audit;
use super::commands::{Change, JournalRecord, Reply};
use super::group_commit::Pending;
use super::handling::Handled;
use super::load::{self, LoadError, Loaded};
#[cfg(feature = "fault-injection")]
use super::messages::Fault;
use super::messages::{Creation, TenantMsg};
use super::state::TenantState;
use crate::audit::{AuditBatch, AuditEntry, AuditMsg};
use crate::children::documents::DocumentsMsg;
use crate::children::limiter::LimiterMsg;
use crate::children::notifier::NotifyMsg;
use crate::domain::Principal;
use crate::domain::Slug;
use crate::error::TenantError;
use crate::manager::{ChildView, ManagerMsg, TenantView};
use crate::runtime::Shared;
use crate::store::{StoreError, TenantPaths, blocking};
use crate::supervision::RestartBudget;

/// How long a stopping tenant waits for its audit child.
const CHILD_STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct TenantActor;

#[derive(Debug)]
pub struct TenantArgs {
    pub slug: Slug,
    pub shared: Arc<Shared>,
    pub manager: ActorRef<ManagerMsg>,
    pub creation: Option<Creation>,
}

#[derive(Debug)]
pub struct TenantActorState {
    pub(super) slug: Slug,
    pub(super) paths: TenantPaths,
    pub(super) shared: Arc<Shared>,
    pub(super) manager: ActorRef<ManagerMsg>,
    pub(super) creation: Option<Creation>,
    pub(super) phase: Phase,
}

#[derive(Debug)]
pub(super) enum Phase {
    Loading,
    Ready(Box<Live>),
    /// The files are damaged: every request is refused until an operator acts.
    Broken(String),
}

pub(super) type ReplyPort = RpcReplyPort<Result<Reply, TenantError>>;

#[derive(Debug)]
pub(super) struct Live {
    pub(super) state: TenantState,
    pub(super) journal: crate::store::Journal,
    /// Staged changes, the batch being written, and the answers waiting for them.
    pub(super) pending: Pending,
    /// Entries sent to the audit child and not yet confirmed written (resent if it fails).
    pub(super) unaudited: VecDeque<AuditBatch>,
    pub(super) audit: Option<ActorRef<AuditMsg>>,
    pub(super) audit_budget: RestartBudget,
    pub(super) limiter: Option<ActorRef<LimiterMsg>>,
    pub(super) notifier: Option<ActorRef<NotifyMsg>>,
    pub(super) documents: Option<ActorRef<DocumentsMsg>>,
    /// A compaction writing a snapshot beside the actor.
    pub(super) compaction: Option<super::compaction::Compaction>,
    /// Journal records before the next compaction may start, after one that could not retire
    /// its rotated journal (0: the usual threshold).
    pub(super) compact_after: u64,
    /// The members file of the last snapshot, for the next one to copy unchanged members from
    /// (with a compaction while one runs).
    pub(super) members_file: Option<super::members_file::MembersFile>,
}

impl Actor for TenantActor {
    type Msg = TenantMsg;
    type State = TenantActorState;
    type Arguments = TenantArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: TenantArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        // Loading happens in the first message, so the manager is never blocked on disk.
        myself.send_message(TenantMsg::Load)?;
        Ok(TenantActorState {
            paths: TenantPaths::new(&args.shared.config.data_root, &args.slug),
            slug: args.slug,
            shared: args.shared,
            manager: args.manager,
            creation: args.creation,
            phase: Phase::Loading,
        })
    }

    // Each arm that awaits is boxed: an idle tenant's task then holds a small state machine
    // rather than room for the largest of its handlers (which, for thousands of active tenants,
    // was most of their memory).
    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            TenantMsg::Load => Box::pin(state.load(&myself)).await,
            // Most requests are answered or staged here and now; only those that wait on a child
            // (a sign-in's rate limit, an audit query, a document transfer) become a future, so
            // the common one allocates none of that future's size.
            TenantMsg::Request(envelope) => match state.request_now(envelope)? {
                Handled::Done => Ok(()),
                Handled::Waits(checked) => {
                    Box::pin(state.request_after_wait(&myself, checked)).await
                }
            },
            TenantMsg::DocumentStored { pending, result } => {
                state.document_stored(*pending, result)
            }
            TenantMsg::Notified(note) => {
                let change = Change {
                    action: note.action,
                    module: "notifications",
                    target: note.target,
                    diff: note.detail.into(),
                    op: super::state::Op::Accessed,
                };
                state.stage(change, Ok(Reply::Done), Principal::System, None, None)
            }
            TenantMsg::Flushed => Box::pin(state.flushed(&myself)).await,
            TenantMsg::Compacted => Box::pin(state.compacted()).await,
            TenantMsg::Audited(seq) => {
                if let Phase::Ready(live) = &mut state.phase {
                    while live
                        .unaudited
                        .front()
                        .is_some_and(|b| last_seq_of(b) <= seq)
                    {
                        live.unaudited.pop_front();
                    }
                }
                Ok(())
            }
            TenantMsg::Inspect { view, reply } => {
                let _ = reply.send(Ok(state.inspect(view)));
                Ok(())
            }
            TenantMsg::Passivate => {
                Box::pin(state.passivate(&myself)).await?;
                myself.stop(Some("passivated".into()));
                Ok(())
            }
            #[cfg(feature = "fault-injection")]
            TenantMsg::Fault(fault, reply) => Box::pin(state.inject(fault, reply)).await,
        }
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let Phase::Ready(live) = &mut state.phase else {
            return Ok(());
        };
        let is_audit = |cell: &ractor::ActorCell| {
            live.audit
                .as_ref()
                .is_some_and(|a| a.get_id() == cell.get_id())
        };
        match event {
            SupervisionEvent::ActorFailed(cell, err) if is_audit(&cell) => {
                live.audit = None;
                if !live.audit_budget.allow(tokio::time::Instant::now()) {
                    return Err(format!("audit child keeps failing: {err}").into());
                }
                tracing::warn!(tenant = %state.slug, error = %err, "audit child failed; restarting it");
                let audit = Box::pin(spawn_audit(
                    &myself,
                    &state.shared,
                    &state.slug,
                    &state.paths,
                ))
                .await?;
                for batch in &live.unaudited {
                    audit.cast(AuditMsg::Append(batch.clone()))?;
                }
                live.audit = Some(audit);
            }
            SupervisionEvent::ActorTerminated(cell, _, _) if is_audit(&cell) => {
                live.audit = None;
            }
            SupervisionEvent::ActorFailed(cell, _)
            | SupervisionEvent::ActorTerminated(cell, _, _) => {
                // The limiter and notifier are respawned on their next use.
                let id = cell.get_id();
                if live.limiter.as_ref().is_some_and(|a| a.get_id() == id) {
                    live.limiter = None;
                }
                if live.notifier.as_ref().is_some_and(|a| a.get_id() == id) {
                    live.notifier = None;
                }
                if live.documents.as_ref().is_some_and(|a| a.get_id() == id) {
                    live.documents = None;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl TenantActorState {
    async fn load(&mut self, myself: &ActorRef<TenantMsg>) -> Result<(), ActorProcessingErr> {
        let now = self.shared.clock.now();
        let creation = self.creation.take();
        let paths = self.paths.clone();
        let outcome = blocking(|| match &creation {
            Some(c) => load::create(&paths, &c.tenant, now),
            None => load::load(&paths),
        });
        let loaded = match outcome {
            Ok(loaded) => loaded,
            Err(err) => return self.load_failed(myself, err, creation),
        };
        let Loaded {
            state,
            mut journal,
            replayed,
            torn_bytes,
        } = loaded;
        let notify = myself.clone();
        journal.notify_with(Arc::new(move || {
            // The actor may be gone (then nobody waits for what the writer finished).
            let _ = notify.send_message(TenantMsg::Flushed);
        }));
        if torn_bytes > 0 {
            tracing::warn!(tenant = %self.slug, torn_bytes, "cut a torn journal tail that was never acknowledged");
        }
        let catch_up: Vec<AuditEntry> = replayed.iter().map(JournalRecord::audit_entry).collect();
        let config = &self.shared.config;
        self.phase = Phase::Ready(Box::new(Live {
            state,
            journal,
            pending: Pending::default(),
            unaudited: VecDeque::new(),
            audit: None,
            audit_budget: RestartBudget::new(config.restart_max, config.restart_window),
            limiter: None,
            notifier: None,
            documents: None,
            compaction: None,
            compact_after: 0,
            members_file: Some(Default::default()),
        }));
        if !catch_up.is_empty() {
            // Every journal record must have its audit line; the child skips those it has.
            self.send_audit(myself, catch_up).await?;
        }
        if let Some(creation) = creation {
            let Phase::Ready(live) = &mut self.phase else {
                return Ok(());
            };
            let change = super::commands::Change {
                action: "tenant.create",
                module: "tenant",
                target: self.slug.to_string(),
                diff: super::commands::field_diff(None, Some(&live.state.meta)),
                op: super::state::Op::Created,
            };
            let reply = Reply::Meta(live.state.meta.clone());
            let ip = creation.ctx.ip;
            self.stage(
                change,
                Ok(reply),
                Principal::Operator,
                ip,
                Some(creation.reply),
            )?;
        }
        Ok(())
    }

    fn load_failed(
        &mut self,
        myself: &ActorRef<TenantMsg>,
        err: LoadError,
        creation: Option<Creation>,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(creation) = creation {
            tracing::warn!(tenant = %self.slug, error = %err, "tenant creation failed");
            let _ = creation.reply.send(Err(TenantError::from(err)));
            let _ = self.manager.cast(ManagerMsg::CreationFailed {
                slug: self.slug.clone(),
            });
            myself.stop(Some("creation failed".into()));
            return Ok(());
        }
        match err {
            LoadError::Corrupt(reason) => {
                tracing::error!(tenant = %self.slug, %reason, "tenant files are damaged; tenant failed");
                self.phase = Phase::Broken(reason.clone());
                let _ = self.manager.cast(ManagerMsg::TenantBroken {
                    slug: self.slug.clone(),
                    reason,
                });
                Ok(())
            }
            other => Err(Box::new(other)),
        }
    }

    /// Writes the changed collections and empties the journal (the rotated one too), once the
    /// audit trail holds every journal record (the journal is what rebuilds a lost audit line).
    /// A compaction still running finishes first.
    pub(super) async fn snapshot(&mut self) -> Result<(), ActorProcessingErr> {
        self.compacted().await?;
        let Phase::Ready(live) = &mut self.phase else {
            return Ok(());
        };
        let dirty = super::state::Collection::ALL
            .iter()
            .any(|c| live.state.is_dirty(*c));
        if live.journal.is_empty() && !dirty && !live.journal.has_previous() {
            return Ok(());
        }
        // The trail is written without fdatasync on the write path: before the journal records
        // that could rebuild its lines are dropped, it must be on disk.
        if let Some(audit) = &live.audit {
            let synced = ractor::call_t!(audit, AuditMsg::Sync, 10_000)?;
            while live
                .unaudited
                .front()
                .is_some_and(|b| last_seq_of(b) <= synced)
            {
                live.unaudited.pop_front();
            }
            if let Some(last) = live.unaudited.back().map(last_seq_of) {
                tracing::warn!(tenant = %self.slug, synced, last, "audit trail behind; snapshot postponed");
                return Ok(());
            }
        }
        if !live.unaudited.is_empty() {
            return Ok(());
        }
        live.state.prune(self.shared.clock.now());
        // Recovery checks that the journal goes on from the newest snapshot (see compaction).
        live.state.touch(super::state::Collection::Tenant);
        let paths = &self.paths;
        let state = &live.state;
        let journal = &mut live.journal;
        let members = live.members_file.as_mut();
        blocking(|| -> Result<(), StoreError> {
            load::write_dirty(paths, state, members)?;
            journal.truncate()
        })?;
        let seq = live.state.last_seq;
        live.state.mark_clean(seq);
        Ok(())
    }

    async fn passivate(&mut self, myself: &ActorRef<TenantMsg>) -> Result<(), ActorProcessingErr> {
        if matches!(self.phase, Phase::Ready(_)) {
            self.flush_now(myself).await?;
            self.snapshot().await?;
        }
        if let Phase::Ready(live) = &mut self.phase {
            if let Some(limiter) = live.limiter.take() {
                limiter.stop(Some("tenant stopping".into()));
            }
            if let Some(documents) = live.documents.take() {
                documents.stop(Some("tenant stopping".into()));
            }
            if let Some(notifier) = live.notifier.take() {
                // Deliveries already queued still go out.
                let _ = notifier.drain_and_wait(Some(CHILD_STOP_TIMEOUT)).await;
            }
        }
        if let Phase::Ready(live) = &mut self.phase
            && let Some(audit) = live.audit.take()
        {
            audit
                .stop_and_wait(Some("tenant stopping".into()), Some(CHILD_STOP_TIMEOUT))
                .await?;
        }
        Ok(())
    }

    fn inspect(&self, mut view: TenantView) -> TenantView {
        match &self.phase {
            Phase::Ready(live) => {
                view.journal_len = Some(live.journal.len());
                view.last_seq = Some(live.state.last_seq);
                view.snapshot_kept_bytes = Some(match (&live.members_file, &live.compaction) {
                    (Some(file), _) => file.kept_bytes(),
                    (None, Some(compaction)) => compaction.members_file_bytes,
                    (None, None) => 0,
                });
                view.children = vec![ChildView {
                    name: "audit".into(),
                    state: if live.audit.is_some() {
                        "running"
                    } else {
                        "idle"
                    }
                    .into(),
                }];
            }
            Phase::Broken(reason) => {
                view.state = crate::manager::RunState::Failed;
                view.last_error = Some(reason.clone());
            }
            Phase::Loading => {}
        }
        view
    }

    #[cfg(feature = "fault-injection")]
    async fn inject(
        &mut self,
        fault: Fault,
        reply: RpcReplyPort<Result<(), TenantError>>,
    ) -> Result<(), ActorProcessingErr> {
        let _ = reply.send(Ok(()));
        match (fault, &mut self.phase) {
            (Fault::Panic, _) => panic!("injected panic in tenant {}", self.slug),
            (Fault::Stall, _) => tokio::time::sleep(Duration::from_secs(2)).await,
            (Fault::StallLong, _) => tokio::time::sleep(Duration::from_secs(10)).await,
            (Fault::FailNextFsync, Phase::Ready(live)) => live.journal.fail_next_flush(),
            (Fault::PanicAudit, Phase::Ready(live)) => {
                if let Some(audit) = &live.audit {
                    audit.cast(AuditMsg::Panic)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The highest seq in a batch (batches are in seq order).
pub(super) fn last_seq_of(batch: &AuditBatch) -> u64 {
    batch.last().map_or(0, AuditEntry::seq)
}
