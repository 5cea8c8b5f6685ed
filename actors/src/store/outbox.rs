//! The journal's outbox and its writer: the tenant stages lines (and who waits for them) in the
//! outbox; one writer on a blocking thread takes everything staged, writes it after the last
//! record (over zeros written ahead, see `zeroed_tail`) with one fdatasync, tells the waiters,
//! and looks again at once, so the disk never waits for the tenant to come round to a finished
//! batch. The writer stops when it finds nothing staged and is started again by the next line.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use super::StoreError;
use super::zeroed_tail::Extent;

/// Someone waiting for staged records: told `true` once every record staged before it is
/// durable, or `false` when they never will be (the write failed).
pub type Waiter = Box<dyn FnOnce(bool) + Send>;

/// Called on the writer's thread after every batch it writes, and after a failure.
pub type Notify = Arc<dyn Fn() + Send + Sync>;

/// What the tenant has staged and the writer has not taken yet, and what the writer has made
/// durable. Shared by the journal's owner and its writer, behind one mutex.
#[derive(Default)]
pub(super) struct Outbox {
    staged: Vec<u8>,
    staged_records: u64,
    /// The seq of the last staged record.
    staged_through: u64,
    waiting: Vec<Waiter>,
    /// The buffers of the batch written last, emptied, for the next batch to stage into while a
    /// writer keeps going: a busy journal does not grow a fresh buffer for every batch. Dropped
    /// when the writer stops, so an idle tenant holds none.
    spare: Vec<u8>,
    spare_waiting: Vec<Waiter>,
    /// A writer is running; it looks here again before it stops.
    pub(super) writing: bool,
    /// Complete records in the file.
    pub(super) records: u64,
    /// Where they end, and how far the zeros after them go.
    pub(super) extent: Extent,
    /// The highest seq the writer has made durable.
    pub(super) durable_through: u64,
    /// Why writing stopped for good: a failed write or fdatasync is never retried.
    pub(super) failed: Option<String>,
    #[cfg(feature = "fault-injection")]
    pub(super) fail_next_flush: bool,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("staged_records", &self.staged_records)
            .field("waiting", &self.waiting.len())
            .field("writing", &self.writing)
            .field("records", &self.records)
            .field("durable_through", &self.durable_through)
            .field("failed", &self.failed)
            .finish()
    }
}

impl Outbox {
    pub(super) fn new(records: u64, extent: Extent) -> Self {
        Self {
            records,
            extent,
            ..Self::default()
        }
    }

    /// Appends one line that `write` produces (its newline added here), with its waiter; nothing
    /// is staged when `write` fails.
    pub(super) fn stage_with<T>(
        &mut self,
        seq: u64,
        waiter: Option<Waiter>,
        write: impl FnOnce(&mut Vec<u8>) -> Result<T, serde_json::Error>,
    ) -> Result<T, StoreError> {
        if let Some(reason) = &self.failed {
            let err = StoreError::io("journal", io::Error::other(reason.clone()));
            if let Some(waiter) = waiter {
                waiter(false);
            }
            return Err(err);
        }
        let start = self.staged.len();
        match write(&mut self.staged) {
            Ok(written) => {
                self.staged.push(b'\n');
                self.staged_records += 1;
                self.staged_through = seq;
                self.waiting.extend(waiter);
                Ok(written)
            }
            Err(e) => {
                self.staged.truncate(start);
                if let Some(waiter) = waiter {
                    waiter(false);
                }
                Err(StoreError::io(
                    "serialising a journal record",
                    io::Error::other(e),
                ))
            }
        }
    }

    /// Nothing staged and nothing being written: every staged record is durable.
    pub(super) fn is_settled(&self) -> bool {
        !self.writing && self.staged.is_empty()
    }

    pub(super) fn has_staged(&self) -> bool {
        !self.staged.is_empty()
    }

    /// Holds `waiter` until what is staged or being written is durable; gives it back with
    /// what to tell it when that is known already (nothing pending, or a failed write).
    pub(super) fn hold(&mut self, waiter: Waiter) -> Option<(Waiter, bool)> {
        if self.failed.is_some() {
            Some((waiter, false))
        } else if self.is_settled() {
            Some((waiter, true))
        } else {
            self.waiting.push(waiter);
            None
        }
    }
}

/// The largest buffer kept for the next batch; a rare huge batch's buffer is given back.
const MAX_SPARE: usize = 256 * 1024;

/// Locks the outbox. A poisoned lock means a panic while a line was being staged: the staged
/// bytes may end in half a line, so nothing more is written from it.
pub(super) fn lock(outbox: &Mutex<Outbox>) -> Result<MutexGuard<'_, Outbox>, StoreError> {
    outbox.lock().map_err(|_| {
        StoreError::io(
            "journal",
            io::Error::other("a panic while staging a record"),
        )
    })
}

