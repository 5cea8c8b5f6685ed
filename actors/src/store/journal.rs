//! The journal: one JSON line per acknowledged mutation, written and fdatasync'ed in batches
//! (group commit) over zeros written ahead of them (`zeroed_tail`), replayed on activation,
//! rotated aside while a snapshot that holds its records is written in the background, and
//! emptied once a snapshot holds them all.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::StoreError;
use super::outbox::{self, Notify, Outbox, Waiter};
pub use super::recovery::{Recovered, previous_of};
use super::zeroed_tail::Extent;

/// A record that knows its place in the journal.
pub trait Sequenced {
    fn seq(&self) -> u64;
}

/// The journal of one tenant: recovered on activation, appended through its outbox by a writer
/// on a blocking thread (`outbox`), truncated once a snapshot holds its records.
pub struct Journal {
    pub(super) file: File,
    pub(super) path: PathBuf,
    pub(super) outbox: Arc<Mutex<Outbox>>,
    /// The writer started last; it may have stopped already.
    pub(super) writer: Option<tokio::task::JoinHandle<Result<(), StoreError>>>,
    /// Told after every batch the writer makes durable.
    pub(super) notify: Option<Notify>,
    /// A rotated journal (`previous_of(path)`) is still kept.
    pub(super) previous: bool,
}

/// A compaction's hold on the journal: its own handle on the open file keeps the journal's lock
/// (so a later owner's recovery waits for the compaction to finish), and it may retire the
/// rotated journal once the snapshot holding its records is on disk.
#[derive(Debug)]
pub struct Lease {
    _file: File,
    previous: PathBuf,
}

impl Lease {
    /// Deletes the rotated journal (gone already is fine: a retry or a later owner did it).
    pub fn retire_previous(&self) -> Result<(), StoreError> {
        match fs::remove_file(&self.previous) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(
                format!("retiring {}", self.previous.display()),
                e,
            )),
        }
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("outbox", &self.outbox)
            .finish()
    }
}

impl Journal {
    /// Adds a record to the next flush. Nothing is on disk until `flush` returns.
    pub fn stage<R: Serialize + Sequenced>(&mut self, record: &R) -> Result<(), StoreError> {
        self.stage_with(record.seq(), None, |out| serde_json::to_writer(out, record))
    }

    /// Stages the line of record `seq` that `write` appends to the buffer (its newline is added
    /// here), with `waiter` to be told once it is durable; nothing is staged when it fails, and
    /// nothing is accepted once a write has failed (the waiter is told `false`).
    pub fn stage_with<T>(
        &mut self,
        seq: u64,
        waiter: Option<Waiter>,
        write: impl FnOnce(&mut Vec<u8>) -> Result<T, serde_json::Error>,
    ) -> Result<T, StoreError> {
        outbox::lock(&self.outbox)?.stage_with(seq, waiter, write)
    }

    /// Who to tell after each batch the writer makes durable.
    pub fn notify_with(&mut self, notify: Notify) {
        self.notify = Some(notify);
    }

    /// Starts the writer on a blocking thread unless it runs already or nothing is staged. It
    /// writes batch after batch, each with one fdatasync, until it finds nothing staged.
    pub fn write_behind(&mut self) -> Result<(), StoreError> {
        {
            let mut held = outbox::lock(&self.outbox)?;
            if held.writing || !held.has_staged() || held.failed.is_some() {
                return Ok(());
            }
            held.writing = true;
        }
        // Its own handle on the same open file keeps the journal's lock (see `recover_each`)
        // until it is done, even if this journal's owner is gone.
        let file = match self.file.try_clone() {
            Ok(file) => file,
            Err(e) => {
                outbox::lock(&self.outbox)?.writing = false;
                return Err(StoreError::io(
                    format!("journal {}", self.path.display()),
                    e,
                ));
            }
        };
        let (path, outbox, notify) = (
            self.path.clone(),
            Arc::clone(&self.outbox),
            self.notify.clone(),
        );
        self.writer = Some(tokio::task::spawn_blocking(move || {
            outbox::write_behind(file, &path, &outbox, notify.as_ref())
        }));
        Ok(())
    }

    /// Holds `waiter` until everything staged or being written now is durable; tells it at once
    /// when nothing is.
    pub fn hold(&mut self, waiter: Waiter) {
        let ready = match outbox::lock(&self.outbox) {
            Ok(mut held) => held.hold(waiter),
            Err(_) => return,
        };
        if let Some((waiter, durable)) = ready {
            waiter(durable);
        }
    }

    /// Nothing staged and nothing being written.
    pub fn is_settled(&self) -> bool {
        outbox::lock(&self.outbox).is_ok_and(|held| held.is_settled())
    }

    pub fn has_staged(&self) -> bool {
        outbox::lock(&self.outbox).is_ok_and(|held| held.has_staged())
    }

