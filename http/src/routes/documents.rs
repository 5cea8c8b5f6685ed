//! The board pack: uploads streamed from multipart bodies into the tenant (never held whole in
//! memory), downloads streamed back with `ETag`, and the meeting's ordered pack.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::multipart::{Field, MultipartRejection};
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use majlis_actors::manager::{ManagerMsg, Target};
use majlis_actors::tenant::{
    Envelope, IncomingFile, Reply, Request, RequestCtx, WorkspaceReply, WorkspaceRequest,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::answer::Answer;
use super::workspace::{answer, record_id};
use crate::AppState;
use crate::dispatch::{call_manager_within, flatten};
use crate::error::ApiError;
use crate::extract::{ApiQuery, Caller, TenantHost};
use crate::json_body::Json;

/// How long an upload may take from its first byte to its answer.
const UPLOAD_DEADLINE: Duration = Duration::from_secs(30 * 60);

fn bad_body(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_upload", message).with_field("file")
}

fn multipart(raw: Result<Multipart, MultipartRejection>) -> Result<Multipart, ApiError> {
    raw.map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("send the file as multipart/form-data: {}", e.body_text()),
        )
    })
}

/// Sends the request and, at the same time, the file's chunks into it.
async fn stream_upload(
    state: &AppState,
    target: Target,
    ctx: RequestCtx,
    mut field: Field<'_>,
    build: impl FnOnce(IncomingFile) -> WorkspaceRequest,
) -> Result<Value, ApiError> {
    let (tx, rx) = mpsc::channel::<Result<Vec<u8>, String>>(8);
    let file = IncomingFile {
        file_name: field.file_name().unwrap_or("document").to_owned(),
        content_type: field
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_owned(),
        chunks: rx,
    };
    let request = Request::Workspace(build(file));
    let ask = call_manager_within(state, UPLOAD_DEADLINE, |reply| ManagerMsg::Dispatch {
        target,
        envelope: Envelope::new(ctx, request, reply),
    });
    let pump = async move {
        loop {
            match field.chunk().await {
                Ok(Some(bytes)) => {
                    if tx.send(Ok(bytes.to_vec())).await.is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let _ = tx.send(Err(e.body_text())).await;
                    return;
                }
            }
        }
    };
    let (answer, ()) = tokio::join!(ask, pump);
    match flatten(answer)? {
        Reply::Workspace(WorkspaceReply::Document(document)) => Ok(json!(document)),
        other => Err(ApiError::internal(&format!("unexpected reply {other:?}"))),
    }
}

/// `POST /api/meetings/{id}/documents`: optional `title` and `agenda_item_id` fields, then the
/// `file` field (fields after it are ignored).
pub async fn upload(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    body: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let meeting = record_id(&id, "g", "meeting")?;
    let mut body = multipart(body)?;
    let (mut title, mut agenda_item) = (None, None);
    while let Some(field) = body
        .next_field()
        .await
        .map_err(|e| bad_body(e.body_text()))?
    {
        match field.name() {
            Some("title") => title = Some(field.text().await.map_err(|e| bad_body(e.body_text()))?),
            Some("agenda_item_id") => {
                let raw = field.text().await.map_err(|e| bad_body(e.body_text()))?;
                agenda_item = Some(record_id(raw.trim(), "a", "agenda item").map_err(|_| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_field",
                        "not an agenda item id",
                    )
                    .with_field("agenda_item_id")
                })?);
            }
            Some("file") => {
                let document = stream_upload(&state, t, ctx, field, |file| {
                    WorkspaceRequest::UploadDocument {
                        meeting,
                        agenda_item,
                        title,
                        file,
                    }
                })
                .await?;
                return Ok((StatusCode::CREATED, Json(document)));
            }
            _ => {}
        }
    }
    Err(bad_body("no file field in the upload"))
}

/// `POST /api/documents/{id}/versions`: a new version of a document (`file` field).
pub async fn replace(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    body: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let document = record_id(&id, "d", "document")?;
    let mut body = multipart(body)?;
    while let Some(field) = body
        .next_field()
        .await
        .map_err(|e| bad_body(e.body_text()))?
    {
        if field.name() == Some("file") {
            let updated = stream_upload(&state, t, ctx, field, |file| {
                WorkspaceRequest::ReplaceDocument { document, file }
            })
            .await?;
            return Ok((StatusCode::CREATED, Json(updated)));
        }
    }
    Err(bad_body("no file field in the upload"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadParams {
    version: Option<usize>,
}

/// RFC 6266 `Content-Disposition` with the original name as a label only.
fn disposition(file_name: &str) -> HeaderValue {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = file_name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or(HeaderValue::from_static("attachment"))
}

pub async fn download(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<DownloadParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let document = record_id(&id, "d", "document")?;
    let reply = super::workspace::run(
        &state,
        t,
        ctx,
        WorkspaceRequest::Download {
            document,
            version: params.version,
        },
    )
    .await?;
    let WorkspaceReply::DocumentStream { version, chunks } = reply else {
        return Err(ApiError::internal("unexpected download reply"));
    };
    let etag = format!("\"{}\"", version.sha256);
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim().trim_start_matches("W/") == etag)
        });
    let mut response = if cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let stream = futures_util::stream::unfold(chunks, |mut rx| async move {
            rx.recv()
                .await
                .map(|item| (item.map(Bytes::from).map_err(std::io::Error::other), rx))
        });
        let mut response = Response::new(Body::from_stream(stream));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&version.content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(version.size));
        headers.insert(header::CONTENT_DISPOSITION, disposition(&version.file_name));
        response
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\"")),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

pub async fn pack(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Json<Answer>, ApiError> {
    let meeting = record_id(&id, "g", "meeting")?;
    answer(&state, t, ctx, WorkspaceRequest::Pack { meeting }).await
}
