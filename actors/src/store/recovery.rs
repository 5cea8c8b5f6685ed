//! Recovery of a tenant's journal on activation: its lock taken (and followed across a rotation),
//! the rotated journal and the current one read as one sequence, a batch cut short by a crash cut
//! off (never where acknowledged records would go with it), and any other damage reported as
//! corruption.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::StoreError;
use super::journal::{Journal, Sequenced};
use super::outbox::Outbox;
use super::zeroed_tail::{Extent, Written};

/// From this many lines on, recovery parses on a second thread while it applies.
pub(super) const PARSE_APART_FROM: usize = 4096;
/// Lines parsed and handed over at a time.
const PARSE_CHUNK: usize = 512;

/// How long recovery waits for an earlier owner's last batch before it gives up.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Takes the journal's exclusive lock, waiting at most `wait` (a hung earlier owner must not
/// hang the tenant's next activation for ever: it fails, and the supervisor decides).
pub(super) fn lock_within(file: &File, wait: Duration) -> io::Result<()> {
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(io::Error::other(
                    "still held by an earlier owner that did not finish writing",
                ));
            }
            Err(TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// Rotations that recovery follows before it gives up on finding the journal it locked still in
/// place (one compaction at a time rotates, so two in a row already mean something is wrong).
const REOPEN_ATTEMPTS: usize = 8;

/// Where a rotated journal stays until a snapshot holding its records is on disk:
/// `journal.jsonl` → `journal.prev.jsonl`. Recovery reads it first, then the journal.
pub fn previous_of(path: &Path) -> PathBuf {
    path.with_extension("prev.jsonl")
}

/// Opens the journal at `path` (creating it) and takes its lock. A compaction may rotate the
/// journal while this waits for the lock, so the file locked must still be the one at `path`.
fn open_locked(path: &Path) -> Result<File, StoreError> {
    let context = || format!("journal {}", path.display());
    for _ in 0..REOPEN_ATTEMPTS {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StoreError::io(context(), e))?;
        // One writer at a time: a batch still being written by an actor that has stopped (a
        // panic does not wait for it) holds this lock until it is done, so its bytes are in the
        // file before anything reads it; so does a compaction still writing its snapshot.
        lock_within(&file, LOCK_WAIT).map_err(|e| StoreError::io(context(), e))?;
        let locked = file.metadata().map_err(|e| StoreError::io(context(), e))?;
        match fs::metadata(path) {
            Ok(now) if (now.dev(), now.ino()) == (locked.dev(), locked.ino()) => return Ok(file),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(context(), e)),
        }
    }
    Err(StoreError::io(
        context(),
        io::Error::other("rotated again and again while recovery waited for it"),
    ))
}

/// The non-empty lines of one journal file, each with its index and whether the file is the
/// rotated one.
fn lines_of(earlier: bool, bytes: &[u8]) -> impl Iterator<Item = (bool, usize, &[u8])> {
    bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(move |(index, line)| (earlier, index, line))
}

/// What recovery found in a journal.
#[derive(Debug)]
pub struct Recovered<R> {
    pub journal: Journal,
    pub records: Vec<R>,
    /// Bytes of an incomplete last line that were cut off (never acknowledged).
    pub torn_bytes: u64,
}

impl Journal {
    /// Opens (creating if needed) and reads back every complete record. A final line without its
    /// newline is a write that was cut short by a crash: it is truncated. Any other damage is
    /// corruption and is reported, never repaired.
    pub fn recover<R: DeserializeOwned + Sequenced + Send>(
        path: &Path,
    ) -> Result<Recovered<R>, StoreError> {
        let mut records = Vec::new();
        let (journal, torn_bytes) = Self::recover_each(path, 0, |record: R, _line: &[u8]| {
            records.push(record);
            Ok(())
        })?;
        Ok(Recovered {
            journal,
            records,
            torn_bytes,
        })
    }

