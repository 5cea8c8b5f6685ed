//! Group commit, pipelined: changes are journaled (staged) and applied as they are decided; one
//! batch at a time is written and fdatasync'ed on a blocking thread while the actor goes on
//! deciding the next one; when a batch is durable, its answers go out, its audit entries go to
//! the audit child and its effects start. Nobody is answered from state that is not yet durable:
//! a read that follows an unflushed change waits with it.

use ractor::{ActorProcessingErr, ActorRef};

use super::actor::{Phase, ReplyPort, TenantActorState};
use super::children::spawn_audit;
use super::commands::{Change, Effect, Reply};
use super::messages::TenantMsg;
use crate::audit::{AuditBatch, AuditEntry, AuditMsg};
use crate::domain::Principal;
use crate::error::TenantError;
use crate::store::{StoreError, blocking};

type Answer = (ReplyPort, Result<Reply, TenantError>);

/// The batch being written, and what waits for it.
#[derive(Debug)]
pub(super) struct InFlight {
    id: u64,
    task: tokio::task::JoinHandle<Result<u64, StoreError>>,
    waiting: Vec<Answer>,
    audit: Vec<AuditEntry>,
    effects: Vec<Effect>,
}

/// What a tenant holds between deciding a change and its durability.
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// Answers held until the staged records are durable.
    pub(super) waiting: Vec<Answer>,
    /// A `Flush` message is in the mailbox.
    pub(super) flush_queued: bool,
    /// Audit entries of the staged records, handed to the audit child once they are durable.
    pub(super) staged_audit: Vec<AuditEntry>,
    /// Work to start once the staged records are durable.
    pub(super) effects: Vec<Effect>,
    pub(super) in_flight: Option<InFlight>,
    batches: u64,
}

impl TenantActorState {
    /// Journals a change (not yet durable), applies it, and holds its answer for the flush.
    pub(super) fn stage(
        &mut self,
        myself: &ActorRef<TenantMsg>,
        change: Change,
        answer: Result<Reply, TenantError>,
        actor: Principal,
        ip: Option<std::net::IpAddr>,
        reply: Option<ReplyPort>,
    ) -> Result<(), ActorProcessingErr> {
        let Phase::Ready(live) = &mut self.phase else {
            return Ok(());
        };
        let seq = live.state.last_seq + 1;
        let record = change.into_record(seq, self.shared.clock.now(), actor, ip);
        let audit = live.journal.stage_with(|out| record.write_line(out))?;
        live.state.apply(seq, &record.op);
        let pending = &mut live.pending;
        pending.staged_audit.push(audit);
        if let Some(reply) = reply {
            pending.waiting.push((reply, answer));
        }
        // While a batch is being written, the next one starts when it is done.
        if !pending.flush_queued && pending.in_flight.is_none() {
            pending.flush_queued = true;
            myself.send_message(TenantMsg::Flush)?;
        }
        Ok(())
    }

    /// Answers a request that changed nothing, after any change it may have seen is durable.
    pub(super) fn answer_after_pending(
        &mut self,
        reply: ReplyPort,
        answer: Result<Reply, TenantError>,
    ) {
        let Phase::Ready(live) = &mut self.phase else {
            let _ = reply.send(answer);
            return;
        };
        let pending = &mut live.pending;
        if !pending.waiting.is_empty() || live.journal.has_staged() {
            pending.waiting.push((reply, answer));
        } else if let Some(in_flight) = &mut pending.in_flight {
            in_flight.waiting.push((reply, answer));
        } else {
            let _ = reply.send(answer);
        }
    }

    /// Starts writing what is staged, unless a batch is already being written.
    pub(super) async fn flush(
        &mut self,
        myself: &ActorRef<TenantMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let Phase::Ready(live) = &mut self.phase else {
            return Ok(());
        };
        let pending = &mut live.pending;
        pending.flush_queued = false;
        if pending.in_flight.is_some() {
            return Ok(());
        }
        let batch = match live.journal.take_batch() {
            Ok(Some(batch)) => batch,
            Ok(None) => return self.staged_durable(myself).await,
            Err(err) => return Err(self.flush_failed(err, Vec::new())),
        };
        pending.batches += 1;
        let id = pending.batches;
        let notify = myself.clone();
        let task = tokio::task::spawn_blocking(move || {
            let written = batch.write();
            // The actor may be gone (then nobody waits for this batch).
            let _ = notify.send_message(TenantMsg::Flushed(id));
            written
        });
        pending.in_flight = Some(InFlight {
            id,
            task,
            waiting: std::mem::take(&mut pending.waiting),
            audit: std::mem::take(&mut pending.staged_audit),
            effects: std::mem::take(&mut pending.effects),
        });
        Ok(())
    }

