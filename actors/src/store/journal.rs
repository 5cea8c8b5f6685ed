//! The journal: one JSON line per acknowledged mutation, appended and fdatasync'ed in batches
//! (group commit), replayed on activation, and truncated once a snapshot holds its records.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;

/// From this many lines on, recovery parses on a second thread while it applies.
const PARSE_APART_FROM: usize = 4096;
/// Lines parsed and handed over at a time.
const PARSE_CHUNK: usize = 512;

/// How long recovery waits for an earlier owner's last batch before it gives up.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Takes the journal's exclusive lock, waiting at most `wait` (a hung earlier owner must not
/// hang the tenant's next activation for ever: it fails, and the supervisor decides).
fn lock_within(file: &File, wait: Duration) -> io::Result<()> {
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

/// A record that knows its place in the journal.
pub trait Sequenced {
    fn seq(&self) -> u64;
}

#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    /// Complete records in the file (flushed).
    records: u64,
    /// Serialized records waiting for the next flush.
    staged: Vec<u8>,
    staged_records: u64,
    #[cfg(feature = "fault-injection")]
    pub fail_next_flush: bool,
}

/// Staged records on their way to the disk.
#[derive(Debug)]
pub struct Batch {
    file: File,
    path: PathBuf,
    bytes: Vec<u8>,
    records: u64,
    #[cfg(feature = "fault-injection")]
    fail: bool,
}