    /// Like `recover`, handing each record to `on_record` as it is read instead of keeping them
    /// all, with its line (so that a caller may read only part of each record and return to the
    /// whole line when it needs it); `on_record` may refuse a record (corruption). Answers the
    /// journal and the torn bytes.
    ///
    /// `acknowledged_through`: a seq known to have been acknowledged that only the journal holds
    /// (the audit trail's last, when it is past every snapshot; else 0). A torn tail is cut only
    /// if the records before it reach that far: otherwise what looks torn holds acknowledged
    /// records (zeros where synced records were: the disk lost them), and it is reported as
    /// corruption with the file left as it is.
    pub fn recover_each<R: DeserializeOwned + Sequenced + Send>(
        path: &Path,
        acknowledged_through: u64,
        mut on_record: impl FnMut(R, &[u8]) -> Result<(), String>,
    ) -> Result<(Journal, u64), StoreError> {
        let context = || format!("journal {}", path.display());
        let mut file = open_locked(path)?;
        // Read after the lock: a compaction that held it has retired the rotated journal or not.
        let rotated = previous_of(path);
        let mut earlier = match fs::read(&rotated) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(StoreError::io(format!("journal {}", rotated.display()), e)),
        };
        if let Some(bytes) = &mut earlier {
            let written = Written::of(bytes);
            if written.torn > 0 {
                // It was fdatasync'ed whole before it was rotated: a cut line is damage (zeros
                // written ahead of its records are not).
                return Err(StoreError::Corrupt {
                    file: rotated.display().to_string(),
                    line: bytes[..written.complete].split(|b| *b == b'\n').count() as u64,
                    reason: "the rotated journal ends in a cut line".into(),
                });
            }
            bytes.truncate(written.complete);
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| StoreError::io(context(), e))?;

        let Written { complete, torn } = Written::of(&bytes);
        let torn_bytes = torn as u64;
        let mut extent = Extent {
            end: complete as u64,
            len: bytes.len() as u64,
        };

        let mut count = 0u64;
        let mut previous: Option<u64> = None;
        // `earlier`: the line is the rotated journal's.
        let mut take = |earlier: bool, index: usize, parsed: Result<R, String>, line: &[u8]| {
            let corrupt = |reason: String| StoreError::Corrupt {
                file: if earlier { rotated.as_path() } else { path }
                    .display()
                    .to_string(),
                line: index as u64 + 1,
                reason,
            };
            let record = parsed.map_err(corrupt)?;
            let seq = record.seq();
            if let Some(prev) = previous
                && seq != prev + 1
            {
                return Err(corrupt(format!("sequence jumps from {prev} to {seq}")));
            }
            on_record(record, line).map_err(corrupt)?;
            previous = Some(seq);
            count += 1;
            Ok(())
        };
        // The rotated journal's records come first; the sequence runs on across both files.
        let lines: Vec<(bool, usize, &[u8])> = earlier
            .as_deref()
            .into_iter()
            .flat_map(|bytes| lines_of(true, bytes))
            .chain(lines_of(false, &bytes[..complete]))
            .collect();
        let parse = |line: &[u8]| serde_json::from_slice::<R>(line).map_err(|e| e.to_string());
        if lines.len() < PARSE_APART_FROM {
            for (earlier, index, line) in lines {
                take(earlier, index, parse(line), line)?;
            }
        } else {
            // A long journal: one thread parses while this one applies, in order.
            std::thread::scope(|scope| -> Result<(), StoreError> {
                let (parsed, arrivals) = std::sync::mpsc::sync_channel(4);
                scope.spawn(move || {
                    for chunk in lines.chunks(PARSE_CHUNK) {
                        let chunk: Vec<_> = chunk
                            .iter()
                            .map(|(earlier, index, line)| (*earlier, *index, parse(line), *line))
                            .collect();
                        if parsed.send(chunk).is_err() {
                            // The reader stopped at a bad record.
                            return;
                        }
                    }
                });
                for chunk in arrivals {
                    for (earlier, index, record, line) in chunk {
                        take(earlier, index, record, line)?;
                    }
                }
                Ok(())
            })?;
        }
        if torn_bytes > 0 {
            let last = previous.unwrap_or(0);
            if last < acknowledged_through {
                return Err(StoreError::Corrupt {
                    file: path.display().to_string(),
                    line: bytes[..complete].split(|b| *b == b'\n').count() as u64,
                    reason: format!(
                        "the complete records end at seq {last}, before {torn_bytes} bytes that \
                         are not, but seq {acknowledged_through} was acknowledged"
                    ),
                });
            }
            // A batch cut short: gone, zeros written ahead and all, so that no byte of it can
            // ever be taken for a record.
            file.set_len(extent.end)
                .and_then(|()| file.sync_all())
                .map_err(|e| StoreError::io(context(), e))?;
            extent.len = extent.end;
        }
        let journal = Journal {
            file,
            path: path.to_owned(),
            outbox: Arc::new(Mutex::new(Outbox::new(count, extent))),
            writer: None,
            notify: None,
            previous: earlier.is_some(),
        };
        Ok((journal, torn_bytes))
    }
}
