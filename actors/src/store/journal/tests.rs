//! Tests of the journal: group commit, rotation, recovery of what a crash leaves, and the lock.

use std::time::{Duration, Instant};

use super::super::recovery::{PARSE_APART_FROM, lock_within};
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
    // A writer holds its handle on the file but cannot take the batch yet.
    let outbox = Arc::clone(&journal.outbox);
    let held = outbox.lock().expect("outbox");
    let writer = {
        let (file, path, outbox) = (
            journal.file.try_clone().expect("clone"),
            path.clone(),
            Arc::clone(&outbox),
        );
        std::thread::spawn(move || outbox::write_behind(file, &path, &outbox, None))
    };
    // The journal's owner is gone (as after a panic) while its last batch is in flight.
    drop(journal);
    let reader = {
        let path = path.clone();
        std::thread::spawn(move || Journal::recover::<Rec>(&path).expect("recover").records)
    };
    drop(held);
    writer.join().expect("writer").expect("written");
    assert_eq!(reader.join().expect("reader"), vec![rec(1)]);
}

#[test]
fn the_writer_writes_batch_after_batch_and_tells_each_waiter_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.jsonl");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut journal = Journal::recover::<Rec>(&path).expect("open").journal;
        let batches = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = Arc::clone(&batches);
        journal.notify_with(Arc::new(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
        let (told, answers) = std::sync::mpsc::channel();
        for seq in 1..=50u64 {
            let told = told.clone();
            let waiter: Waiter = Box::new(move |durable| {
                let _ = told.send((seq, durable));
            });
            journal
                .stage_with(seq, Some(waiter), |out| {
                    serde_json::to_writer(out, &rec(seq))
                })
                .expect("stage");
            journal.write_behind().expect("writer");
        }
        // A reader after the last write waits for it, then is told too.
        let (read_told, read_answer) = std::sync::mpsc::channel();
        journal.hold(Box::new(move |durable| {
            let _ = read_told.send(durable);
        }));
        journal.drain().await.expect("drain");
        assert!(journal.is_settled());
        assert_eq!(journal.len(), 50);
        assert_eq!(journal.durable_through(), 50);
        drop(told);
        let answers: Vec<(u64, bool)> = answers.iter().collect();
        assert_eq!(answers, (1..=50).map(|seq| (seq, true)).collect::<Vec<_>>());
        assert_eq!(read_answer.recv().ok(), Some(true));
        let written = batches.load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..=50).contains(&written), "{written} batches");
        // With nothing pending, a reader is told at once.
        let (now_told, now_answer) = std::sync::mpsc::channel();
        journal.hold(Box::new(move |durable| {
            let _ = now_told.send(durable);
        }));
        assert_eq!(now_answer.try_recv().ok(), Some(true));
    });
    drop(runtime);
    let recovered = Journal::recover::<Rec>(&path).expect("recover");
    assert_eq!(recovered.records, (1..=50).map(rec).collect::<Vec<_>>());
}

/// A failed fdatasync is never retried: everyone waiting is refused, and so is every later
/// record and reader, until the owner reloads from disk.
#[cfg(feature = "fault-injection")]
#[test]
fn a_failed_write_refuses_its_waiters_and_everything_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.jsonl");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut journal = Journal::recover::<Rec>(&path).expect("open").journal;
        let (told, answers) = std::sync::mpsc::channel();
        let waiter = |told: std::sync::mpsc::Sender<bool>| -> Waiter {
            Box::new(move |durable| {
                let _ = told.send(durable);
            })
        };
        journal.fail_next_flush();
        journal
            .stage_with(1, Some(waiter(told.clone())), |out| {
                serde_json::to_writer(out, &rec(1))
            })
            .expect("stage");
        journal.write_behind().expect("writer");
        assert!(journal.drain().await.is_err());
        assert_eq!(answers.try_recv().ok(), Some(false));
        assert!(journal.failure().is_some());
        assert!(
            journal
                .stage_with(2, Some(waiter(told.clone())), |out| {
                    serde_json::to_writer(out, &rec(2))
                })
                .is_err()
        );
        assert_eq!(answers.try_recv().ok(), Some(false));
        journal.hold(waiter(told));
        assert_eq!(answers.try_recv().ok(), Some(false));
    });
    assert!(
        Journal::recover::<Rec>(&path)
            .expect("recover")
            .records
            .is_empty()
    );
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

