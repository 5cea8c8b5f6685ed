//! `DocumentsActor`: the tenant's board-pack files. Uploads stream into `documents/tmp/` while
//! being hashed, then land content-addressed as `documents/blobs/<sha256>`; downloads stream
//! back out. Each transfer runs in its own task so one slow client holds up nobody.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::error::TenantError;
use crate::store::{blocking, sync_dir};
use crate::tenant::{DocumentVersion, PendingUpload, Reply, TenantMsg, WorkspaceReply};

/// Chunks of a transfer; an `Err` ends it (a client that went away, a read error).
pub type Chunks = mpsc::Receiver<Result<Vec<u8>, String>>;

const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug)]
pub struct DocumentsActor;

#[derive(Debug)]
pub struct DocumentsArgs {
    pub dir: PathBuf,
    pub tenant: ActorRef<TenantMsg>,
    pub limit: u64,
}

#[derive(Debug)]
pub enum DocumentsMsg {
    /// Write the chunks to a blob; the tenant hears back with `DocumentStored`.
    Store {
        chunks: Chunks,
        pending: Box<PendingUpload>,
    },
    /// Stream a blob to the caller.
    Read {
        version: DocumentVersion,
        reply: RpcReplyPort<Result<Reply, TenantError>>,
    },
}

#[derive(Debug)]
pub struct DocumentsState {
    args: DocumentsArgs,
}

/// A blob now on disk.
#[derive(Debug, Clone)]
pub struct StoredBlob {
    pub sha256: String,
    pub size: u64,
}

impl Actor for DocumentsActor {
    type Msg = DocumentsMsg;
    type State = DocumentsState;
    type Arguments = DocumentsArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: DocumentsArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let (tmp, blobs) = (args.dir.join("tmp"), args.dir.join("blobs"));
        blocking(|| {
            std::fs::create_dir_all(&blobs)?;
            // Leftovers of uploads cut short by a crash were never acknowledged.
            let _ = std::fs::remove_dir_all(&tmp);
            std::fs::create_dir_all(&tmp)
        })?;
        Ok(DocumentsState { args })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            DocumentsMsg::Store { chunks, pending } => {
                let dir = state.args.dir.clone();
                let limit = state.args.limit;
                let tenant = state.args.tenant.clone();
                tokio::spawn(async move {
                    let result = store(&dir, limit, chunks).await;
                    let _ = tenant.cast(TenantMsg::DocumentStored { pending, result });
                });
            }
            DocumentsMsg::Read { version, reply } => {
                let path = blob_path(&state.args.dir, &version.sha256);
                let file = match blocking(|| std::fs::File::open(&path)) {
                    Ok(file) => file,
                    Err(e) => {
                        tracing::error!(path = %path.display(), error = %e, "a document blob is missing");
                        let _ = reply.send(Err(TenantError::Internal(format!(
                            "blob {}: {e}",
                            version.sha256
                        ))));
                        return Ok(());
                    }
                };
                let (tx, rx) = mpsc::channel(4);
                tokio::task::spawn_blocking(move || pump(file, tx));
                let _ = reply.send(Ok(Reply::Workspace(WorkspaceReply::DocumentStream {
                    version,
                    chunks: rx,
                })));
            }
        }
        Ok(())
    }
}

fn blob_path(dir: &Path, sha256: &str) -> PathBuf {
    dir.join("blobs").join(sha256)
}

/// Reads a blob into the channel until the end or until the reader goes away.
fn pump(mut file: std::fs::File, tx: mpsc::Sender<Result<Vec<u8>, String>>) {
    loop {
        let mut buf = vec![0u8; READ_CHUNK];
        match file.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                if tx.blocking_send(Ok(buf)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e.to_string()));
                return;
            }
        }
    }
}

/// Streams chunks into a temp file while hashing; over `limit` or on a broken stream the temp
/// file is removed and nothing is left behind.
async fn store(dir: &Path, limit: u64, mut chunks: Chunks) -> Result<StoredBlob, TenantError> {
    let tmp = dir.join("tmp").join(crate::tenant::random_name());
    let io = |e: std::io::Error| TenantError::Internal(format!("storing a document: {e}"));
    let mut file = blocking(|| std::fs::File::create(&tmp)).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let outcome = loop {
        match chunks.recv().await {
            None => break Ok(()),
            Some(Err(reason)) => {
                break Err(TenantError::Invalid(crate::domain::ParseError {
                    field: "file",
                    reason: format!("the upload was interrupted: {reason}"),
                }));
            }
            Some(Ok(chunk)) => {
                size += chunk.len() as u64;
                if size > limit {
                    break Err(TenantError::TooLarge(limit));
                }
                hasher.update(&chunk);
                if let Err(e) = blocking(|| file.write_all(&chunk)) {
                    break Err(io(e));
                }
            }
        }
    };
    if let Err(err) = outcome {
        drop(file);
        let _ = blocking(|| std::fs::remove_file(&tmp));
        return Err(err);
    }
    if size == 0 {
        let _ = blocking(|| std::fs::remove_file(&tmp));
        return Err(TenantError::Invalid(crate::domain::ParseError {
            field: "file",
            reason: "the file is empty".into(),
        }));
    }
    let sha256 = hex::encode(hasher.finalize());
    let target = blob_path(dir, &sha256);
    let placed = blocking(|| -> std::io::Result<()> {
        file.sync_all()?;
        drop(file);
        if target.exists() {
            std::fs::remove_file(&tmp)?;
        } else {
            std::fs::rename(&tmp, &target)?;
            sync_dir(target.parent().unwrap_or(dir))?;
        }
        Ok(())
    });
    placed.map_err(io)?;
    Ok(StoredBlob { sha256, size })
}