impl Batch {
    /// One write and one fdatasync; answers how many records are now durable. On error the
    /// journal must not be used again (a failed fsync is never retried).
    pub fn write(mut self) -> Result<u64, StoreError> {
        let context = || format!("journal {}", self.path.display());
        #[cfg(feature = "fault-injection")]
        if self.fail {
            return Err(StoreError::io(
                context(),
                io::Error::other("injected fsync failure"),
            ));
        }
        self.file
            .write_all(&self.bytes)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| StoreError::io(context(), e))?;
        Ok(self.records)
    }
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
        let (journal, torn_bytes) = Self::recover_each(path, |record: R, _line: &[u8]| {
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
    pub fn recover_each<R: DeserializeOwned + Sequenced + Send>(
        path: &Path,
        mut on_record: impl FnMut(R, &[u8]) -> Result<(), String>,
    ) -> Result<(Journal, u64), StoreError> {
        let context = || format!("journal {}", path.display());
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| StoreError::io(context(), e))?;
        // One writer at a time: a batch still being written by an actor that has stopped (a
        // panic does not wait for it) holds this lock until it is done, so its bytes are in the
        // file before anything reads it.
        lock_within(&file, LOCK_WAIT).map_err(|e| StoreError::io(context(), e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| StoreError::io(context(), e))?;

        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let torn_bytes = (bytes.len() - complete) as u64;
        if torn_bytes > 0 {
            file.set_len(complete as u64)
                .and_then(|()| file.sync_all())
                .map_err(|e| StoreError::io(context(), e))?;
        }

        let mut count = 0u64;
        let mut previous: Option<u64> = None;
        let mut take = |index: usize, parsed: Result<R, String>, line: &[u8]| {
            let corrupt = |reason: String| StoreError::Corrupt {
                file: path.display().to_string(),
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
        let lines: Vec<(usize, &[u8])> = bytes[..complete]
            .split(|b| *b == b'\n')
            .enumerate()
            .filter(|(_, line)| !line.is_empty())
            .collect();
        let parse = |line: &[u8]| serde_json::from_slice::<R>(line).map_err(|e| e.to_string());
        if lines.len() < PARSE_APART_FROM {
            for (index, line) in lines {
                take(index, parse(line), line)?;
            }
        } else {
            // A long journal: one thread parses while this one applies, in order.
            std::thread::scope(|scope| -> Result<(), StoreError> {
                let (parsed, arrivals) = std::sync::mpsc::sync_channel(4);
                scope.spawn(move || {
                    for chunk in lines.chunks(PARSE_CHUNK) {
                        let chunk: Vec<_> = chunk
                            .iter()
                            .map(|(index, line)| (*index, parse(line), *line))
                            .collect();
                        if parsed.send(chunk).is_err() {
                            // The reader stopped at a bad record.
                            return;
                        }
                    }
                });
                for chunk in arrivals {
                    for (index, record, line) in chunk {
                        take(index, record, line)?;
                    }
                }
                Ok(())
            })?;
        }
        let journal = Journal {
            file,
            path: path.to_owned(),
            records: count,
            staged: Vec::new(),
            staged_records: 0,
            #[cfg(feature = "fault-injection")]
            fail_next_flush: false,
        };
        Ok((journal, torn_bytes))
    }

    /// Adds a record to the next flush. Nothing is on disk until `flush` returns.
    pub fn stage<R: Serialize>(&mut self, record: &R) -> Result<(), StoreError> {
        self.stage_with(|out| serde_json::to_writer(out, record))
    }

    /// Stages one line that `write` appends to the buffer (its newline is added here); nothing
    /// is staged when it fails.
    pub fn stage_with<T>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<T, serde_json::Error>,
    ) -> Result<T, StoreError> {
        let start = self.staged.len();
        match write(&mut self.staged) {
            Ok(written) => {
                self.staged.push(b'\n');
                self.staged_records += 1;
                Ok(written)
            }
            Err(e) => {
                self.staged.truncate(start);
                Err(StoreError::io(
                    "serialising a journal record",
                    io::Error::other(e),
                ))
            }
        }
    }

    pub fn has_staged(&self) -> bool {
        !self.staged.is_empty()
    }

    /// One write and one fdatasync for everything staged, here and now. On error the journal
    /// must not be used again: the caller fails and recovery decides what reached the disk.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        if let Some(batch) = self.take_batch()? {
            let records = batch.write()?;
            self.written(records);
        }
        Ok(())
    }

    /// Everything staged, to be written away from the caller (`Batch::write`); `None` when
    /// nothing is staged. The batch writes through its own handle on the same open file, which
    /// keeps the journal's lock (see `recover_each`) until it is done.
    pub fn take_batch(&mut self) -> Result<Option<Batch>, StoreError> {
        if self.staged.is_empty() {
            return Ok(None);
        }
        let file = self
            .file
            .try_clone()
            .map_err(|e| StoreError::io(format!("journal {}", self.path.display()), e))?;
        Ok(Some(Batch {
            file,
            path: self.path.clone(),
            bytes: std::mem::take(&mut self.staged),
            records: std::mem::take(&mut self.staged_records),
            #[cfg(feature = "fault-injection")]
            fail: std::mem::take(&mut self.fail_next_flush),
        }))
    }

    /// A batch taken from this journal is on disk.
    pub fn written(&mut self, records: u64) {
        self.records += records;
    }

    /// Empties the journal once a snapshot holds every record in it.
    pub fn truncate(&mut self) -> Result<(), StoreError> {
        self.file
            .set_len(0)
            .and_then(|()| self.file.sync_all())
            .map_err(|e| StoreError::io(format!("journal {}", self.path.display()), e))?;
        self.records = 0;
        Ok(())
    }

    /// Records on disk since the last snapshot.
    pub fn len(&self) -> u64 {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Rec {
        seq: u64,
        text: String,
    }
    impl Sequenced for Rec {
        fn seq(&self) -> u64 {
            self.seq
        }
    }

    fn rec(seq: u64) -> Rec {
        Rec {
            seq,
            text: format!("record {seq}"),
        }
    }

    #[test]
    fn flushed_records_come_back_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        let mut journal = Journal::recover::<Rec>(&path).expect("open").journal;
        for seq in 1..=3 {
            journal.stage(&rec(seq)).expect("stage");
        }
        journal.flush().expect("flush");
        journal.stage(&rec(4)).expect("stage");
        // Staged but never flushed: lost, as it was never acknowledged.
        drop(journal);
        let recovered = Journal::recover::<Rec>(&path).expect("recover");
        assert_eq!(recovered.records, vec![rec(1), rec(2), rec(3)]);
        assert_eq!(recovered.journal.len(), 3);
    }

    #[test]
    fn recovery_waits_for_a_batch_still_being_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        let mut journal = Journal::recover::<Rec>(&path).expect("open").journal;
        journal.stage(&rec(1)).expect("stage");
        let batch = journal.take_batch().expect("batch").expect("staged");
        assert!(journal.take_batch().expect("empty").is_none());
        // The journal's owner is gone (as after a panic) while its last batch is in flight.
        drop(journal);
        let reader = {
            let path = path.clone();
            std::thread::spawn(move || Journal::recover::<Rec>(&path).expect("recover").records)
        };
        assert_eq!(batch.write().expect("write"), 1);
        assert_eq!(reader.join().expect("reader"), vec![rec(1)]);
    }

    #[test]
    fn a_journal_held_by_a_living_owner_is_refused_not_waited_on_for_ever() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        let _owner = Journal::recover::<Rec>(&path).expect("open");
        let second = File::open(&path).expect("open again");
        let err = lock_within(&second, Duration::ZERO).expect_err("held");
        assert!(err.to_string().contains("earlier owner"), "{err}");
    }

    #[test]
    fn a_long_journal_is_parsed_apart_and_applied_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        let count = PARSE_APART_FROM as u64 * 3 + 7;
        let mut text = String::new();
        for seq in 1..=count {
            text += &serde_json::to_string(&rec(seq)).expect("json");
            text.push('\n');
        }
        std::fs::write(&path, &text).expect("write");
        let recovered = Journal::recover::<Rec>(&path).expect("recover");
        assert_eq!(recovered.records.len() as u64, count);
        assert!(
            recovered
                .records
                .iter()
                .zip(1..)
                .all(|(r, seq)| r.seq == seq)
        );
        drop(recovered);

        // Damage deep inside is still named by its line, and stops the recovery.
        let damaged = text.replacen("{\"seq\":5000,", "{\"seq\":5000", 1);
        std::fs::write(&path, damaged).expect("write");
        match Journal::recover::<Rec>(&path) {
            Err(StoreError::Corrupt { line, .. }) => assert_eq!(line, 5000),
            other => panic!("expected corruption, got {other:?}"),
        }
        let gap = text.replacen("{\"seq\":9000,", "{\"seq\":9001,", 1);
        std::fs::write(&path, gap).expect("write");
        assert!(matches!(
            Journal::recover::<Rec>(&path),
            Err(StoreError::Corrupt { line: 9000, .. })
        ));
    }

    #[test]
    fn a_torn_last_line_is_truncated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        std::fs::write(&path, "{\"seq\":1,\"text\":\"a\"}\n{\"seq\":2,\"te").expect("write");
        let recovered = Journal::recover::<Rec>(&path).expect("recover");
        assert_eq!(recovered.records.len(), 1);
        assert_eq!(recovered.torn_bytes, 12);
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "{\"seq\":1,\"text\":\"a\"}\n"
        );
    }

    #[test]
    fn damage_inside_the_journal_is_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        std::fs::write(
            &path,
            "{\"seq\":1,\"text\":\"a\"}\ngarbage\n{\"seq\":3,\"text\":\"c\"}\n",
        )
        .expect("write");
        match Journal::recover::<Rec>(&path) {
            Err(StoreError::Corrupt { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected corruption, got {other:?}"),
        }
    }

    #[test]
    fn a_gap_in_sequence_is_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        std::fs::write(
            &path,
            "{\"seq\":1,\"text\":\"a\"}\n{\"seq\":3,\"text\":\"c\"}\n",
        )
        .expect("write");
        assert!(matches!(
            Journal::recover::<Rec>(&path),
            Err(StoreError::Corrupt { line: 2, .. })
        ));
    }
}
