//! Audit lines and their SHA-256 chain: each line's `hash` covers its fields and the previous
//! line's hash, so an edited, removed or reordered line breaks every hash after it.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::diff::Diff;
use crate::domain::Principal;

/// The `prev_hash` of the first line.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The facts of one audit line: who, what, when, where, and the changed fields. Their JSON, in
/// this order, opens the line; the journal record of the same change opens with the same bytes.
#[derive(Debug, Serialize)]
pub struct AuditFacts<'a> {
    pub seq: u64,
    pub at: &'a Timestamp,
    pub actor: &'a Principal,
    pub ip: &'a Option<String>,
    pub action: &'a str,
    pub module: &'a str,
    pub target: &'a str,
    /// `{"field": {"from": old, "to": new}}` for each changed field only.
    pub diff: &'a Diff,
}

impl AuditFacts<'_> {
    /// Appends `{"seq":…,…,"diff":…` to `out`: the facts' JSON without its closing brace.
    pub fn write_head(&self, out: &mut Vec<u8>) {
        // Serialising plain data with string keys into memory cannot fail.
        let _ = serde_json::to_writer(&mut *out, self);
        if out.last() == Some(&b'}') {
            out.pop();
        }
    }
}

/// What happened, before it is chained: its seq and the head of its line (`AuditFacts::
/// write_head`), written once, where the change is journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    seq: u64,
    head: Box<[u8]>,
}

impl AuditEntry {
    pub fn new(facts: &AuditFacts<'_>) -> Self {
        let mut head = Vec::new();
        facts.write_head(&mut head);
        Self::from_head(facts.seq, &head)
    }

    /// The entry whose line opens with `head`, which `AuditFacts::write_head` wrote for `seq`.
    pub(crate) fn from_head(seq: u64, head: &[u8]) -> Self {
        Self {
            seq,
            head: head.into(),
        }
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }
}

/// Entries handed to the audit child together, shared with the tenant until they are written.
pub type AuditBatch = std::sync::Arc<[AuditEntry]>;

/// A line of `audit.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditLine {
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Principal,
    pub ip: Option<String>,
    pub action: String,
    pub module: String,
    pub target: String,
    /// As written: the hash covers these bytes.
    pub diff: Diff,
    pub prev_hash: String,
    pub hash: String,
}

/// Closes a line's head with `prev_hash`: the bytes a line's hash covers.
fn close_hashed(out: &mut Vec<u8>, prev_hash: &str) {
    out.extend_from_slice(b",\"prev_hash\":");
    // Serialising a string into memory cannot fail.
    let _ = serde_json::to_writer(&mut *out, prev_hash);
    out.push(b'}');
}

/// Appends `entry`'s line, chained to `prev_hash`, to `out` (JSON and a newline) and answers its
/// hash. The hashed bytes are the line itself up to `hash`: the entry's head, then `prev_hash`.
pub fn write_line(entry: &AuditEntry, prev_hash: &str, out: &mut Vec<u8>) -> String {
    let start = out.len();
    out.extend_from_slice(&entry.head);
    close_hashed(out, prev_hash);
    let hash = hex::encode(Sha256::digest(&out[start..]));
    out.pop();
    out.extend_from_slice(b",\"hash\":\"");
    out.extend_from_slice(hash.as_bytes());
    out.extend_from_slice(b"\"}\n");
    hash
}

impl AuditLine {
    /// What this line's hash must be: the hash of its facts and `prev_hash`, written as
    /// `write_line` writes them (the diff as it stands in the file).
    pub fn compute_hash(&self) -> String {
        let mut bytes = Vec::new();
        AuditFacts {
            seq: self.seq,
            at: &self.at,
            actor: &self.actor,
            ip: &self.ip,
            action: &self.action,
            module: &self.module,
            target: &self.target,
            diff: &self.diff,
        }
        .write_head(&mut bytes);
        close_hashed(&mut bytes, &self.prev_hash);
        hex::encode(Sha256::digest(bytes))
    }

    /// The line `write_line` writes for `entry`, read back.
    #[cfg(test)]
    pub fn chain(entry: &AuditEntry, prev_hash: &str) -> Self {
        let mut out = Vec::new();
        write_line(entry, prev_hash, &mut out);
        serde_json::from_slice(&out).unwrap_or_else(|e| panic!("a written line parses: {e}"))
    }
}

/// The first place the chain is broken; lines are numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ChainError {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub lines: u64,
    pub last_seq: u64,
    pub last_hash: String,
}

