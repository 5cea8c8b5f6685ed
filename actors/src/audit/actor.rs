//! `AuditActor`: the tenant's child that appends chained lines to `audit.jsonl`. It is the only
//! writer of that file; it skips entries it already holds, so the tenant may resend after a crash.
//! Entries are gathered for a few milliseconds and written together. The trail is written but not
//! fdatasync'ed on the write path: the journal, which carries every line's facts, is what makes an
//! acknowledged write durable, and the tenant resends whatever the trail lacks when it loads. The
//! trail is synced when the tenant asks (`Sync`, before journal records are deleted) and when
//! the child stops — so a line is on disk before the journal record that could rebuild it is gone.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::chain::{AuditBatch, AuditLine, GENESIS_HASH, write_line};
use super::page::read_page;
use crate::error::TenantError;
use crate::store::{StoreError, blocking};
use crate::tenant::{AuditQuery, Reply, TenantMsg};

/// How far back from the end to look for the last line before reading the whole file.
const TAIL_WINDOW: u64 = 64 * 1024;

/// How long appends are gathered before they are written together.
const GATHER: std::time::Duration = std::time::Duration::from_millis(5);

#[derive(Debug)]
pub struct AuditActor;

#[derive(Debug)]
pub struct AuditArgs {
    pub path: PathBuf,
    pub tenant: ActorRef<TenantMsg>,
}

#[derive(Debug)]
pub enum AuditMsg {
    /// Chain and append these entries (those at or below the last written seq are skipped), then
    /// tell the tenant how far the trail is written. Appends that arrive within `GATHER` of the
    /// first are written with it.
    Append(AuditBatch),
    /// Writes what the appends gathered (sent to itself `GATHER` after the first of a burst).
    Write,
    /// Writes and fdatasyncs everything sent before, then answers the last durable seq.
    Sync(RpcReplyPort<u64>),
    /// A page of the trail for the tenant's audit API.
    Query {
        query: AuditQuery,
        reply: RpcReplyPort<Result<Reply, TenantError>>,
    },
    #[cfg(feature = "fault-injection")]
    Panic,
}

#[derive(Debug)]
pub struct AuditState {
    file: File,
    path: PathBuf,
    last_seq: u64,
    last_hash: String,
    /// The last seq known to be on disk (fdatasync'ed).
    synced_seq: u64,
    tenant: ActorRef<TenantMsg>,
    /// Entries received and not yet written.
    gathered: Vec<AuditBatch>,
    write_queued: bool,
    /// Bytes written since the last fdatasync.
    unsynced: Unsynced,
}

impl Actor for AuditActor {
    type Msg = AuditMsg;
    type State = AuditState;
    type Arguments = AuditArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: AuditArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let (file, last_seq, last_hash) = blocking(|| open_trail(&args.path))?;
        Ok(AuditState {
            file,
            path: args.path,
            last_seq,
            last_hash,
            // What an earlier child wrote may still be only in the page cache: sync it once.
            synced_seq: 0,
            tenant: args.tenant,
            gathered: Vec::new(),
            write_queued: false,
            unsynced: Unsynced::default(),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Whatever was gathered still goes to disk; the journal would rebuild it otherwise.
        state.write_gathered()?;
        state.sync()?;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            AuditMsg::Append(entries) => {
                state.gathered.push(entries);
                if !state.write_queued {
                    state.write_queued = true;
                    // A stopped actor drops the timer's message; `post_stop` writes instead.
                    let _timer = myself.send_after(GATHER, || AuditMsg::Write);
                }
            }
            AuditMsg::Write => {
                state.write_queued = false;
                state.write_gathered()?;
            }
            AuditMsg::Sync(reply) => {
                state.write_gathered()?;
                state.sync()?;
                let _ = reply.send(state.synced_seq);
            }
            AuditMsg::Query { query, reply } => {
                state.write_gathered()?;
                let page = blocking(|| read_page(&state.path, &query));
                let _ = reply.send(page.map_err(|e| TenantError::Internal(e.to_string())));
            }
            #[cfg(feature = "fault-injection")]
            AuditMsg::Panic => panic!("injected panic in the audit actor"),
        }
        Ok(())
    }
}

