//! Verification after a run: every write that got a 2xx is there, once, with its audit line, and
//! what the edits changed holds the last of them; every file of every tenant parses; every audit
//! chain holds.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use majlis_actors::store::journal_records;
use serde_json::Value;

/// Every write but a new member carries a mark of this shape (the prefix, then ASCII letters and
/// digits) in the text it sets, to be found again in its audit line and in the state.
pub const MARK_PREFIX: &str = "tok-";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("{slug}: {count} acknowledged writes are missing, e.g. {example}")]
    Lost {
        slug: String,
        count: usize,
        example: String,
    },
    #[error("{slug}: {count} acknowledged writes have no audit line, e.g. {example}")]
    Unaudited {
        slug: String,
        count: usize,
        example: String,
    },
    #[error("{slug}: {what} holds {found}, but the audit trail's last change of it set {expected}")]
    Diverged {
        slug: String,
        what: String,
        expected: String,
        found: String,
    },
    #[error("{path}: {reason}")]
    BrokenFile { path: String, reason: String },
    #[error("{slug}: the audit chain is broken at line {line}: {reason}")]
    BrokenChain {
        slug: String,
        line: u64,
        reason: String,
    },
}

/// Compares what was acknowledged with what the server now holds and has audited: new members
/// (by id) must be present, and every acknowledged write (id or mark) must have its audit line.
pub fn check_writes(
    slug: &str,
    acknowledged: &HashSet<String>,
    present: &HashSet<String>,
    audited: &HashSet<String>,
) -> Result<(), VerifyError> {
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|a| !a.starts_with(MARK_PREFIX) && !present.contains(*a))
        .collect();
    if let Some(first) = lost.iter().min() {
        return Err(VerifyError::Lost {
            slug: slug.into(),
            count: lost.len(),
            example: (*first).clone(),
        });
    }
    let unaudited: Vec<&String> = acknowledged.difference(audited).collect();
    if let Some(first) = unaudited.iter().min() {
        return Err(VerifyError::Unaudited {
            slug: slug.into(),
            count: unaudited.len(),
            example: (*first).clone(),
        });
    }
    Ok(())
}

/// The marks in `text`.
pub fn marks_in(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices(MARK_PREFIX).map(move |(start, _)| {
        let rest = &text[start + MARK_PREFIX.len()..];
        let len = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        &text[start..start + MARK_PREFIX.len() + len]
    })
}

