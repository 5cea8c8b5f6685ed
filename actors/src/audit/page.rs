//! Pages of the audit trail for the audit API: the start of a page is found by bisecting the file
//! on `seq` (lines are written in seq order), and each line's filter fields are read before the
//! whole line is, so a page costs about the same at the millionth line as at the first.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use jiff::Timestamp;
use serde::Deserialize;

use super::chain::AuditLine;
use crate::store::StoreError;
use crate::tenant::{AuditQuery, Reply};

/// Below this many bytes left to search, the rest is read line by line.
const LINEAR_BELOW: u64 = 64 * 1024;

/// The fields a query filters on, borrowed from the line where they need no unescaping.
#[derive(Deserialize)]
struct Head<'a> {
    seq: u64,
    at: Timestamp,
    #[serde(borrow)]
    actor: Cow<'a, str>,
    #[serde(borrow)]
    module: Cow<'a, str>,
}

impl Head<'_> {
    fn wanted(&self, query: &AuditQuery) -> bool {
        query.after.is_none_or(|after| self.seq > after)
            && query.actor.as_deref().is_none_or(|a| a == self.actor)
            && query.module.as_deref().is_none_or(|m| m == self.module)
            && query.from.is_none_or(|from| self.at >= from)
            && query.to.is_none_or(|to| self.at < to)
    }
}

/// Reads the lines that match `query`, oldest first, after `query.after`.
pub(super) fn read_page(path: &Path, query: &AuditQuery) -> Result<Reply, StoreError> {
    let io = |e| StoreError::io(format!("audit {}", path.display()), e);
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Reply::AuditPage {
                lines: Vec::new(),
                next: None,
            });
        }
        Err(e) => return Err(io(e)),
    };
    let start = match query.after {
        Some(after) => first_line_after(&mut file, after).map_err(io)?,
        None => 0,
    };
    file.seek(SeekFrom::Start(start)).map_err(io)?;
    let limit = query.limit.max(1);
    let mut lines = Vec::new();
    let mut more = false;
    for raw in BufReader::new(file).split(b'\n') {
        let raw = raw.map_err(io)?;
        let Ok(head) = serde_json::from_slice::<Head>(&raw) else {
            continue;
        };
        if !head.wanted(query) {
            continue;
        }
        let Ok(line) = serde_json::from_slice::<AuditLine>(&raw) else {
            continue;
        };
        if lines.len() == limit {
            more = true;
            break;
        }
        lines.push(line);
    }
    let next = if more {
        lines.last().map(|l| l.seq)
    } else {
        None
    };
    Ok(Reply::AuditPage { lines, next })
}

/// The offset of a line start at or before the first line whose seq is above `after`: every line
/// before it has a seq at or below `after`. Bisects while the range is large, so the caller reads
/// at most about `LINEAR_BELOW` bytes of lines it then skips.
fn first_line_after(file: &mut File, after: u64) -> std::io::Result<u64> {
    let mut low = 0u64;
    let mut high = file.metadata()?.len();
    while high - low > LINEAR_BELOW {
        let middle = low + (high - low) / 2;
        let Some((start, end, seq)) = line_from(file, middle, high)? else {
            // No whole, readable line begins in the upper half: search the lower half by reading.
            break;
        };
        if seq <= after {
            low = end;
        } else {
            high = start;
        }
    }
    Ok(low)
}

/// The first line that begins at or after `from` and ends before `limit`: its start, the offset
/// just past its newline, and its seq. `None` when there is no such line or it does not parse.
fn line_from(file: &mut File, from: u64, limit: u64) -> std::io::Result<Option<(u64, u64, u64)>> {
    // Back up one byte: a line that starts exactly at `from` follows a newline there.
    let probe = from.saturating_sub(1);
    file.seek(SeekFrom::Start(probe))?;
    let mut reader = BufReader::new((&*file).take(limit - probe));
    let mut skipped = Vec::new();
    let start = if from == 0 {
        0
    } else {
        let n = reader.read_until(b'\n', &mut skipped)?;
        if skipped.last() != Some(&b'\n') {
            return Ok(None);
        }
        probe + n as u64
    };
    let mut line = Vec::new();
    let n = reader.read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Ok(None);
    }
    #[derive(Deserialize)]
    struct Seq {
        seq: u64,
    }
    Ok(serde_json::from_slice::<Seq>(&line)
        .ok()
        .map(|s| (start, start + n as u64, s.seq)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditEntry, AuditFacts, chain::write_line};
    use crate::domain::Principal;

    fn trail(dir: &Path, count: u64) -> std::path::PathBuf {
        let mut bytes = Vec::new();
        let mut hash = crate::audit::GENESIS_HASH.to_owned();
        for seq in 1..=count {
            let entry = AuditEntry::new(&AuditFacts {
                seq,
                at: &Timestamp::from_second(seq as i64).expect("time"),
                actor: &Principal::System,
                ip: &None,
                action: "test",
                module: if seq % 3 == 0 { "members" } else { "meetings" },
                target: &format!("t{seq}"),
                diff: &super::super::Diff::of(
                    &serde_json::json!({ "padding": "x".repeat((seq % 50) as usize) }),
                ),
            });
            hash = write_line(&entry, &hash, &mut bytes);
        }
        let path = dir.join("audit.jsonl");
        std::fs::write(&path, bytes).expect("write");
        path
    }

    fn page(path: &Path, query: AuditQuery) -> (Vec<u64>, Option<u64>) {
        match read_page(path, &query).expect("page") {
            Reply::AuditPage { lines, next } => (lines.iter().map(|l| l.seq).collect(), next),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pages_after_any_seq_start_right_after_it() {
        let dir = tempfile::tempdir().expect("dir");
        let path = trail(dir.path(), 20_000);
        for after in [0, 1, 2, 999, 10_000, 12_345, 19_998, 19_999, 20_000, 25_000] {
            let (seqs, next) = page(
                &path,
                AuditQuery {
                    after: Some(after),
                    limit: 3,
                    ..AuditQuery::default()
                },
            );
            let expected: Vec<u64> = (after + 1..=20_000).take(3).collect();
            assert_eq!(seqs, expected, "after {after}");
            assert_eq!(next, (after + 3 < 20_000).then_some(after + 3));
        }
    }

    #[test]
    fn filters_apply_with_the_bisected_start() {
        let dir = tempfile::tempdir().expect("dir");
        let path = trail(dir.path(), 20_000);
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let (seqs, next) = page(
                &path,
                AuditQuery {
                    module: Some("members".into()),
                    from: Some(Timestamp::from_second(100).expect("time")),
                    after,
                    limit: 1000,
                    ..AuditQuery::default()
                },
            );
            all.extend(seqs);
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let expected: Vec<u64> = (100..=20_000).filter(|s| s % 3 == 0).collect();
        assert_eq!(all, expected);
    }

    #[test]
    fn a_damaged_line_is_skipped_not_fatal() {
        let dir = tempfile::tempdir().expect("dir");
        let path = trail(dir.path(), 5_000);
        let mut text = std::fs::read_to_string(&path).expect("read");
        let cut = text.find("\"seq\":2500,").expect("line") - 1;
        text.replace_range(cut..cut + 20, "garbage garbage gar");
        std::fs::write(&path, text).expect("write");
        let (seqs, _) = page(
            &path,
            AuditQuery {
                after: Some(2_498),
                limit: 3,
                ..AuditQuery::default()
            },
        );
        assert_eq!(seqs, vec![2_499, 2_501, 2_502]);
    }
}
