//! The board workspace: boards and committees with their members' positions, meetings with their
//! agenda, RSVPs and roll call, quorum, action items, and calendar feed tokens.

mod decide;
mod documents;
mod minutes;
mod model;
mod requests;
mod support;

pub use documents::{PendingUpload, UploadTarget, clean_content_type, clean_file_name};
pub use model::*;
pub use requests::*;
