//! Board workspace routes: boards and their members, meetings, agenda, RSVPs, roll call, action
//! items, and calendars (one meeting's `.ics`, and each member's feed).

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use jiff::civil::Date;
use majlis_actors::domain::MemberId;
use majlis_actors::manager::Target;
use majlis_actors::tenant::{
    AgendaFields, BoardKind, MeetingFields, MeetingFilter, MeetingStatus, Position, Presence,
    Quorum, Reply, Request, RequestCtx, RsvpResponse, WorkspaceReply, WorkspaceRequest,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::dispatch::{ask, unexpected};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, Caller, TenantHost};
use crate::json_body::Json;
use crate::routes::answer::Answer;
use crate::routes::meeting_json::{MeetingJson, MeetingsJson};

/// Tells "absent" (`None`) from "null" (`Some(None)`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

pub(crate) fn record_id(raw: &str, prefix: &str, what: &'static str) -> Result<String, ApiError> {
    let ok = raw.len() == prefix.len() + 21
        && raw.starts_with(prefix)
        && raw.as_bytes()[prefix.len()] == b'_'
        && raw[prefix.len() + 1..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit());
    ok.then(|| raw.to_owned()).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    })
}

fn member_id(raw: &str) -> Result<MemberId, ApiError> {
    MemberId::parse(raw)
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "member not found"))
}

pub(crate) async fn run(
    state: &AppState,
    target: Target,
    ctx: RequestCtx,
    request: WorkspaceRequest,
) -> Result<WorkspaceReply, ApiError> {
    match ask(state, target, ctx, Request::Workspace(request)).await? {
        Reply::Workspace(reply) => Ok(reply),
        other => Err(unexpected(&other)),
    }
}

pub(crate) async fn answer(
    state: &AppState,
    target: Target,
    ctx: RequestCtx,
    request: WorkspaceRequest,
) -> Result<Json<Answer>, ApiError> {
    Ok(Json(Answer::new(run(state, target, ctx, request).await?)?))
}

/// Meeting reads, written straight from the tenant's answer to the response body.
async fn show_meetings(
    state: &AppState,
    target: Target,
    ctx: RequestCtx,
    request: WorkspaceRequest,
) -> Result<Response, ApiError> {
    match run(state, target, ctx, request).await? {
        WorkspaceReply::Meetings(views) => Ok(Json(MeetingsJson(&views)).into_response()),
        WorkspaceReply::Meeting(view) => Ok(Json(MeetingJson(&view)).into_response()),
        other => Err(ApiError::internal(&format!(
            "unexpected workspace reply {other:?}"
        ))),
    }
}

