//! The board pack: who may add, replace and read a meeting's documents, and the journal record
//! that follows a stored upload. The bytes themselves are the documents child's business.

use std::net::IpAddr;

use jiff::Timestamp;
use ractor::RpcReplyPort;

use super::model::*;
use super::requests::*;
use super::support::{new_id, not_found};
use crate::children::documents::StoredBlob;
use crate::domain::{MemberId, Principal};
use crate::error::TenantError;
use crate::tenant::auth::Caller;
use crate::tenant::commands::{Change, Decision, Reply, check_name, field_diff, invalid};
use crate::tenant::state::{Op, TenantState};

/// An upload waiting for its bytes to reach the disk.
#[derive(Debug)]
pub struct PendingUpload {
    pub target: UploadTarget,
    pub file_name: String,
    pub content_type: String,
    pub uploader: Option<MemberId>,
    pub actor: Principal,
    pub ip: Option<IpAddr>,
    pub reply: RpcReplyPort<Result<Reply, TenantError>>,
}

#[derive(Debug, Clone)]
pub enum UploadTarget {
    New {
        meeting: String,
        agenda_item: Option<String>,
        title: String,
    },
    Replace {
        document: String,
    },
}

/// Keeps a client's file name as a label only: no directories, no control characters.
pub fn clean_file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .to_owned();
    if cleaned.is_empty() {
        "document".into()
    } else {
        cleaned
    }
}

/// A `type/subtype` media type, or `application/octet-stream`.
pub fn clean_content_type(raw: &str) -> String {
    let essence = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let ok = essence.split_once('/').is_some_and(|(t, s)| {
        let token = |v: &str| {
            !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
        };
        token(t) && token(s)
    });
    if ok {
        essence
    } else {
        "application/octet-stream".into()
    }
}

impl TenantState {
    fn find_document(&self, id: &str) -> Option<(&Meeting, &Document)> {
        self.workspace
            .meetings
            .values()
            .find_map(|m| m.documents.iter().find(|d| d.id == id).map(|d| (&**m, d)))
    }

    /// Checks an upload before any byte is stored.
    pub fn prepare_upload(
        &self,
        caller: &Caller,
        request: &WorkspaceRequest,
    ) -> Result<UploadTarget, TenantError> {
        match request {
            WorkspaceRequest::UploadDocument {
                meeting,
                agenda_item,
                title,
                file,
            } => {
                let found = self.visible_meeting(caller, meeting)?;
                if matches!(found.status, MeetingStatus::Cancelled) {
                    return Err(TenantError::Conflict("the meeting is cancelled".into()));
                }
                if let Some(item) = agenda_item
                    && !found.agenda.iter().any(|i| i.id == *item)
                {
                    return Err(invalid("agenda_item_id", "not an item of this meeting"));
                }
                let title = title
                    .clone()
                    .unwrap_or_else(|| clean_file_name(&file.file_name));
                check_name(&title).map_err(|e| invalid("title", e.reason))?;
                Ok(UploadTarget::New {
                    meeting: meeting.clone(),
                    agenda_item: agenda_item.clone(),
                    title: title.trim().to_owned(),
                })
            }
            WorkspaceRequest::ReplaceDocument { document, .. } => {
                let (meeting, _) = self.find_document(document).ok_or(not_found("document"))?;
                self.visible_meeting(caller, &meeting.id)
                    .map_err(|_| not_found("document"))?;
                if matches!(
                    meeting.status,
                    MeetingStatus::Cancelled | MeetingStatus::Closed
                ) {
                    return Err(TenantError::Conflict(
                        "the meeting is over; its pack is final".into(),
                    ));
                }
                Ok(UploadTarget::Replace {
                    document: document.clone(),
                })
            }
            _ => Err(TenantError::Internal("not an upload".into())),
        }
    }

    /// The version to stream for a download.
    pub fn locate_version(
        &self,
        caller: &Caller,
        document: &str,
        version: Option<usize>,
    ) -> Result<DocumentVersion, TenantError> {
        let (meeting, found) = self.find_document(document).ok_or(not_found("document"))?;
        self.visible_meeting(caller, &meeting.id)
            .map_err(|_| not_found("document"))?;
        let index = match version {
            None => found.versions.len().checked_sub(1),
            Some(n) => n.checked_sub(1),
        };
        index
            .and_then(|i| found.versions.get(i))
            .cloned()
            .ok_or(not_found("document version"))
    }

    pub fn pack(&self, caller: &Caller, meeting: &str) -> Result<Vec<Document>, TenantError> {
        let found = self.visible_meeting(caller, meeting)?;
        // Agenda order first, then documents not tied to an item.
        let mut ordered: Vec<Document> = Vec::new();
        for item in &found.agenda {
            ordered.extend(
                found
                    .documents
                    .iter()
                    .filter(|d| d.agenda_item_id.as_deref() == Some(&item.id))
                    .cloned(),
            );
        }
        ordered.extend(
            found
                .documents
                .iter()
                .filter(|d| d.agenda_item_id.is_none())
                .cloned(),
        );
        Ok(ordered)
    }

    /// The journal record for bytes now on disk.
    pub fn decide_stored(
        &self,
        pending: &PendingUpload,
        blob: StoredBlob,
        now: Timestamp,
    ) -> Result<Decision, TenantError> {
        let version = DocumentVersion {
            sha256: blob.sha256,
            size: blob.size,
            file_name: clean_file_name(&pending.file_name),
            content_type: clean_content_type(&pending.content_type),
            uploaded_by: pending.uploader,
            uploaded_at: now,
        };
        let (old, document, action) = match &pending.target {
            UploadTarget::New {
                meeting,
                agenda_item,
                title,
            } => {
                let old = self
                    .workspace
                    .meetings
                    .get(meeting)
                    .map(|m| &**m)
                    .ok_or(not_found("meeting"))?;
                let document = Document {
                    id: new_id("d"),
                    title: title.clone(),
                    agenda_item_id: agenda_item.clone(),
                    versions: vec![version],
                    created_at: now,
                    replaced_at: None,
                };
                (old, document, "document.upload")
            }
            UploadTarget::Replace { document } => {
                let (old, found) = self.find_document(document).ok_or(not_found("document"))?;
                let mut document = found.clone();
                document.versions.push(version);
                document.replaced_at = Some(now);
                (old, document, "document.replace")
            }
        };
        let mut meeting = old.clone();
        match meeting.documents.iter_mut().find(|d| d.id == document.id) {
            Some(existing) => *existing = document.clone(),
            None => meeting.documents.push(document.clone()),
        }
        meeting.sequence += 1;
        let before = old.documents.iter().find(|d| d.id == document.id);
        let change = Change {
            action,
            module: "documents",
            target: document.id.clone(),
            diff: field_diff(before, Some(&document)),
            op: Op::MeetingSaved {
                meeting: Box::new(meeting),
            },
        };
        Ok(Decision::write(
            change,
            Reply::Workspace(WorkspaceReply::Document(Box::new(document))),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_never_carry_a_path() {
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("C:\\Users\\a\\pack.pdf"), "pack.pdf");
        assert_eq!(clean_file_name("..."), "document");
        assert_eq!(clean_file_name("re\nport.pdf"), "report.pdf");
    }

    #[test]
    fn content_types_are_checked() {
        assert_eq!(
            clean_content_type("application/pdf; charset=binary"),
            "application/pdf"
        );
        assert_eq!(
            clean_content_type("text/html\r\nX-Evil: 1"),
            "application/octet-stream"
        );
        assert_eq!(clean_content_type(""), "application/octet-stream");
    }
}