fn flushed_journal(path: &Path, seqs: std::ops::RangeInclusive<u64>) -> Journal {
    let mut journal = Journal::recover::<Rec>(path).expect("open").journal;
    for seq in seqs {
        journal.stage(&rec(seq)).expect("stage");
    }
    journal.flush().expect("flush");
    journal
}

fn seqs_of(path: &Path) -> Vec<u64> {
    let recovered = Journal::recover::<Rec>(path).expect("recover");
    recovered.records.iter().map(|r| r.seq).collect()
}

#[test]
fn a_rotated_journal_is_read_first_until_it_is_retired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.jsonl");
    let mut journal = flushed_journal(&path, 1..=3);
    journal.rotate().expect("rotate");
    assert!(journal.has_previous());
    assert!(journal.is_empty(), "the new journal starts empty");
    for seq in 4..=5 {
        journal.stage(&rec(seq)).expect("stage");
    }
    journal.flush().expect("flush");
    drop(journal);

    // A crash before the snapshot is on disk: both files are replayed, in order.
    assert_eq!(seqs_of(&path), vec![1, 2, 3, 4, 5]);
    let journal = Journal::recover::<Rec>(&path).expect("recover").journal;
    assert!(journal.has_previous());
    // Once the snapshot holds them, the rotated records are gone.
    let lease = journal.lease().expect("lease");
    drop(journal);
    lease.retire_previous().expect("retire");
    lease.retire_previous().expect("retiring twice is fine");
    drop(lease);
    assert_eq!(seqs_of(&path), vec![4, 5]);
}

#[test]
fn rotation_needs_a_settled_journal_and_no_rotated_one_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.jsonl");
    let mut journal = flushed_journal(&path, 1..=2);
    journal.stage(&rec(3)).expect("stage");
    assert!(journal.rotate().is_err(), "a staged record is not durable");
    journal.flush().expect("flush");
    journal.rotate().expect("rotate");
    journal.stage(&rec(4)).expect("stage");
    journal.flush().expect("flush");
    assert!(journal.rotate().is_err(), "a rotated journal is still kept");
    // Emptying the journal after a full snapshot retires the rotated one too.
    journal.truncate().expect("truncate");
    assert!(!journal.has_previous());
    assert!(!previous_of(&path).exists());
    drop(journal);
    assert_eq!(seqs_of(&path), Vec::<u64>::new());
}

#[test]
fn damage_across_the_two_journals_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.jsonl");
    let line = |seq: u64| serde_json::to_string(&rec(seq)).expect("json") + "\n";
    std::fs::write(previous_of(&path), line(1) + &line(2)).expect("write");
    std::fs::write(&path, line(4)).expect("write");
    match Journal::recover::<Rec>(&path) {
        Err(StoreError::Corrupt { file, line, .. }) => {
            assert!(file.ends_with("journal.jsonl"), "{file}");
            assert_eq!(line, 1);
        }
        other => panic!("expected a gap, got {other:?}"),
    }
    // The rotated journal was synced whole before it was moved: a cut line there is damage,
    // not a torn write to cut off.
    std::fs::write(previous_of(&path), line(1) + "{\"seq\":2").expect("write");
    std::fs::write(&path, line(3)).expect("write");
    match Journal::recover::<Rec>(&path) {
        Err(StoreError::Corrupt { file, .. }) => assert!(file.ends_with("journal.prev.jsonl")),
        other => panic!("expected corruption, got {other:?}"),
    }
}

/// Descriptors of this process open on the file at `path`.
fn open_handles(path: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("fds")
        .flatten()
        .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path))
        .count()
}

