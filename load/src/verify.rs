//! Verification after a run: every write that got a 2xx is there, once, with its audit line;
//! every file of every tenant parses; every audit chain holds.

use std::collections::HashSet;
use std::path::Path;

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
    #[error("{path}: {reason}")]
    BrokenFile { path: String, reason: String },
    #[error("{slug}: the audit chain is broken at line {line}: {reason}")]
    BrokenChain {
        slug: String,
        line: u64,
        reason: String,
    },
}

/// Compares what was acknowledged with what the server now holds and has audited.
pub fn check_writes(
    slug: &str,
    acknowledged: &HashSet<String>,
    present: &HashSet<String>,
    audited: &HashSet<String>,
) -> Result<(), VerifyError> {
    let lost: Vec<&String> = acknowledged.difference(present).collect();
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
                let text = std::fs::read_to_string(&path).map_err(|e| broken(e.to_string()))?;
                let may_be_cut = name == "journal.jsonl"
                    || (name == "audit.jsonl" && moment == Moment::AfterKill);
                let complete = match text.rfind('\n') {
                    Some(end) => &text[..=end],
                    None => "",
                };
                if complete.len() < text.len() && !may_be_cut {
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
}