/// Appends up to this size are written on the actor's own thread (no fdatasync: the page cache).
const INLINE_APPEND_BYTES: usize = 64 * 1024;

/// Bytes the trail holds in the page cache and not yet fdatasynced. A trail synced only when a
/// compaction asked had megabytes to flush at once, and every tenant's journal fdatasync on the
/// same disk waited behind them (BENCHMARKS.md, the twentieth round); it is now synced whenever
/// `MAX` bytes have gathered.
#[derive(Debug, Default)]
struct Unsynced(usize);

impl Unsynced {
    const MAX: usize = 256 * 1024;

    /// Counts an append; true when the trail is due for an fdatasync.
    fn wrote(&mut self, bytes: usize) -> bool {
        self.0 = self.0.saturating_add(bytes);
        self.0 >= Self::MAX
    }

    fn synced(&mut self) {
        self.0 = 0;
    }
}

impl AuditState {
    /// Writes every gathered entry (one write, no sync) and tells the tenant how far the trail is
    /// written.
    fn write_gathered(&mut self) -> Result<(), StoreError> {
        if self.gathered.is_empty() {
            return Ok(());
        }
        let batches = std::mem::take(&mut self.gathered);
        self.append(&batches)?;
        // The tenant may be stopping; a lost confirmation only means a resend later.
        let _ = self.tenant.cast(TenantMsg::Audited(self.last_seq));
        Ok(())
    }

    fn append(&mut self, batches: &[AuditBatch]) -> Result<(), StoreError> {
        let mut bytes = Vec::new();
        let mut last_seq = self.last_seq;
        let mut last_hash = self.last_hash.clone();
        for entry in batches.iter().flat_map(|batch| batch.iter()) {
            // Resent entries (after a restart of this child) are already in the trail.
            if entry.seq() <= last_seq {
                continue;
            }
            last_hash = write_line(entry, &last_hash, &mut bytes);
            last_seq = entry.seq();
        }
        if bytes.is_empty() {
            return Ok(());
        }
        // A few lines go to the page cache quicker than the worker's core can be handed to
        // another thread; a large append (entries resent after a restart) goes to a blocking one.
        let file = &mut self.file;
        if bytes.len() <= INLINE_APPEND_BYTES {
            file.write_all(&bytes)
        } else {
            blocking(|| file.write_all(&bytes))
        }
        .map_err(|e| StoreError::io(format!("audit {}", self.path.display()), e))?;
        self.last_seq = last_seq;
        self.last_hash = last_hash;
        if self.unsynced.wrote(bytes.len()) {
            self.sync()?;
        }
        Ok(())
    }

    /// fdatasyncs what was written since the last sync.
    fn sync(&mut self) -> Result<(), StoreError> {
        if self.synced_seq == self.last_seq {
            return Ok(());
        }
        blocking(|| self.file.sync_data())
            .map_err(|e| StoreError::io(format!("audit {}", self.path.display()), e))?;
        self.synced_seq = self.last_seq;
        self.unsynced.synced();
        Ok(())
    }
}

/// The seq of the last complete line of an audit trail (0 when there is none), read without
/// changing the file.
pub fn audited_seq(path: &std::path::Path) -> Result<u64, StoreError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(StoreError::io(format!("audit {}", path.display()), e)),
    };
    Ok(read_tail(&mut file, path)?.1.map_or(0, |line| line.seq))
}