pub(crate) async fn created(
    state: &AppState,
    target: Target,
    ctx: RequestCtx,
    request: WorkspaceRequest,
) -> Result<(StatusCode, Json<Answer>), ApiError> {
    Ok((
        StatusCode::CREATED,
        answer(state, target, ctx, request).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardBody {
    name: String,
    #[serde(default = "default_kind")]
    kind: BoardKind,
    #[serde(default = "default_quorum")]
    quorum: Quorum,
}

fn default_kind() -> BoardKind {
    BoardKind::Board
}

fn default_quorum() -> Quorum {
    Quorum::Fraction {
        numerator: 1,
        denominator: 2,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardPatch {
    name: Option<String>,
    quorum: Option<Quorum>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionBody {
    position: Position,
}

pub async fn list_boards(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
) -> Result<Json<Answer>, ApiError> {
    answer(&state, t, ctx, WorkspaceRequest::ListBoards).await
}

pub async fn create_board(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    ApiJson(body): ApiJson<BoardBody>,
) -> Result<(StatusCode, Json<Answer>), ApiError> {
    created(
        &state,
        t,
        ctx,
        WorkspaceRequest::CreateBoard {
            name: body.name,
            kind: body.kind,
            quorum: body.quorum,
        },
    )
    .await
}

pub async fn update_board(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<BoardPatch>,
) -> Result<Json<Answer>, ApiError> {
    let id = record_id(&id, "b", "board")?;
    answer(
        &state,
        t,
        ctx,
        WorkspaceRequest::UpdateBoard {
            id,
            name: body.name,
            quorum: body.quorum,
        },
    )
    .await
}

pub async fn set_board_member(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path((id, member)): Path<(String, String)>,
    ApiJson(body): ApiJson<PositionBody>,
) -> Result<Json<Answer>, ApiError> {
    let request = WorkspaceRequest::SetBoardMember {
        board: record_id(&id, "b", "board")?,
        member: member_id(&member)?,
        position: body.position,
    };
    answer(&state, t, ctx, request).await
}

pub async fn remove_board_member(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path((id, member)): Path<(String, String)>,
) -> Result<Json<Answer>, ApiError> {
    let request = WorkspaceRequest::RemoveBoardMember {
        board: record_id(&id, "b", "board")?,
        member: member_id(&member)?,
    };
    answer(&state, t, ctx, request).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingBody {
    board_id: Option<String>,
    title: Option<String>,
    starts_at: Option<Timestamp>,
    ends_at: Option<Timestamp>,
    timezone: Option<String>,
    #[serde(default, deserialize_with = "present")]
    location: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    video_url: Option<Option<String>>,
    status: Option<MeetingStatus>,
}

impl From<MeetingBody> for MeetingFields {
    fn from(body: MeetingBody) -> Self {
        MeetingFields {
            board_id: body.board_id,
            title: body.title,
            starts_at: body.starts_at,
            ends_at: body.ends_at,
            timezone: body.timezone,
            location: body.location,
            video_url: body.video_url,
            status: body.status,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingParams {
    board: Option<String>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    status: Option<MeetingStatus>,
}

pub async fn list_meetings(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    ApiQuery(params): ApiQuery<MeetingParams>,
) -> Result<Response, ApiError> {
    let filter = MeetingFilter {
        board_id: params.board,
        from: params.from,
        to: params.to,
        status: params.status,
    };
    show_meetings(&state, t, ctx, WorkspaceRequest::ListMeetings(filter)).await
}

pub async fn create_meeting(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    ApiJson(body): ApiJson<MeetingBody>,
) -> Result<(StatusCode, Json<Answer>), ApiError> {
    created(&state, t, ctx, WorkspaceRequest::CreateMeeting(body.into())).await
}

/// `GET /api/meetings/{id}` and `GET /api/meetings/{id}.ics`.
pub async fn get_meeting(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    if let Some(id) = raw.strip_suffix(".ics") {
        let id = record_id(id, "g", "meeting")?;
        let slug_host = t.clone();
        let reply = run(
            &state,
            slug_host,
            ctx,
            WorkspaceRequest::MeetingCalendar { id },
        )
        .await?;
        let WorkspaceReply::Calendar(data) = reply else {
            return Err(ApiError::internal("unexpected calendar reply"));
        };
        let base = state.config.public_url.replace("{slug}", &data.tenant_slug);
        let name = data.board.name.clone();
        let body = crate::calendar::calendar(&name, &[*data], Timestamp::now(), &base);
        return Ok(ics_response(body, "meeting.ics"));
    }
    let id = record_id(&raw, "g", "meeting")?;
    show_meetings(&state, t, ctx, WorkspaceRequest::GetMeeting { id }).await
}

fn ics_response(body: String, name: &str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "text/calendar; charset=utf-8".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
        ],
        body,
    )
        .into_response()
}

pub async fn update_meeting(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MeetingBody>,
) -> Result<Json<Answer>, ApiError> {
    let id = record_id(&id, "g", "meeting")?;
    answer(
        &state,
        t,
        ctx,
        WorkspaceRequest::UpdateMeeting {
            id,
            fields: body.into(),
        },
    )
    .await
}

pub async fn cancel_meeting(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Json<Answer>, ApiError> {
    let id = record_id(&id, "g", "meeting")?;
    answer(&state, t, ctx, WorkspaceRequest::CancelMeeting { id }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgendaBody {
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    parent_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    presenter_id: Option<Option<MemberId>>,
    #[serde(default, deserialize_with = "present")]
    duration_min: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    notes: Option<Option<String>>,
    recusals: Option<Vec<MemberId>>,
}

impl From<AgendaBody> for AgendaFields {
    fn from(body: AgendaBody) -> Self {
        AgendaFields {
            parent: body.parent_id,
            title: body.title,
            presenter: body.presenter_id,
            duration_min: body.duration_min,
            notes: body.notes,
            recusals: body.recusals,
        }
    }
}

pub async fn add_agenda_item(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AgendaBody>,
) -> Result<(StatusCode, Json<Answer>), ApiError> {
    let meeting = record_id(&id, "g", "meeting")?;
    created(
        &state,
        t,
        ctx,
        WorkspaceRequest::AddAgendaItem {
            meeting,
            fields: body.into(),
        },
    )
    .await
}

pub async fn update_agenda_item(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path((id, item)): Path<(String, String)>,
    ApiJson(body): ApiJson<AgendaBody>,
) -> Result<Json<Answer>, ApiError> {
    let request = WorkspaceRequest::UpdateAgendaItem {
        meeting: record_id(&id, "g", "meeting")?,
        item: record_id(&item, "a", "agenda item")?,
        fields: body.into(),
    };
    answer(&state, t, ctx, request).await
}

pub async fn delete_agenda_item(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path((id, item)): Path<(String, String)>,
) -> Result<Json<Answer>, ApiError> {
    let request = WorkspaceRequest::DeleteAgendaItem {
        meeting: record_id(&id, "g", "meeting")?,
        item: record_id(&item, "a", "agenda item")?,
    };
    answer(&state, t, ctx, request).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReorderBody {
    order: Vec<String>,
}

pub async fn reorder_agenda(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReorderBody>,
) -> Result<Json<Answer>, ApiError> {
    let meeting = record_id(&id, "g", "meeting")?;
    answer(
        &state,
        t,
        ctx,
        WorkspaceRequest::ReorderAgenda {
            meeting,
            order: body.order,
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RsvpBody {
    response: RsvpResponse,
    note: Option<String>,
}

pub async fn rsvp(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RsvpBody>,
) -> Result<Json<Answer>, ApiError> {
    let meeting = record_id(&id, "g", "meeting")?;
    answer(
        &state,
        t,
        ctx,
        WorkspaceRequest::Rsvp {
            meeting,
            response: body.response,
            note: body.note,
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttendanceBody {
    status: Presence,
    proxy_holder: Option<MemberId>,
}

pub async fn roll_call(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path((id, member)): Path<(String, String)>,
    ApiJson(body): ApiJson<AttendanceBody>,
) -> Result<Json<Answer>, ApiError> {
    let request = WorkspaceRequest::RollCall {
        meeting: record_id(&id, "g", "meeting")?,
        member: member_id(&member)?,
        status: body.status,
        proxy_holder: body.proxy_holder,
    };
    answer(&state, t, ctx, request).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    title: String,
    owner_id: MemberId,
    due: Option<Date>,
    agenda_item_id: Option<String>,
}

pub async fn create_action(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ActionBody>,
) -> Result<(StatusCode, Json<Answer>), ApiError> {
    let request = WorkspaceRequest::CreateAction {
        meeting: record_id(&id, "g", "meeting")?,
        title: body.title,
        owner: body.owner_id,
        due: body.due,
        agenda_item: body.agenda_item_id,
    };
    created(&state, t, ctx, request).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionPatch {
    status: majlis_actors::tenant::ActionStatus,
}

pub async fn update_action(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ActionPatch>,
) -> Result<Json<Answer>, ApiError> {
    let id = record_id(&id, "t", "action item")?;
    answer(
        &state,
        t,
        ctx,
        WorkspaceRequest::UpdateAction {
            id,
            status: body.status,
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionParams {
    owner: Option<String>,
}

pub async fn list_actions(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    ApiQuery(params): ApiQuery<ActionParams>,
) -> Result<Json<Answer>, ApiError> {
    let owner = match params.owner.as_deref() {
        None => None,
        Some("me") => {
            let me = match ask(&state, t.clone(), ctx.clone(), Request::Me).await? {
                Reply::Me(view) => view.member.id,
                other => return Err(unexpected(&other)),
            };
            Some(me)
        }
        Some(raw) => Some(MemberId::parse(raw).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_query",
                e.to_string(),
            )
        })?),
    };
    answer(&state, t, ctx, WorkspaceRequest::ListActions { owner }).await
}

fn feed_url(state: &AppState, slug: &str, token: &str) -> String {
    format!(
        "{}/ics/{token}.ics",
        state.config.public_url.replace("{slug}", slug)
    )
}

async fn calendar_token(
    state: &AppState,
    t: Target,
    ctx: RequestCtx,
    rotate: bool,
) -> Result<Json<Value>, ApiError> {
    let face = match ask(state, t.clone(), ctx.clone(), Request::PublicFace).await? {
        Reply::Face(face) => face,
        other => return Err(unexpected(&other)),
    };
    match run(state, t, ctx, WorkspaceRequest::CalendarToken { rotate }).await? {
        WorkspaceReply::CalendarToken { token } => Ok(Json(
            json!({ "url": feed_url(state, face.slug.as_str(), &token) }),
        )),
        other => Err(ApiError::internal(&format!("unexpected reply {other:?}"))),
    }
}

pub async fn my_calendar(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
) -> Result<Json<Value>, ApiError> {
    calendar_token(&state, t, ctx, false).await
}

pub async fn rotate_calendar(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
) -> Result<Json<Value>, ApiError> {
    calendar_token(&state, t, ctx, true).await
}

/// The subscribable feed; the token in the URL is the credential.
pub async fn feed(
    State(state): State<AppState>,
    TenantHost(t): TenantHost,
    Caller(ctx): Caller,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let token = file.strip_suffix(".ics").unwrap_or(&file).to_owned();
    if token.len() > 100
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return Err(ApiError::not_found());
    }
    match run(&state, t, ctx, WorkspaceRequest::CalendarFeed { token }).await {
        Ok(WorkspaceReply::Feed(feed)) => {
            let slug = feed
                .events
                .first()
                .map(|e| e.tenant_slug.clone())
                .unwrap_or_default();
            let base = state.config.public_url.replace("{slug}", &slug);
            let name = format!("{} — board meetings", feed.member.name);
            Ok(ics_response(
                crate::calendar::calendar(&name, &feed.events, Timestamp::now(), &base),
                "meetings.ics",
            ))
        }
        Ok(other) => Err(ApiError::internal(&format!("unexpected reply {other:?}"))),
        Err(err) if err.status() == StatusCode::NOT_FOUND => Err(ApiError::not_found()),
        Err(err) => Err(err),
    }
}