/// Takes everything staged and writes it after the last record with one fdatasync, then tells
/// its waiters. `Ok(false)` when nothing was staged: the waiters found there are told at once
/// (all they waited for is durable), and with `stop` the writer is marked as stopped under the
/// same lock that saw the outbox empty, so a line staged after it starts a new writer.
pub(super) fn write_staged(
    file: &mut File,
    path: &Path,
    outbox: &Mutex<Outbox>,
    stop: bool,
) -> Result<bool, StoreError> {
    let mut held = lock(outbox)?;
    if held.staged.is_empty() {
        if stop {
            // The empty buffer staged into may be the last batch's, handed back: an idle
            // tenant keeps none of them.
            held.writing = false;
            held.staged = Vec::new();
            held.spare = Vec::new();
            held.spare_waiting = Vec::new();
        }
        let waiting = std::mem::take(&mut held.waiting);
        drop(held);
        for waiter in waiting {
            waiter(true);
        }
        return Ok(false);
    }
    let spare = std::mem::take(&mut held.spare);
    let mut bytes = std::mem::replace(&mut held.staged, spare);
    let records = std::mem::take(&mut held.staged_records);
    let through = held.staged_through;
    let extent = held.extent;
    let spare_waiting = std::mem::take(&mut held.spare_waiting);
    let mut waiting = std::mem::replace(&mut held.waiting, spare_waiting);
    #[cfg(feature = "fault-injection")]
    let fail = std::mem::take(&mut held.fail_next_flush);
    drop(held);

    // An injected failure writes the batch and then fails as a failed fdatasync would.
    #[cfg(not(feature = "fault-injection"))]
    let fail = false;
    let written = extent.write(file, &bytes).and_then(|extent| {
        if fail {
            return Err(io::Error::other("injected fsync failure"));
        }
        file.sync_data().map(|()| extent)
    });

    let mut held = lock(outbox)?;
    match written {
        Ok(extent) => {
            held.records += records;
            held.extent = extent;
            held.durable_through = through;
            drop(held);
            for waiter in waiting.drain(..) {
                waiter(true);
            }
            bytes.clear();
            let mut held = lock(outbox)?;
            if bytes.capacity() <= MAX_SPARE {
                held.spare = bytes;
            }
            if waiting.capacity() <= MAX_SPARE / 8 {
                held.spare_waiting = waiting;
            }
            Ok(true)
        }
        Err(e) => {
            let err = StoreError::io(format!("journal {}", path.display()), e);
            // Its callers are told it failed, so none of it may come back when the journal is
            // read again: the file is cut where the durable records end (as far as the disk still
            // takes a change; a crash before this reaches it leaves the batch to recovery).
            if let Err(cut) = file.set_len(extent.end).and_then(|()| file.sync_all()) {
                let journal = path.display();
                tracing::error!(%journal, error = %cut, "a failed batch could not be cut off");
            }
            held.failed = Some(err.to_string());
            held.writing = false;
            let rest = std::mem::take(&mut held.waiting);
            drop(held);
            for waiter in waiting.into_iter().chain(rest) {
                waiter(false);
            }
            Err(err)
        }
    }
}

/// The writer: batches back to back until nothing is staged. It holds its own handle on the
/// journal's file, and with it the journal's lock, until it stops.
pub(super) fn write_behind(
    mut file: File,
    path: &Path,
    outbox: &Mutex<Outbox>,
    notify: Option<&Notify>,
) -> Result<(), StoreError> {
    loop {
        let wrote = write_staged(&mut file, path, outbox, true);
        if !matches!(wrote, Ok(false))
            && let Some(notify) = notify
        {
            notify();
        }
        if !wrote? {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(outbox: &Mutex<Outbox>, seq: u64) {
        lock(outbox)
            .expect("lock")
            .stage_with(seq, None, |out| {
                out.extend_from_slice(format!("{{\"seq\":{seq}}}").as_bytes());
                Ok(())
            })
            .expect("staged");
    }

    #[test]
    fn a_busy_writer_reuses_its_buffers_and_one_that_stops_keeps_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        let mut file = File::create(&path).expect("create");
        let outbox = Mutex::new(Outbox::new(0, Extent::default()));
        for seq in 1..=2 {
            stage(&outbox, seq);
            assert!(write_staged(&mut file, &path, &outbox, true).expect("written"));
        }
        {
            // The second batch went into an empty buffer; the first's is staged into next.
            let held = lock(&outbox).expect("lock");
            assert!(held.staged.is_empty() && held.staged.capacity() > 0);
            assert!(held.spare.capacity() > 0);
            assert_eq!((held.records, held.durable_through), (2, 2));
        }
        assert!(!write_staged(&mut file, &path, &outbox, true).expect("nothing staged"));
        let held = lock(&outbox).expect("lock");
        assert_eq!(
            (
                held.staged.capacity(),
                held.spare.capacity(),
                held.spare_waiting.capacity()
            ),
            (0, 0, 0)
        );
        drop(held);
        assert_eq!(
            super::super::zeroed_tail::records_of(&std::fs::read(&path).expect("read")),
            b"{\"seq\":1}\n{\"seq\":2}\n"
        );
    }
}
