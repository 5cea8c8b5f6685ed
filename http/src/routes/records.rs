//! Minutes (draft from the record, edit, approve and lock) and the CSV exports of members,
//! meetings and action items.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use majlis_actors::tenant::{Reply, Request, RsvpResponse, WorkspaceReply, WorkspaceRequest};
use serde::Deserialize;

use super::answer::Answer;
use super::workspace::{answer, created, record_id, run};
use crate::AppState;
use crate::csv_export::table;
use crate::dispatch::{ask, unexpected};
use crate::error::ApiError;
use crate::extract::{ApiJson, Caller, TenantHost};
use crate::json_body::Json;

pub async fn draft_minutes(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Answer>), ApiError> {
    let meeting = record_id(&id, "g", "meeting")?;
    created(&state, t, ctx, WorkspaceRequest::DraftMinutes { meeting }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinutesBody {
    text: String,
}

pub async fn edit_minutes(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MinutesBody>,
) -> Result<Json<Answer>, ApiError> {
    let meeting = record_id(&id, "g", "meeting")?;
    answer(
        &state,
        t,
        ctx,
        WorkspaceRequest::EditMinutes {
            meeting,
            text: body.text,
        },
    )
    .await
}

pub async fn approve_minutes(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Json<Answer>, ApiError> {
    let meeting = record_id(&id, "g", "meeting")?;
    answer(&state, t, ctx, WorkspaceRequest::ApproveMinutes { meeting }).await
}

fn csv_response(bytes: Vec<u8>, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

fn opt<T: ToString>(value: &Option<T>) -> String {
    value.as_ref().map(ToString::to_string).unwrap_or_default()
}

fn snake<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub async fn members_csv(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
) -> Result<Response, ApiError> {
    let members = match ask(&state, t, ctx, Request::ListMembers).await? {
        Reply::Members(members) => members,
        other => return Err(unexpected(&other)),
    };
    let rows = members.into_iter().map(|m| {
        vec![
            m.id.to_string(),
            m.name.clone(),
            opt(&m.email),
            opt(&m.phone),
            m.role.clone(),
            snake(&m.status),
            m.created_at.to_string(),
        ]
    });
    let bytes = table(
        &[
            "id",
            "name",
            "email",
            "phone",
            "role",
            "status",
            "created_at",
        ],
        rows,
    )
    .map_err(|e| ApiError::internal(&e))?;
    Ok(csv_response(bytes, "members.csv"))
}

pub async fn meetings_csv(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
) -> Result<Response, ApiError> {
    let views = match run(
        &state,
        t,
        ctx,
        WorkspaceRequest::ListMeetings(Default::default()),
    )
    .await?
    {
        WorkspaceReply::Meetings(views) => views,
        other => return Err(ApiError::internal(&format!("unexpected reply {other:?}"))),
    };
    let rows = views.into_iter().map(|v| {
        let m = v.meeting;
        let count = |r: RsvpResponse| {
            m.rsvps
                .values()
                .filter(|x| x.response == r)
                .count()
                .to_string()
        };
        vec![
            m.id.clone(),
            m.board_id.clone(),
            m.title.clone(),
            m.starts_at.to_string(),
            m.ends_at.to_string(),
            m.timezone.clone(),
            opt(&m.location),
            snake(&m.status),
            count(RsvpResponse::Yes),
            count(RsvpResponse::No),
            count(RsvpResponse::Maybe),
            v.quorum.present.to_string(),
            v.quorum.required.to_string(),
        ]
    });
    let header = [
        "id",
        "board_id",
        "title",
        "starts_at",
        "ends_at",
        "timezone",
        "location",
        "status",
        "rsvp_yes",
        "rsvp_no",
        "rsvp_maybe",
        "present",
        "quorum_required",
    ];
    Ok(csv_response(
        table(&header, rows).map_err(|e| ApiError::internal(&e))?,
        "meetings.csv",
    ))
}

pub async fn actions_csv(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
) -> Result<Response, ApiError> {
    let actions = match run(
        &state,
        t,
        ctx,
        WorkspaceRequest::ListActions { owner: None },
    )
    .await?
    {
        WorkspaceReply::Actions(actions) => actions,
        other => return Err(ApiError::internal(&format!("unexpected reply {other:?}"))),
    };
    let rows = actions.into_iter().map(|a| {
        vec![
            a.id,
            a.meeting_id,
            opt(&a.agenda_item_id),
            a.title,
            a.owner.to_string(),
            opt(&a.due),
            snake(&a.status),
            a.created_at.to_string(),
        ]
    });
    let header = [
        "id",
        "meeting_id",
        "agenda_item_id",
        "title",
        "owner_id",
        "due",
        "status",
        "created_at",
    ];
    Ok(csv_response(
        table(&header, rows).map_err(|e| ApiError::internal(&e))?,
        "actions.csv",
    ))
}