    /// The highest seq made durable by this journal's writer (0 before its first batch).
    pub fn durable_through(&self) -> u64 {
        outbox::lock(&self.outbox).map_or(0, |held| held.durable_through)
    }

    /// Why the journal stopped writing, after a failed write or fdatasync.
    pub fn failure(&self) -> Option<StoreError> {
        match outbox::lock(&self.outbox) {
            Ok(held) => held
                .failed
                .clone()
                .map(|reason| StoreError::io("journal", io::Error::other(reason))),
            Err(err) => Some(err),
        }
    }

    /// Everything staged durable: waits for the writer to finish, then writes what is left.
    pub async fn drain(&mut self) -> Result<(), StoreError> {
        if let Some(writer) = self.writer.take() {
            writer.await.map_err(|e| {
                StoreError::io(
                    format!("journal {}", self.path.display()),
                    io::Error::other(e.to_string()),
                )
            })??;
        }
        super::blocking(|| self.flush())
    }

    /// One write and one fdatasync for everything staged, here and now, when no writer runs.
    /// On error the journal must not be used again: the caller fails and recovery decides what
    /// reached the disk.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        if let Some(err) = self.failure() {
            return Err(err);
        }
        if outbox::lock(&self.outbox)?.writing {
            return Err(StoreError::io(
                format!("journal {}", self.path.display()),
                io::Error::other("flushed while its writer runs"),
            ));
        }
        outbox::write_staged(&mut self.file, &self.path, &self.outbox, false).map(|_| ())
    }

    /// Empties the journal once a snapshot holds every record in it (after `drain`), the rotated
    /// one included.
    pub fn truncate(&mut self) -> Result<(), StoreError> {
        let mut held = outbox::lock(&self.outbox)?;
        if !held.is_settled() {
            return Err(StoreError::io(
                format!("journal {}", self.path.display()),
                io::Error::other("truncated with records not yet durable"),
            ));
        }
        self.file
            .set_len(0)
            .and_then(|()| self.file.sync_all())
            .map_err(|e| StoreError::io(format!("journal {}", self.path.display()), e))?;
        held.records = 0;
        held.extent = Extent::default();
        drop(held);
        if self.previous {
            self.lease()?.retire_previous()?;
            self.previous = false;
        }
        Ok(())
    }

    /// Moves every record so far aside (`journal.prev.jsonl`) and goes on in a new, empty
    /// journal, so that a snapshot of the state as it is now can be written while new records
    /// arrive; the rotated journal is retired once that snapshot is on disk. Only when settled
    /// (after `drain`) and when no rotated journal is kept; the new file and its name are
    /// durable before anything is written to it.
    pub fn rotate(&mut self) -> Result<(), StoreError> {
        let context = || format!("journal {}", self.path.display());
        let refuse = |why: &str| Err(StoreError::io(context(), io::Error::other(why.to_owned())));
        if self.previous {
            return refuse("rotated while a rotated journal is still kept");
        }
        let mut held = outbox::lock(&self.outbox)?;
        if !held.is_settled() || held.failed.is_some() {
            return refuse("rotated with records not yet durable");
        }
        // The rotated journal is only read from now on: its zeros go (recovery would pass over
        // them if a crash brought them back, so this needs no fdatasync of its own).
        self.file
            .set_len(held.extent.end)
            .map_err(|e| StoreError::io(context(), e))?;
        fs::rename(&self.path, previous_of(&self.path))
            .map_err(|e| StoreError::io(context(), e))?;
        self.previous = true;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&self.path)
            .map_err(|e| StoreError::io(context(), e))?;
        file.try_lock()
            .map_err(|e| StoreError::io(context(), io::Error::other(e.to_string())))?;
        super::sync_dir(self.path.parent().unwrap_or(Path::new(".")))
            .map_err(|e| StoreError::io(context(), e))?;
        self.file = file;
        held.records = 0;
        held.extent = Extent::default();
        Ok(())
    }

    /// A hold on the journal for a compaction running beside it (see `Lease`).
    pub fn lease(&self) -> Result<Lease, StoreError> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| StoreError::io(format!("journal {}", self.path.display()), e))?;
        Ok(Lease {
            _file: file,
            previous: previous_of(&self.path),
        })
    }

    /// A rotated journal is kept: its records are not yet known to be in a snapshot on disk.
    pub fn has_previous(&self) -> bool {
        self.previous
    }

    /// The compaction that held a lease retired the rotated journal.
    pub fn previous_retired(&mut self) {
        self.previous = false;
    }

    /// Records in the journal file since it was last emptied or rotated (with the rotated
    /// journal's, right after a recovery).
    pub fn len(&self) -> u64 {
        outbox::lock(&self.outbox).map_or(0, |held| held.records)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next write fails as a failed fdatasync would.
    #[cfg(feature = "fault-injection")]
    pub fn fail_next_flush(&mut self) {
        if let Ok(mut held) = outbox::lock(&self.outbox) {
            held.fail_next_flush = true;
        }
    }
}

#[cfg(test)]
mod tests;
