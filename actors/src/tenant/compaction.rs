//! Compaction beside the write path. Once the journal has grown enough, the actor rotates it
//! aside (`journal.prev.jsonl`), serialises the collections that changed, and a task writes those
//! snapshot files and then retires the rotated journal, once the audit trail holds its records
//! too. Meanwhile the actor goes on deciding and the journal's writer goes on appending to the
//! new file. Recovery reads the rotated journal before the new one, and replay skips what a
//! snapshot already holds, so a crash at any point loses nothing.

use ractor::{ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;

use super::actor::{Phase, TenantActorState, last_seq_of};
use super::load;
use super::members_file::MembersFile;
use super::messages::TenantMsg;
use super::state::Collection;
use crate::audit::AuditMsg;
use crate::store::{StoreError, blocking, write_snapshots};

/// How long a compaction waits for the audit trail to be durable.
const AUDIT_SYNC_MS: u64 = 10_000;

/// A compaction running beside the actor. It is aborted (at its next await) if the actor goes
/// away; file work already started finishes, holding the journal's lock while it does.
#[derive(Debug)]
pub(super) struct Compaction {
    task: JoinHandle<Result<Compacted, StoreError>>,
    /// What the members file it took kept, for the operator's view meanwhile.
    pub(super) members_file_bytes: u64,
}

impl Drop for Compaction {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a finished compaction did.
#[derive(Debug)]
pub(super) struct Compacted {
    /// The seq its snapshot holds.
    seq: u64,
    /// How far the audit trail was durable, when there was an audit child to ask.
    audited: Option<u64>,
    /// The rotated journal is gone.
    retired: bool,
    /// What the snapshot wrote of the members, for the next one.
    members_file: Option<MembersFile>,
}

impl TenantActorState {
    /// Starts a compaction, unless one runs already or the last one could not retire its rotated
    /// journal and the journal has not grown by another threshold since.
    pub(super) async fn compact_when_due(
        &mut self,
        myself: &ActorRef<TenantMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let Phase::Ready(live) = &self.phase else {
            return Ok(());
        };
        // A snapshot rewrites whole files, so it waits for at least half as many journal records
        // as the tenant holds members: its cost per write stays constant as the tenant grows.
        // (Half, not as many: when every record adds a member, as in an import, the journal
        // then still catches up, each snapshot at twice the members of the one before.)
        let threshold = self
            .shared
            .config
            .snapshot_every
            .max(live.state.members.len() as u64 / 2)
            .max(live.compact_after);
        if live.compaction.is_none() && live.journal.len() >= threshold {
            self.start_compaction(myself).await
        } else {
            Ok(())
        }
    }

    async fn start_compaction(
        &mut self,
        myself: &ActorRef<TenantMsg>,
    ) -> Result<(), ActorProcessingErr> {
        // The snapshot holds the state, so everything applied to it must be durable first, and
        // its audit entries handed to the child before the child is asked to sync.
        self.flush_now(myself).await?;
        let Phase::Ready(live) = &mut self.phase else {
            return Ok(());
        };
        if live.audit.is_none() && !live.unaudited.is_empty() {
            // The trail lacks lines that only the journal can rebuild, and nobody writes them.
            return Ok(());
        }
        let journal = &mut live.journal;
        if !journal.has_previous() {
            blocking(|| journal.rotate())?;
            live.compact_after = 0;
        }
        live.state.prune(self.shared.clock.now());
        // Recovery checks that the journal goes on from the newest snapshot, so at least one
        // file is written at this seq, even when only records of no collection came in.
        live.state.touch(Collection::Tenant);
        let seq = live.state.last_seq;
        // A copy of what changed is serialised on another thread (a large tenant's members take
        // longer to serialise than to copy). Changes from here on mark their collections again,
        // for the next snapshot; if this one fails, the actor fails and reloads from the files
        // and both journals.
        let copy = live.state.dirty_copy();
        live.state.mark_clean(seq);
        let mut members_file = live.members_file.take();
        let members_file_bytes = members_file.as_ref().map_or(0, MembersFile::kept_bytes);
        let lease = live.journal.lease()?;
        let audit = live.audit.clone();
        let paths = self.paths.clone();
        let myself = myself.clone();
        let task = tokio::spawn(async move {
            // Lines the trail lacks are rebuilt from journal records: the rotated journal goes
            // only once the trail is durable beyond it.
            let (audited, retire) = match &audit {
                Some(audit) => {
                    let audited = ractor::call_t!(audit, AuditMsg::Sync, AUDIT_SYNC_MS).ok();
                    (audited, audited.is_some_and(|a| a >= seq))
                }
                None => (None, true),
            };
            let written = tokio::task::spawn_blocking(move || {
                let (files, written) = load::dirty_files(&paths, &copy, members_file.as_mut())?;
                drop(copy);
                write_snapshots(paths.dir(), &files)?;
                drop(files);
                if let Some(file) = members_file
                    .as_ref()
                    .filter(|_| written.contains(&Collection::Members))
                {
                    tracing::debug!(dir = %paths.dir().display(), serialised = file.serialised(), "members snapshot written");
                }
                if retire {
                    lease.retire_previous()?;
                }
                Ok::<_, StoreError>((retire, members_file))
            })
            .await;
            let (retired, members_file) = written.map_err(|e| {
                StoreError::io("compaction", std::io::Error::other(e.to_string()))
            })??;
            let _ = myself.send_message(TenantMsg::Compacted);
            Ok(Compacted {
                seq,
                audited,
                retired,
                members_file,
            })
        });
        live.compaction = Some(Compaction {
            task,
            members_file_bytes,
        });
        Ok(())
    }

    /// Waits for the compaction in flight, if any, and takes in what it did. A failed one fails
    /// the actor: the supervisor reloads the tenant from what is really on disk.
    pub(super) async fn compacted(&mut self) -> Result<(), ActorProcessingErr> {
        let Phase::Ready(live) = &mut self.phase else {
            return Ok(());
        };
        let Some(mut compaction) = live.compaction.take() else {
            return Ok(());
        };
        let done = match (&mut compaction.task).await {
            Ok(Ok(done)) => done,
            Ok(Err(err)) => {
                tracing::error!(tenant = %self.slug, error = %err, "compaction failed");
                return Err(Box::new(err));
            }
            Err(err) => {
                tracing::error!(tenant = %self.slug, error = %err, "compaction stopped");
                return Err(Box::new(StoreError::io(
                    "compaction",
                    std::io::Error::other(err.to_string()),
                )));
            }
        };
        if let Some(audited) = done.audited {
            while live
                .unaudited
                .front()
                .is_some_and(|b| last_seq_of(b) <= audited)
            {
                live.unaudited.pop_front();
            }
        }
        live.members_file = done.members_file;
        if done.retired {
            live.journal.previous_retired();
        } else {
            tracing::warn!(tenant = %self.slug, seq = done.seq, audited = ?done.audited, "audit trail behind; the rotated journal is kept");
            let threshold = self.shared.config.snapshot_every;
            live.compact_after = live.journal.len() + threshold;
        }
        Ok(())
    }
}
