//! Snapshot files (`tenant.json`, `features.json`, `roles.json`, `members.json`): each holds the
//! journal sequence it includes, so replay applies to a file only the records it lacks.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{StoreError, sync_dir};

#[derive(Serialize)]
struct SnapshotOut<'a, T> {
    seq: u64,
    data: &'a T,
}

#[derive(Deserialize)]
struct SnapshotIn<T> {
    seq: u64,
    data: T,
}

/// Reads a snapshot file; `None` when it does not exist.
pub fn load_snapshot<T: DeserializeOwned>(path: &Path) -> Result<Option<(u64, T)>, StoreError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(format!("reading {}", path.display()), e)),
    };
    let parsed: SnapshotIn<T> =
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            file: path.display().to_string(),
            line: e.line() as u64,
            reason: e.to_string(),
        })?;
    Ok(Some((parsed.seq, parsed.data)))
}

/// What a snapshot that could not be serialised reports.
pub fn serialising_failed(err: serde_json::Error) -> StoreError {
    StoreError::io("serialising a snapshot", io::Error::other(err))
}

pub fn snapshot_bytes<T: Serialize>(seq: u64, data: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes =
        serde_json::to_vec_pretty(&SnapshotOut { seq, data }).map_err(serialising_failed)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Like `snapshot_bytes`, without indentation (for large collections).
pub fn snapshot_compact<T: Serialize>(seq: u64, data: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = serde_json::to_vec(&SnapshotOut { seq, data }).map_err(serialising_failed)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Replaces several files of one directory: every temp file is written and synced, then each is
/// renamed over its target, then the directory is synced once.
pub fn write_snapshots(
    dir: &Path,
    files: &[(PathBuf, impl AsRef<[u8]>)],
) -> Result<(), StoreError> {
    let io_err = |path: &Path, e| StoreError::io(format!("writing {}", path.display()), e);
    let mut temps = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.tmp"));
        super::write_synced(&tmp, bytes.as_ref()).map_err(|e| io_err(&tmp, e))?;
        temps.push((tmp, path));
    }
    for (tmp, path) in temps {
        fs::rename(&tmp, path).map_err(|e| io_err(path, e))?;
    }
    sync_dir(dir).map_err(|e| io_err(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_the_sequence() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("roles.json");
        let bytes = snapshot_bytes(42, &vec!["admin"]).expect("bytes");
        write_snapshots(dir.path(), &[(path.clone(), bytes)]).expect("write");
        let (seq, data): (u64, Vec<String>) = load_snapshot(&path).expect("load").expect("some");
        assert_eq!((seq, data), (42, vec!["admin".to_owned()]));
    }

    #[test]
    fn a_damaged_snapshot_is_corruption_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("members.json");
        assert!(
            load_snapshot::<u8>(&path)
                .expect("missing is fine")
                .is_none()
        );
        fs::write(&path, "{\"seq\": 1, \"data\": [").expect("write");
        assert!(matches!(
            load_snapshot::<Vec<u8>>(&path),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