#[test]
fn recovery_follows_a_rotation_made_while_it_waited_for_the_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.jsonl");
    let mut journal = flushed_journal(&path, 1..=2);
    // The owner is still at work: the reader opens the journal and waits for its lock.
    let reader = {
        let path = path.clone();
        std::thread::spawn(move || seqs_of(&path))
    };
    // Rotate only once the reader holds the old file open (it then waits for its lock).
    let until = Instant::now() + Duration::from_secs(10);
    while open_handles(&path) < 2 {
        assert!(
            Instant::now() < until,
            "the reader never opened the journal"
        );
        std::thread::yield_now();
    }
    journal.rotate().expect("rotate");
    journal.stage(&rec(3)).expect("stage");
    journal.flush().expect("flush");
    drop(journal);
    assert_eq!(reader.join().expect("reader"), vec![1, 2, 3]);
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
fn batches_overwrite_the_zeros_ahead_and_a_crash_keeps_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.jsonl");
    let journal = flushed_journal(&path, 1..=3);
    let len = std::fs::metadata(&path).expect("meta").len();
    let bytes = std::fs::read(&path).expect("read");
    let records = super::super::zeroed_tail::records_of(&bytes).len();
    assert!(len > records as u64, "zeros are written ahead");
    // Killed with the zeros in place: nothing torn, nothing cut, and the next batch goes
    // after the last record without growing the file.
    drop(journal);
    let recovered = Journal::recover::<Rec>(&path).expect("recover");
    assert_eq!((recovered.records.len(), recovered.torn_bytes), (3, 0));
    let mut journal = recovered.journal;
    journal.stage(&rec(4)).expect("stage");
    journal.flush().expect("flush");
    drop(journal);
    assert_eq!(std::fs::metadata(&path).expect("meta").len(), len);
    assert_eq!(seqs_of(&path), vec![1, 2, 3, 4]);
}

#[test]
fn a_cut_batch_beyond_the_zeros_is_cut_with_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.jsonl");
    drop(flushed_journal(&path, 1..=2));
    // The later page of a batch reached the disk and the earlier one did not.
    let mut bytes = std::fs::read(&path).expect("read");
    let records = super::super::zeroed_tail::records_of(&bytes).len();
    bytes[records + 100..records + 121].copy_from_slice(b"{\"seq\":4,\"text\":\"d\"}\n");
    std::fs::write(&path, &bytes).expect("write");
    let recovered = Journal::recover::<Rec>(&path).expect("recover");
    assert_eq!(recovered.records, vec![rec(1), rec(2)]);
    assert_eq!(recovered.torn_bytes, 121);
    assert_eq!(
        std::fs::metadata(&path).expect("meta").len(),
        records as u64,
        "the file ends at the last record"
    );
    // What follows is written where the records end, and reads back in order.
    let mut journal = recovered.journal;
    journal.stage(&rec(3)).expect("stage");
    journal.flush().expect("flush");
    drop(journal);
    assert_eq!(seqs_of(&path), vec![1, 2, 3]);
}

#[test]
fn zeros_where_acknowledged_records_were_are_corruption_not_a_torn_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.jsonl");
    drop(flushed_journal(&path, 1..=3));
    // The disk gave back zeros for the synced second record.
    let mut bytes = std::fs::read(&path).expect("read");
    let second = bytes.iter().position(|b| *b == b'\n').expect("line") + 1;
    bytes[second..second + 8].fill(0);
    std::fs::write(&path, &bytes).expect("write");
    // Seq 3 is known to be acknowledged (the audit trail holds it): nothing is cut.
    let err = Journal::recover_each::<Rec>(&path, 3, |_, _| Ok(())).expect_err("corrupt");
    assert!(
        matches!(&err, StoreError::Corrupt { reason, .. } if reason.contains("seq 3 was acknowledged")),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        bytes,
        "the file is left as it is"
    );
    // Without that knowledge it is a batch cut short, and only seq 1 stays.
    let recovered = Journal::recover::<Rec>(&path).expect("recover");
    assert_eq!(recovered.records, vec![rec(1)]);
}

#[test]
fn a_rotated_journal_keeps_its_records_and_not_its_zeros() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.jsonl");
    let mut journal = flushed_journal(&path, 1..=2);
    journal.rotate().expect("rotate");
    let rotated = std::fs::read(previous_of(&path)).expect("rotated");
    assert_eq!(rotated, super::super::zeroed_tail::records_of(&rotated));
    assert!(rotated.ends_with(b"\n"));
    drop(journal);
    // Had the crash come before the shorter length reached the disk, its zeros are passed
    // over.
    let mut padded = rotated.clone();
    padded.extend_from_slice(&[0; 100]);
    std::fs::write(previous_of(&path), &padded).expect("write");
    assert_eq!(seqs_of(&path), vec![1, 2]);
    // Anything else after them is damage: it was synced whole before it was rotated.
    padded.extend_from_slice(b"{\"seq\":3,\"text\":\"c\"}\n");
    std::fs::write(previous_of(&path), &padded).expect("write");
    assert!(matches!(
        Journal::recover::<Rec>(&path),
        Err(StoreError::Corrupt { .. })
    ));
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
