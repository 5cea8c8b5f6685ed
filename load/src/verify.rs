//! Verification after a run: every write that got a 2xx is there, once, with its audit line;
//! every file of every tenant parses; every audit chain holds.

use std::collections::BTreeSet;
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
    acknowledged: &BTreeSet<String>,
    present: &BTreeSet<String>,
    audited: &BTreeSet<String>,
) -> Result<(), VerifyError> {
    let lost: Vec<&String> = acknowledged.difference(present).collect();
    if let Some(first) = lost.first() {
        return Err(VerifyError::Lost {
            slug: slug.into(),
            count: lost.len(),
            example: (*first).clone(),
        });
    }
    let unaudited: Vec<&String> = acknowledged.difference(audited).collect();
    if let Some(first) = unaudited.first() {
        return Err(VerifyError::Unaudited {
            slug: slug.into(),
            count: unaudited.len(),
            example: (*first).clone(),
        });
    }
    Ok(())
}

/// Every `*.json` parses as JSON, every line of every `*.jsonl` too, and each audit chain holds.
pub fn check_files(data_dir: &Path) -> Result<usize, VerifyError> {
    let tenants = data_dir.join("tenants");
    let mut checked = 0;
    let listing = std::fs::read_dir(&tenants).map_err(|e| VerifyError::BrokenFile {
        path: tenants.display().to_string(),
        reason: e.to_string(),
    })?;
    for tenant in listing.flatten() {
        let dir = tenant.path();
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
                if !text.is_empty() && !text.ends_with('\n') && name != "journal.jsonl" {
                    return Err(broken("the last line is cut short".into()));
                }
                for line in text.lines() {
                    serde_json::from_str::<serde_json::Value>(line)
                        .map_err(|e| broken(e.to_string()))?;
                }
                checked += 1;
            }
        }
        let audit = dir.join("audit.jsonl");
        if audit.exists() {
            majlis_actors::audit::verify_file(&audit).map_err(|e| VerifyError::BrokenChain {
                slug: tenant.file_name().to_string_lossy().into_owned(),
                line: e.line,
                reason: e.reason,
            })?;
        }
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
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
        assert_eq!(check_files(root.path()), Ok(1));
        std::fs::write(tenant.join("members.json"), "{\"seq\": 1, \"da").expect("truncate");
        assert!(matches!(
            check_files(root.path()),
            Err(VerifyError::BrokenFile { .. })
        ));
        std::fs::write(tenant.join("members.json"), "{}").expect("write");
        std::fs::write(tenant.join("audit.jsonl"), "{\"seq\":1}\n{\"se").expect("write");
        assert!(matches!(
            check_files(root.path()),
            Err(VerifyError::BrokenFile { .. })
        ));
    }
}