/// Finds the end of the last complete line and parses that line (checking its own hash).
fn read_tail(
    file: &mut File,
    path: &std::path::Path,
) -> Result<(u64, Option<AuditLine>), StoreError> {
    let io = |e| StoreError::io(format!("audit {}", path.display()), e);
    let len = file.metadata().map_err(io)?.len();
    let mut start = len.saturating_sub(TAIL_WINDOW);
    let tail = loop {
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail).map_err(io)?;
        // The window must hold one whole line before the last newline, or reach the start.
        let newlines = tail.iter().filter(|b| **b == b'\n').count();
        if start == 0 || newlines >= 2 {
            break tail;
        }
        start = start.saturating_sub(TAIL_WINDOW * 16);
    };
    let complete = tail.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let keep = start + complete as u64;
    let Some(last) = tail[..complete]
        .strip_suffix(b"\n")
        .and_then(|body| body.rsplit(|c| *c == b'\n').next())
        .filter(|l| !l.is_empty())
    else {
        return Ok((keep, None));
    };
    let corrupt = |reason: String| StoreError::Corrupt {
        file: path.display().to_string(),
        line: 0,
        reason,
    };
    let line: AuditLine =
        serde_json::from_slice(last).map_err(|e| corrupt(format!("last audit line: {e}")))?;
    if line.compute_hash() != line.hash {
        return Err(corrupt("last audit line does not match its hash".into()));
    }
    Ok((keep, Some(line)))
}

/// Opens the trail for appending: cuts a torn last line, and reads the seq and hash of the last
/// complete one.
fn open_trail(path: &std::path::Path) -> Result<(File, u64, String), StoreError> {
    let io = |e| StoreError::io(format!("audit {}", path.display()), e);
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let (keep, last) = read_tail(&mut file, path)?;
    if keep < len {
        tracing::warn!(path = %path.display(), cut = len - keep, "truncating a torn audit line");
        file.set_len(keep)
            .and_then(|()| file.sync_all())
            .map_err(io)?;
    }
    Ok(match last {
        Some(line) => (file, line.seq, line.hash),
        None => (file, 0, GENESIS_HASH.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditEntry, AuditFacts};
    use crate::domain::Principal;

    fn entry(seq: u64) -> AuditEntry {
        AuditEntry::new(&AuditFacts {
            seq,
            at: &jiff::Timestamp::UNIX_EPOCH,
            actor: &Principal::System,
            ip: &None,
            action: "test",
            module: "audit",
            target: "t",
            diff: &super::super::Diff::none(),
        })
    }

    fn state_for(path: &std::path::Path) -> (File, u64, String) {
        open_trail(path).expect("open")
    }

    #[test]
    fn the_trail_is_due_for_a_sync_once_a_quarter_mebibyte_has_gathered() {
        let mut unsynced = Unsynced::default();
        assert!(!unsynced.wrote(Unsynced::MAX - 1));
        assert!(unsynced.wrote(1));
        unsynced.synced();
        assert!(!unsynced.wrote(400));
        assert!(unsynced.wrote(Unsynced::MAX));
        unsynced.synced();
        assert!(!unsynced.wrote(0));
    }

    #[test]
    fn reopening_finds_the_last_line_and_cuts_a_torn_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let (file, seq, hash) = state_for(&path);
        assert_eq!((seq, hash.as_str()), (0, GENESIS_HASH));
        let mut line1 = AuditLine::chain(&entry(1), GENESIS_HASH);
        let line2 = AuditLine::chain(&entry(2), &line1.hash);
        let mut text = serde_json::to_string(&line1).expect("json") + "\n";
        text += &(serde_json::to_string(&line2).expect("json") + "\n");
        text += "{\"seq\":3,";
        drop(file);
        std::fs::write(&path, &text).expect("write");
        let (_, seq, hash) = state_for(&path);
        assert_eq!((seq, hash), (2, line2.hash.clone()));
        assert!(
            std::fs::read_to_string(&path)
                .expect("read")
                .ends_with("}\n")
        );
        // A tampered last line is refused.
        line1.target = "changed".into();
        std::fs::write(&path, serde_json::to_string(&line1).expect("json") + "\n").expect("write");
        assert!(matches!(open_trail(&path), Err(StoreError::Corrupt { .. })));
    }
}
