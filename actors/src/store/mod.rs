//! The tenant's files on disk: where they are, how they are replaced atomically, and the journal.
//! Only the tenant actor (and its audit child, for the audit trail) calls into this module.

mod journal;
mod outbox;
mod recovery;
mod snapshot;
mod zeroed_tail;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use journal::{Journal, Lease, Recovered, Sequenced, previous_of};
pub use outbox::{Notify, Waiter};
pub use snapshot::{
    load_snapshot, serialising_failed, snapshot_bytes, snapshot_compact, write_snapshots,
};
pub use zeroed_tail::records_of as journal_records;

use crate::domain::Slug;

/// What went wrong with a tenant's files. `Corrupt` is permanent until an operator acts;
/// `Io` fails the tenant actor so that it reloads from disk.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{file} is corrupt at line {line}: {reason}")]
    Corrupt {
        file: String,
        line: u64,
        reason: String,
    },
}

impl StoreError {
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        StoreError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Every path inside one tenant's directory. Built from a `Slug`, so it cannot leave the root.
#[derive(Debug, Clone)]
pub struct TenantPaths {
    dir: PathBuf,
}

impl TenantPaths {
    pub fn new(data_root: &Path, slug: &Slug) -> Self {
        Self {
            dir: tenants_dir(data_root).join(slug.as_str()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn tenant(&self) -> PathBuf {
        self.dir.join("tenant.json")
    }
    pub fn features(&self) -> PathBuf {
        self.dir.join("features.json")
    }
    pub fn roles(&self) -> PathBuf {
        self.dir.join("roles.json")
    }
    pub fn members(&self) -> PathBuf {
        self.dir.join("members.json")
    }
    pub fn auth(&self) -> PathBuf {
        self.dir.join("auth.json")
    }
    pub fn keys(&self) -> PathBuf {
        self.dir.join("api_keys.json")
    }
    pub fn boards(&self) -> PathBuf {
        self.dir.join("boards.json")
    }
    pub fn meetings(&self) -> PathBuf {
        self.dir.join("meetings.json")
    }
    pub fn actions(&self) -> PathBuf {
        self.dir.join("actions.json")
    }
    pub fn calendar(&self) -> PathBuf {
        self.dir.join("calendar.json")
    }
    /// The board pack's files (`blobs/<sha256>`, `tmp/`), written by the documents child.
    pub fn documents(&self) -> PathBuf {
        self.dir.join("documents")
    }
    /// Outgoing mail of the file mailer (`.eml` files), written by the notifier child.
    pub fn mail_dir(&self) -> PathBuf {
        self.dir.join("mail")
    }
    pub fn journal(&self) -> PathBuf {
        self.dir.join("journal.jsonl")
    }
    pub fn audit(&self) -> PathBuf {
        self.dir.join("audit.jsonl")
    }
}

pub fn tenants_dir(data_root: &Path) -> PathBuf {
    data_root.join("tenants")
}

/// Runs blocking file work without stalling the other tasks of a multi-threaded runtime. The work
/// is synchronous code, so a cancelled actor can never leave it half done in the background.
pub fn blocking<R>(work: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// Makes a rename or a new file in `dir` survive a power failure.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `path` with `bytes`: temp file in the same directory, fsync, rename, fsync directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path);
    write_synced(&tmp, bytes)?;
    fs::rename(&tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// A large file is written and made durable this much at a time.
const SYNCED_PIECE: usize = 128 * 1024;

/// Writes `bytes` to a new `path` and makes them durable. A large file goes out in pieces, each
/// fdatasynced before the next is written: a journal's fdatasync beside it (any tenant's, on
/// the same disk) then waits for at most one piece to reach stable storage, not for the whole
/// file (a snapshot of megabytes held every journal's flush behind it for tens of
/// milliseconds; BENCHMARKS.md, the twentieth round).
fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    let mut pieces = bytes.chunks(SYNCED_PIECE).peekable();
    while let Some(piece) = pieces.next() {
        file.write_all(piece)?;
        if pieces.peek().is_some() {
            file.sync_data()?;
        }
    }
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("roles.json");
        write_atomic(&path, b"one").expect("first write");
        write_atomic(&path, b"two").expect("second write");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec!["roles.json"]);
    }

    #[test]
    fn a_file_written_in_pieces_holds_every_byte_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("members.json");
        for len in [0, 1, SYNCED_PIECE, SYNCED_PIECE + 1, 3 * SYNCED_PIECE + 17] {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            write_atomic(&path, &bytes).expect("write");
            assert_eq!(fs::read(&path).expect("read"), bytes, "{len} bytes");
        }
    }

    #[test]
    fn tenant_paths_stay_under_the_root() {
        let slug = Slug::parse("acme").expect("slug");
        let paths = TenantPaths::new(Path::new("/srv/majlis"), &slug);
        assert_eq!(
            paths.journal(),
            Path::new("/srv/majlis/tenants/acme/journal.jsonl")
        );
    }
}