/// The marks an audit line's diff (`{"field": {"from": …, "to": …}}`) brings in: in a `to` and
/// in no `from`.
pub fn new_marks(diff: &Value) -> Vec<String> {
    let changes = || {
        diff.as_object()
            .into_iter()
            .flat_map(|fields| fields.values())
    };
    let before: HashSet<String> = changes()
        .flat_map(|change| {
            marks_in(&change["from"].to_string())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    changes()
        .flat_map(|change| {
            marks_in(&change["to"].to_string())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|mark| !before.contains(mark))
        .collect()
}

/// For each object the edits change (named by what), the mark its last audited change set
/// against the mark it holds now.
pub fn check_state(
    slug: &str,
    last_audited: &BTreeMap<&'static str, String>,
    held: &BTreeMap<&'static str, Option<String>>,
) -> Result<(), VerifyError> {
    for (what, expected) in last_audited {
        let found = held.get(what).cloned().flatten();
        if found.as_ref() != Some(expected) {
            return Err(VerifyError::Diverged {
                slug: slug.into(),
                what: (*what).into(),
                expected: expected.clone(),
                found: found.unwrap_or_else(|| "nothing".into()),
            });
        }
    }
    Ok(())
}

/// When the files are looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// Right after a `kill -9` and a restart, before any tenant has loaded: the journal and the
    /// audit trail may end in a line cut short (a batch never acknowledged; trail lines not yet
    /// synced, which the journal rebuilds). The complete lines must parse and chain.
    AfterKill,
    /// After the tenants have answered again: the audit trail is whole.
    Settled,
}

/// Every `*.json` parses as JSON, every line of every `*.jsonl` too, and each audit chain holds.
pub fn check_files(data_dir: &Path, moment: Moment) -> Result<usize, VerifyError> {
    let tenants = data_dir.join("tenants");
    let mut checked = 0;
    let listing = std::fs::read_dir(&tenants).map_err(|e| VerifyError::BrokenFile {
        path: tenants.display().to_string(),
        reason: e.to_string(),
    })?;
    for tenant in listing.flatten() {
        let dir = tenant.path();
        let mut audit_prefix = None;
        for file in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = file.path();
            let broken = |reason: String| VerifyError::BrokenFile {
                path: path.display().to_string(),
                reason,
            };
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            if name.ends_with(".json") {
                let bytes = std::fs::read(&path).map_err(|e| broken(e.to_string()))?;
                serde_json::from_slice::<serde_json::Value>(&bytes)
                    .map_err(|e| broken(e.to_string()))?;
                checked += 1;
            } else if name.ends_with(".jsonl") {
                let bytes = std::fs::read(&path).map_err(|e| broken(e.to_string()))?;
                // A journal's records are followed by the zeros written ahead of them (which a
                // rotated journal may keep after a crash too); nothing else may follow.
                let (bytes, rest) = if name.starts_with("journal") {
                    let records = journal_records(&bytes);
                    let rest = &bytes[records.len()..];
                    (records, rest.iter().filter(|b| **b != 0).count())
                } else {
                    (&bytes[..], 0)
                };
                let text = std::str::from_utf8(bytes).map_err(|e| broken(e.to_string()))?;
                let may_be_cut = name == "journal.jsonl"
                    || (name == "audit.jsonl" && moment == Moment::AfterKill);
                let complete = match text.rfind('\n') {
                    Some(end) => &text[..=end],
                    None => "",
                };
                if (complete.len() < text.len() || rest > 0) && !may_be_cut {
                    return Err(broken("the last line is cut short".into()));
                }
                for line in complete.lines() {
                    serde_json::from_str::<serde_json::Value>(line)
                        .map_err(|e| broken(e.to_string()))?;
                }
                if name == "audit.jsonl" && complete.len() < text.len() {
                    audit_prefix = Some(complete.to_owned());
                }
                checked += 1;
            }
        }
        let slug = tenant.file_name().to_string_lossy().into_owned();
        let chain_broken = |e: majlis_actors::audit::ChainError| VerifyError::BrokenChain {
            slug: slug.clone(),
            line: e.line,
            reason: e.reason,
        };
        let audit = dir.join("audit.jsonl");
        match audit_prefix {
            // The chain is checked over the complete lines, away from the server's directory.
            Some(prefix) => {
                let copy = tempfile::NamedTempFile::new().map_err(|e| VerifyError::BrokenFile {
                    path: audit.display().to_string(),
                    reason: format!("cannot copy for checking: {e}"),
                })?;
                std::fs::write(copy.path(), prefix).map_err(|e| VerifyError::BrokenFile {
                    path: audit.display().to_string(),
                    reason: format!("cannot copy for checking: {e}"),
                })?;
                majlis_actors::audit::verify_file(copy.path()).map_err(chain_broken)?;
            }
            None if audit.exists() => {
                majlis_actors::audit::verify_file(&audit).map_err(chain_broken)?;
            }
            None => {}
        }
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> HashSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_dropped_write_is_caught() {
        let acked = set(&["m1", "m2", "m3"]);
        assert_eq!(check_writes("t", &acked, &acked, &acked), Ok(()));
        let err = check_writes("t", &acked, &set(&["m1", "m3"]), &acked).unwrap_err();
        assert_eq!(
            err,
            VerifyError::Lost {
                slug: "t".into(),
                count: 1,
                example: "m2".into()
            }
        );
        let err = check_writes("t", &acked, &acked, &set(&["m1"])).unwrap_err();
        assert!(matches!(err, VerifyError::Unaudited { count: 2, .. }));
    }

    #[test]
    fn an_edit_is_checked_by_its_audit_line_not_the_member_list() {
        let acked = set(&["m1", "tok-a1", "tok-b2"]);
        let audited = set(&["m1", "tok-a1", "tok-b2"]);
        assert_eq!(check_writes("t", &acked, &set(&["m1"]), &audited), Ok(()));
        let err = check_writes("t", &acked, &set(&["m1"]), &set(&["m1", "tok-a1"])).unwrap_err();
        assert_eq!(
            err,
            VerifyError::Unaudited {
                slug: "t".into(),
                count: 1,
                example: "tok-b2".into()
            }
        );
    }

    #[test]
    fn marks_are_found_in_text_and_in_what_a_diff_brings_in() {
        let found: Vec<&str> = marks_in("Load admin tok-w1n2rab12, then tok-x9.").collect();
        assert_eq!(found, ["tok-w1n2rab12", "tok-x9"]);
        assert_eq!(marks_in("no mark here").count(), 0);
        let diff = serde_json::json!({
            "rsvps": {"from": {"m_1": {"note": "Coming tok-old1"}}, "to": {"m_1": {"note": "Coming tok-new2"}}},
            "sequence": {"from": 3, "to": 4}
        });
        assert_eq!(new_marks(&diff), ["tok-new2"]);
        let first = serde_json::json!({"notes": {"from": null, "to": "Note tok-first"}});
        assert_eq!(new_marks(&first), ["tok-first"]);
    }

    #[test]
    fn a_state_that_is_not_the_last_audited_change_is_caught() {
        let last = BTreeMap::from([("meeting.rsvp", "tok-b".to_owned())]);
        let held = |mark: Option<&str>| BTreeMap::from([("meeting.rsvp", mark.map(str::to_owned))]);
        assert_eq!(check_state("t", &last, &held(Some("tok-b"))), Ok(()));
        let err = check_state("t", &last, &held(Some("tok-a"))).unwrap_err();
        assert!(matches!(err, VerifyError::Diverged { ref found, .. } if found == "tok-a"));
        assert!(matches!(
            check_state("t", &last, &held(None)),
            Err(VerifyError::Diverged { .. })
        ));
        // Nothing audited for an object: nothing to hold.
        assert_eq!(check_state("t", &BTreeMap::new(), &held(None)), Ok(()));
    }

    #[test]
    fn a_truncated_file_is_caught() {
        let root = tempfile::tempdir().expect("tempdir");
        let tenant = root.path().join("tenants").join("acme");
        std::fs::create_dir_all(&tenant).expect("dir");
        std::fs::write(tenant.join("members.json"), "{\"seq\": 1, \"data\": {}}").expect("write");
        assert_eq!(check_files(root.path(), Moment::Settled), Ok(1));
        std::fs::write(tenant.join("members.json"), "{\"seq\": 1, \"da").expect("truncate");
        for moment in [Moment::AfterKill, Moment::Settled] {
            assert!(matches!(
                check_files(root.path(), moment),
                Err(VerifyError::BrokenFile { .. })
            ));
        }
        std::fs::write(tenant.join("members.json"), "{}").expect("write");
        // A trail cut short is expected right after a kill (the journal rebuilds it), never once
        // the tenant has loaded again.
        std::fs::write(tenant.join("audit.jsonl"), "{\"se").expect("write");
        assert_eq!(check_files(root.path(), Moment::AfterKill), Ok(2));
        assert!(matches!(
            check_files(root.path(), Moment::Settled),
            Err(VerifyError::BrokenFile { .. })
        ));
        // Complete lines must parse whatever the moment.
        std::fs::write(tenant.join("audit.jsonl"), "{\"seq\":1,\n{\"se").expect("write");
        assert!(matches!(
            check_files(root.path(), Moment::AfterKill),
            Err(VerifyError::BrokenFile { .. })
        ));
    }

    #[test]
    fn a_journal_may_end_in_zeros_and_only_the_live_one_in_a_cut_batch() {
        let root = tempfile::tempdir().expect("tempdir");
        let tenant = root.path().join("tenants").join("acme");
        std::fs::create_dir_all(&tenant).expect("dir");
        let padded = |tail: &[u8]| [b"{\"seq\":1}\n".as_slice(), &[0; 64], tail].concat();
        for name in ["journal.jsonl", "journal.prev.jsonl"] {
            std::fs::write(tenant.join(name), padded(b"")).expect("write");
        }
        assert_eq!(check_files(root.path(), Moment::Settled), Ok(2));
        // A batch cut short by a kill, a later page of it on disk before an earlier one.
        std::fs::write(tenant.join("journal.jsonl"), padded(b"{\"seq\":2}\n")).expect("write");
        assert_eq!(check_files(root.path(), Moment::AfterKill), Ok(2));
        // The rotated journal was whole when it was rotated.
        std::fs::write(tenant.join("journal.prev.jsonl"), padded(b"{\"s")).expect("write");
        assert!(matches!(
            check_files(root.path(), Moment::AfterKill),
            Err(VerifyError::BrokenFile { .. })
        ));
        // A record that does not parse before the zeros is damage.
        std::fs::write(tenant.join("journal.prev.jsonl"), padded(b"")).expect("write");
        std::fs::write(tenant.join("journal.jsonl"), b"{\"seq\":\n\0\0").expect("write");
        assert!(matches!(
            check_files(root.path(), Moment::AfterKill),
            Err(VerifyError::BrokenFile { .. })
        ));
    }
}
