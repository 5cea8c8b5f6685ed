//! Workspace answers as JSON: each reply that is a JSON document, written straight to the
//! response body with no `Value` built on the way.

use majlis_actors::tenant::WorkspaceReply;
use serde::Serialize;
use serde::ser::{Error as _, Serializer};

use crate::error::ApiError;
use crate::routes::meeting_json::{MeetingJson, MeetingsJson};

/// A workspace answer, written straight to the response body: no `Value` is built on the way.
#[derive(Debug)]
pub(crate) struct Answer(WorkspaceReply);

impl Answer {
    /// Only the replies that are JSON documents make an answer.
    pub(crate) fn new(reply: WorkspaceReply) -> Result<Self, ApiError> {
        match reply {
            WorkspaceReply::Boards(_)
            | WorkspaceReply::Board(_)
            | WorkspaceReply::Meetings(_)
            | WorkspaceReply::Meeting(_)
            | WorkspaceReply::Actions(_)
            | WorkspaceReply::Action(_)
            | WorkspaceReply::Pack(_)
            | WorkspaceReply::Document(_) => Ok(Self(reply)),
            other => Err(ApiError::internal(&format!(
                "unexpected workspace reply {other:?}"
            ))),
        }
    }
}

impl Serialize for Answer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            WorkspaceReply::Boards(boards) => boards.serialize(serializer),
            WorkspaceReply::Board(board) => board.serialize(serializer),
            WorkspaceReply::Meetings(views) => MeetingsJson(views).serialize(serializer),
            WorkspaceReply::Meeting(view) => MeetingJson(view).serialize(serializer),
            WorkspaceReply::Actions(actions) => actions.serialize(serializer),
            WorkspaceReply::Action(action) => action.serialize(serializer),
            WorkspaceReply::Pack(documents) => documents.serialize(serializer),
            WorkspaceReply::Document(document) => document.serialize(serializer),
            // `Answer::new` lets no other reply in.
            _ => Err(S::Error::custom("not a JSON answer")),
        }
    }
}