    /// Batch `id` is written: answer it, then start the next batch or take a snapshot.
    pub(super) async fn flushed(
        &mut self,
        myself: &ActorRef<TenantMsg>,
        id: u64,
    ) -> Result<(), ActorProcessingErr> {
        let Phase::Ready(live) = &mut self.phase else {
            return Ok(());
        };
        if live.pending.in_flight.as_ref().is_none_or(|f| f.id != id) {
            // Already settled (a passivation waited for it).
            return Ok(());
        }
        self.settle(myself).await?;
        let Phase::Ready(live) = &mut self.phase else {
            return Ok(());
        };
        // A snapshot rewrites whole files, so it waits for at least as many journal records as
        // the tenant holds members: its cost per write stays constant as the tenant grows.
        let threshold = self
            .shared
            .config
            .snapshot_every
            .max(live.state.members.len() as u64);
        if live.journal.len() >= threshold {
            // A snapshot holds the state, so everything applied to it must be durable first.
            self.flush_now(myself).await?;
            self.snapshot().await
        } else if live.journal.has_staged() {
            self.flush(myself).await
        } else {
            Ok(())
        }
    }

    /// Waits for the batch being written, if any, and answers it.
    pub(super) async fn settle(
        &mut self,
        myself: &ActorRef<TenantMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let Phase::Ready(live) = &mut self.phase else {
            return Ok(());
        };
        let Some(in_flight) = live.pending.in_flight.take() else {
            return Ok(());
        };
        let written = in_flight.task.await.unwrap_or_else(|e| {
            Err(StoreError::io(
                "writing the journal",
                std::io::Error::other(e.to_string()),
            ))
        });
        match written {
            Ok(records) => {
                live.journal.written(records);
                for (reply, answer) in in_flight.waiting {
                    let _ = reply.send(answer);
                }
                self.durable(myself, in_flight.audit, in_flight.effects)
                    .await
            }
            Err(err) => Err(self.flush_failed(err, in_flight.waiting)),
        }
    }

    /// Everything staged written here and now (before a snapshot or a passivation).
    pub(super) async fn flush_now(
        &mut self,
        myself: &ActorRef<TenantMsg>,
    ) -> Result<(), ActorProcessingErr> {
        self.settle(myself).await?;
        let Phase::Ready(live) = &mut self.phase else {
            return Ok(());
        };
        let journal = &mut live.journal;
        if let Err(err) = blocking(|| journal.flush()) {
            return Err(self.flush_failed(err, Vec::new()));
        }
        live.pending.flush_queued = false;
        self.staged_durable(myself).await
    }

    /// What was staged is on disk: answer who waits on it, then its audit entries and effects.
    async fn staged_durable(
        &mut self,
        myself: &ActorRef<TenantMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let Phase::Ready(live) = &mut self.phase else {
            return Ok(());
        };
        let pending = &mut live.pending;
        for (reply, answer) in pending.waiting.drain(..) {
            let _ = reply.send(answer);
        }
        let audit = std::mem::take(&mut pending.staged_audit);
        let effects = std::mem::take(&mut pending.effects);
        self.durable(myself, audit, effects).await
    }

    /// Never retry a failed fsync: refuse everyone waiting and fail, so that the supervisor
    /// reloads this tenant from what is really on disk.
    fn flush_failed(&mut self, err: StoreError, waiting: Vec<Answer>) -> ActorProcessingErr {
        let staged = match &mut self.phase {
            Phase::Ready(live) => std::mem::take(&mut live.pending.waiting),
            _ => Vec::new(),
        };
        for (reply, _) in waiting.into_iter().chain(staged) {
            let _ = reply.send(Err(TenantError::Storage));
        }
        tracing::error!(tenant = %self.slug, error = %err, "journal flush failed");
        Box::new(err)
    }

    /// A batch is durable: its audit entries go to the audit child, its effects start.
    async fn durable(
        &mut self,
        myself: &ActorRef<TenantMsg>,
        audit: Vec<AuditEntry>,
        effects: Vec<Effect>,
    ) -> Result<(), ActorProcessingErr> {
        if !audit.is_empty() {
            self.send_audit(myself, audit).await?;
        }
        for effect in effects {
            self.start_effect(myself, effect).await?;
        }
        Ok(())
    }

    pub(super) async fn send_audit(
        &mut self,
        myself: &ActorRef<TenantMsg>,
        entries: Vec<AuditEntry>,
    ) -> Result<(), ActorProcessingErr> {
        let Phase::Ready(live) = &mut self.phase else {
            return Ok(());
        };
        if live.audit.is_none() {
            live.audit = Some(spawn_audit(myself, &self.shared, &self.slug, &self.paths).await?);
        }
        let batch: AuditBatch = entries.into();
        live.unaudited.push_back(AuditBatch::clone(&batch));
        if let Some(audit) = &live.audit {
            audit.cast(AuditMsg::Append(batch))?;
        }
        Ok(())
    }
}