/// Checks every line of an audit file: it parses, its hash is right, it points at the previous
/// line's hash, and its sequence number follows the previous one.
pub fn verify_file(path: &Path) -> Result<VerifyReport, ChainError> {
    let file = File::open(path).map_err(|e| ChainError {
        line: 0,
        reason: format!("cannot open {}: {e}", path.display()),
    })?;
    let mut report = VerifyReport {
        lines: 0,
        last_seq: 0,
        last_hash: GENESIS_HASH.to_owned(),
    };
    for (index, raw) in BufReader::new(file).split(b'\n').enumerate() {
        let line_no = index as u64 + 1;
        let broken = |reason: String| ChainError {
            line: line_no,
            reason,
        };
        let raw = raw.map_err(|e| broken(e.to_string()))?;
        let line: AuditLine =
            serde_json::from_slice(&raw).map_err(|e| broken(format!("unparsable: {e}")))?;
        if line.prev_hash != report.last_hash {
            return Err(broken("prev_hash does not match the previous line".into()));
        }
        if line.compute_hash() != line.hash {
            return Err(broken("hash does not match the line's content".into()));
        }
        if report.lines > 0 && line.seq <= report.last_seq {
            return Err(broken(format!(
                "seq {} does not follow {}",
                line.seq, report.last_seq
            )));
        }
        report.lines += 1;
        report.last_seq = line.seq;
        report.last_hash = line.hash;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_line_is_the_chained_line_byte_for_byte() {
        let at = Timestamp::from_second(1_800_000_000).expect("time");
        let diff = Diff::of(&serde_json::json!({"name": {"from": null, "to": "Ann \"A\" <a@b>"}}));
        let entry = AuditEntry::new(&AuditFacts {
            seq: 7,
            at: &at,
            actor: &crate::domain::Principal::System,
            ip: &Some("192.0.2.1".into()),
            action: "member.create",
            module: "members",
            target: "m_1",
            diff: &diff,
        });
        let mut out = b"earlier\n".to_vec();
        let hash = write_line(&entry, GENESIS_HASH, &mut out);
        let line = AuditLine::chain(&entry, GENESIS_HASH);
        assert_eq!(hash, line.hash);
        assert_eq!(line.compute_hash(), hash, "the line verifies");
        // What any tool can check: the line's own bytes, without its closing `,"hash":"…"`.
        let text = String::from_utf8(out[b"earlier\n".len()..].to_vec()).expect("utf8");
        let hashed = text
            .trim_end()
            .replace(&format!(",\"hash\":\"{hash}\""), "");
        assert_eq!(hex::encode(Sha256::digest(hashed.as_bytes())), hash);
        assert_eq!(
            (line.seq, &line.diff, &line.prev_hash),
            (7, &diff, &GENESIS_HASH.to_owned())
        );
        let mut expected = b"earlier\n".to_vec();
        serde_json::to_writer(&mut expected, &line).expect("json");
        expected.push(b'\n');
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            String::from_utf8(expected).expect("utf8")
        );
    }
    use std::io::Write;

    fn entry(seq: u64) -> AuditEntry {
        AuditEntry::new(&AuditFacts {
            seq,
            at: &Timestamp::from_second(1_800_000_000 + seq as i64).expect("time"),
            actor: &Principal::Operator,
            ip: &Some("127.0.0.1".into()),
            action: "member.create",
            module: "members",
            target: &format!("m_{seq:020}"),
            diff: &Diff::of(&Unsorted {
                name: Some("Ann"),
                epoch: seq,
            }),
        })
    }

    /// A typed change whose keys are not in sorted order: lines hash their diffs as written.
    #[derive(serde::Serialize)]
    struct Unsorted {
        name: Option<&'static str>,
        epoch: u64,
    }

    fn write_chain(path: &Path, count: u64) -> Vec<String> {
        let mut prev = GENESIS_HASH.to_owned();
        let mut lines = Vec::new();
        for seq in 1..=count {
            let line = AuditLine::chain(&entry(seq), &prev);
            prev = line.hash.clone();
            lines.push(serde_json::to_string(&line).expect("json"));
        }
        let mut file = File::create(path).expect("create");
        for line in &lines {
            writeln!(file, "{line}").expect("write");
        }
        lines
    }

    #[test]
    fn an_intact_chain_verifies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        write_chain(&path, 5);
        let report = verify_file(&path).expect("intact");
        assert_eq!((report.lines, report.last_seq), (5, 5));
    }

    #[test]
    fn an_edited_line_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let mut lines = write_chain(&path, 5);
        lines[2] = lines[2].replace("Ann", "Eve");
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
        assert_eq!(verify_file(&path).unwrap_err().line, 3);
    }

    #[test]
    fn a_removed_line_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let mut lines = write_chain(&path, 5);
        lines.remove(1);
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
        assert_eq!(verify_file(&path).unwrap_err().line, 2);
    }
}
