//! Group commit, pipelined: changes are journaled (staged) and applied as they are decided; the
//! journal's writer appends and fdatasyncs everything staged, batch after batch, on a blocking
//! thread while the actor goes on deciding; when a batch is durable the writer answers whoever
//! waits on it, and the actor then hands its audit entries to the audit child and starts its
//! effects. Nobody is answered from state that is not yet durable: a read that follows an
//! unflushed change waits with it.

use ractor::{ActorProcessingErr, ActorRef};

use super::actor::{Phase, ReplyPort, TenantActorState};
use super::children::spawn_audit;
use super::commands::{Change, Effect, Reply};
use super::messages::TenantMsg;
use crate::audit::{AuditBatch, AuditEntry, AuditMsg};
use crate::domain::Principal;
use crate::error::TenantError;
use crate::store::{StoreError, Waiter};

/// What a tenant holds between deciding a change and its durability. The answers wait in the
/// journal's outbox, where its writer tells them; audit entries and effects wait here, for the
/// actor to hand on.
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// Audit entries of records not yet known durable, in seq order.
    pub(super) staged_audit: Vec<AuditEntry>,
    /// Work to start once the record of this seq is durable.
    pub(super) effects: Vec<(u64, Effect)>,
}

/// An answer held until what it may have seen is durable; a failed write answers it with a
/// storage error instead.
fn held(reply: ReplyPort, answer: Result<Reply, TenantError>) -> Waiter {
    Box::new(move |durable| {
        let _ = reply.send(if durable {
            answer
        } else {
            Err(TenantError::Storage)
        });
    })
}

impl TenantActorState {
    /// Journals a change (not yet durable), applies it, and holds its answer for the writer.
    pub(super) fn stage(
        &mut self,
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
        let waiter = reply.map(|reply| held(reply, answer));
        let audit = live
            .journal
            .stage_with(seq, waiter, |out| record.write_line(out))?;
        live.state.apply(seq, record.op);
        live.pending.staged_audit.push(audit);
        live.journal.write_behind()?;
        Ok(())
    }

    /// Answers a request that changed nothing, after any change it may have seen is durable.
    pub(super) fn answer_after_pending(
        &mut self,
        reply: ReplyPort,
        answer: Result<Reply, TenantError>,
    ) {
        match &mut self.phase {
            Phase::Ready(live) => live.journal.hold(held(reply, answer)),
            _ => {
                let _ = reply.send(answer);
            }
        }
    }

    /// Work to start once everything decided so far is durable.
    pub(super) fn after_pending(&mut self, effect: Effect) {
        if let Phase::Ready(live) = &mut self.phase {
            let seq = live.state.last_seq;
            live.pending.effects.push((seq, effect));
        }
    }

    /// The writer made a batch durable (or failed): hand on its audit entries and effects, then
    /// start a compaction when the journal has grown enough.
    pub(super) async fn flushed(
        &mut self,
        myself: &ActorRef<TenantMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let Phase::Ready(live) = &self.phase else {
            return Ok(());
        };
        if let Some(err) = live.journal.failure() {
            return Err(self.flush_failed(err));
        }
        self.release_durable(myself).await?;
        self.compact_when_due(myself).await
    }

    /// Everything staged written here and now (before a snapshot or a passivation).
    pub(super) async fn flush_now(
        &mut self,
        myself: &ActorRef<TenantMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let Phase::Ready(live) = &mut self.phase else {
            return Ok(());
        };
        if let Err(err) = live.journal.drain().await {
            return Err(self.flush_failed(err));
        }
        self.release_durable(myself).await
    }

    /// Audit entries and effects whose records are durable go on: the entries to the audit
    /// child, the effects started.
    async fn release_durable(
        &mut self,
        myself: &ActorRef<TenantMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let Phase::Ready(live) = &mut self.phase else {
            return Ok(());
        };
        let durable = if live.journal.is_settled() {
            live.state.last_seq
        } else {
            live.journal.durable_through()
        };
        let pending = &mut live.pending;
        let audited = pending
            .staged_audit
            .partition_point(|entry| entry.seq() <= durable);
        let audit: Vec<AuditEntry> = pending.staged_audit.drain(..audited).collect();
        let started = pending.effects.partition_point(|(seq, _)| *seq <= durable);
        let effects: Vec<Effect> = pending
            .effects
            .drain(..started)
            .map(|(_, effect)| effect)
            .collect();
        if !audit.is_empty() {
            self.send_audit(myself, audit).await?;
        }
        for effect in effects {
            self.start_effect(myself, effect).await?;
        }
        Ok(())
    }

    /// Never retry a failed fsync: the writer has refused everyone waiting; fail, so that the
    /// supervisor reloads this tenant from what is really on disk.
    fn flush_failed(&mut self, err: StoreError) -> ActorProcessingErr {
        tracing::error!(tenant = %self.slug, error = %err, "journal flush failed");
        Box::new(err)
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
