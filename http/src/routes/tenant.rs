//! Tenant routes for signed-in members and API keys: who am I, members, roles, features, API
//! keys, and the audit trail. The tenant decides whether the caller may.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use majlis_actors::catalog::RoleMatrix;
use majlis_actors::domain::MemberId;
use majlis_actors::tenant::{AuditQuery, Features, Reply, Request};
use serde_json::json;

use crate::AppState;
use crate::dispatch::{ask, unexpected};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, Caller, TenantHost};
use crate::json_body::Json;
use crate::wire::{
    AuditParams, CreateKeyBody, CreateMemberBody, FaceOut, FeaturesBody, KeyOut, MeOut, MemberOut,
    UpdateMemberBody,
};

const MAX_AUDIT_PAGE: usize = 1000;

fn member_id(raw: &str) -> Result<MemberId, ApiError> {
    MemberId::parse(raw)
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "member not found"))
}

fn key_id(raw: &str) -> Result<String, ApiError> {
    let ok =
        raw.len() == 22 && raw.starts_with("k_") && raw[2..].bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| raw.to_owned())
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "api key not found"))
}

pub async fn me(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
) -> Result<Json<MeOut>, ApiError> {
    match ask(&state, target, ctx, Request::Me).await? {
        Reply::Me(view) => {
            let view = *view;
            Ok(Json(MeOut {
                role: view.member.role.clone(),
                member: view.member.into(),
                tenant: FaceOut::from(view.tenant),
                modules: view.modules,
                via_api_key: view.via_key,
            }))
        }
        other => Err(unexpected(&other)),
    }
}

async fn member_reply(
    state: &AppState,
    target: majlis_actors::manager::Target,
    ctx: majlis_actors::tenant::RequestCtx,
    request: Request,
) -> Result<Json<MemberOut>, ApiError> {
    match ask(state, target, ctx, request).await? {
        Reply::Member(member) => Ok(Json(member.into())),
        other => Err(unexpected(&other)),
    }
}

pub async fn list_members(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
) -> Result<Json<Vec<MemberOut>>, ApiError> {
    match ask(&state, target, ctx, Request::ListMembers).await? {
        Reply::Members(members) => Ok(Json(members.into_iter().map(MemberOut::from).collect())),
        other => Err(unexpected(&other)),
    }
}

pub async fn invite_member(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
    ApiJson(body): ApiJson<CreateMemberBody>,
) -> Result<(StatusCode, Json<MemberOut>), ApiError> {
    let member = member_reply(&state, target, ctx, Request::AddMember(body.into())).await?;
    Ok((StatusCode::CREATED, member))
}

pub async fn update_member(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<UpdateMemberBody>,
) -> Result<Json<MemberOut>, ApiError> {
    let request = Request::UpdateMember {
        id: member_id(&raw)?,
        patch: body.into(),
    };
    member_reply(&state, target, ctx, request).await
}

pub async fn disable_member(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> Result<Json<MemberOut>, ApiError> {
    let request = Request::SetMemberActive {
        id: member_id(&raw)?,
        active: false,
    };
    member_reply(&state, target, ctx, request).await
}

pub async fn enable_member(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> Result<Json<MemberOut>, ApiError> {
    let request = Request::SetMemberActive {
        id: member_id(&raw)?,
        active: true,
    };
    member_reply(&state, target, ctx, request).await
}

pub async fn revoke_sessions(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> Result<Json<MemberOut>, ApiError> {
    let request = Request::RevokeSessions {
        id: member_id(&raw)?,
    };
    member_reply(&state, target, ctx, request).await
}

pub async fn get_roles(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
) -> Result<Json<RoleMatrix>, ApiError> {
    match ask(&state, target, ctx, Request::GetRoles).await? {
        Reply::Roles(roles) => Ok(Json(roles)),
        other => Err(unexpected(&other)),
    }
}

pub async fn put_roles(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
    ApiJson(roles): ApiJson<RoleMatrix>,
) -> Result<Json<RoleMatrix>, ApiError> {
    match ask(&state, target, ctx, Request::PutRoles(roles)).await? {
        Reply::Roles(roles) => Ok(Json(roles)),
        other => Err(unexpected(&other)),
    }
}

pub async fn get_features(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
) -> Result<Json<Features>, ApiError> {
    match ask(&state, target, ctx, Request::GetFeatures).await? {
        Reply::Features(features) => Ok(Json(features)),
        other => Err(unexpected(&other)),
    }
}

pub async fn put_features(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
    ApiJson(body): ApiJson<FeaturesBody>,
) -> Result<Json<Features>, ApiError> {
    let features = Features {
        modules: body.modules,
        flags: body.flags,
    };
    match ask(&state, target, ctx, Request::PutFeatures(features)).await? {
        Reply::Features(features) => Ok(Json(features)),
        other => Err(unexpected(&other)),
    }
}

pub async fn list_keys(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
) -> Result<Json<Vec<KeyOut>>, ApiError> {
    match ask(&state, target, ctx, Request::ListKeys).await? {
        Reply::Keys(keys) => Ok(Json(
            keys.into_iter().map(|k| KeyOut::new(k, None)).collect(),
        )),
        other => Err(unexpected(&other)),
    }
}

fn issued(reply: Reply) -> Result<Json<KeyOut>, ApiError> {
    match reply {
        Reply::KeyIssued { key, secret } => Ok(Json(KeyOut::new(key, Some(secret)))),
        other => Err(unexpected(&other)),
    }
}

pub async fn create_key(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
    ApiJson(body): ApiJson<CreateKeyBody>,
) -> Result<(StatusCode, Json<KeyOut>), ApiError> {
    let request = Request::CreateKey {
        name: body.name,
        scope: body.scope,
    };
    Ok((
        StatusCode::CREATED,
        issued(ask(&state, target, ctx, request).await?)?,
    ))
}

pub async fn rotate_key(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> Result<Json<KeyOut>, ApiError> {
    issued(
        ask(
            &state,
            target,
            ctx,
            Request::RotateKey { id: key_id(&raw)? },
        )
        .await?,
    )
}

pub async fn delete_key(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    ask(
        &state,
        target,
        ctx,
        Request::DeleteKey { id: key_id(&raw)? },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn audit_query(params: AuditParams, default_limit: usize) -> AuditQuery {
    AuditQuery {
        actor: params.actor,
        module: params.module,
        from: params.from,
        to: params.to,
        after: params.after,
        limit: params
            .limit
            .unwrap_or(default_limit)
            .clamp(1, MAX_AUDIT_PAGE),
    }
}

pub async fn audit(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let query = audit_query(params, 100);
    match ask(&state, target, ctx, Request::Audit(query)).await? {
        Reply::AuditPage { lines, next } => Ok(Json(json!({ "lines": lines, "next": next }))),
        other => Err(unexpected(&other)),
    }
}

/// The trail as CSV for regulators (pro and enterprise plans).
pub async fn audit_csv(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Response, ApiError> {
    let query = audit_query(params, usize::MAX);
    let lines = match ask(&state, target, ctx, Request::AuditExport(query)).await? {
        Reply::AuditPage { lines, .. } => lines,
        other => return Err(unexpected(&other)),
    };
    let csv = crate::csv_export::audit_csv(&lines).map_err(|e| ApiError::internal(&e))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}
