//! The operator API under `/admin/api`: create, inspect, restart, disable and enable tenants,
//! and bootstrap their first members. Every mutation lands in the tenant's audit trail.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use majlis_actors::domain::Slug;
use majlis_actors::manager::{ManagerMsg, Target, TenantView};
use majlis_actors::tenant::{NewTenant, Reply, Request, TenantStatus};

use crate::AppState;
use crate::dispatch::{ask, call_manager, flatten, unexpected};
use crate::error::ApiError;
use crate::extract::{ApiJson, Operator};
use crate::json_body::Json;
use crate::wire::{CreateMemberBody, CreateTenantBody, MemberOut, TenantOut};

fn slug(raw: &str) -> Result<Slug, ApiError> {
    Slug::parse(raw).map_err(|_| ApiError::unknown_tenant())
}

pub async fn create_tenant(
    State(state): State<AppState>,
    Operator(ctx): Operator,
    ApiJson(body): ApiJson<CreateTenantBody>,
) -> Result<(StatusCode, Json<TenantOut>), ApiError> {
    let tenant = NewTenant::from(body);
    tenant.validate().map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            e.to_string(),
        )
        .with_field(e.field)
    })?;
    let reply =
        flatten(call_manager(&state, |reply| ManagerMsg::Create { tenant, ctx, reply }).await)?;
    match reply {
        Reply::Meta(meta) => Ok((StatusCode::CREATED, Json(meta.into()))),
        other => Err(unexpected(&other)),
    }
}

pub async fn list_tenants(
    State(state): State<AppState>,
    Operator(_): Operator,
) -> Result<Json<Vec<TenantView>>, ApiError> {
    Ok(Json(call_manager(&state, ManagerMsg::List).await?))
}

pub async fn get_tenant(
    State(state): State<AppState>,
    Operator(_): Operator,
    Path(raw): Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    let slug = slug(&raw)?;
    let view = flatten(call_manager(&state, |reply| ManagerMsg::Inspect { slug, reply }).await)?;
    Ok(Json(view))
}

pub async fn restart_tenant(
    State(state): State<AppState>,
    Operator(_): Operator,
    Path(raw): Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    let slug = slug(&raw)?;
    let view = flatten(call_manager(&state, |reply| ManagerMsg::Restart { slug, reply }).await)?;
    Ok(Json(view))
}

async fn set_status(
    state: &AppState,
    ctx: majlis_actors::tenant::RequestCtx,
    raw: &str,
    status: TenantStatus,
) -> Result<Json<TenantOut>, ApiError> {
    let slug = slug(raw)?;
    let reply = flatten(
        call_manager(state, |reply| ManagerMsg::SetStatus {
            slug,
            status,
            ctx,
            reply,
        })
        .await,
    )?;
    match reply {
        Reply::Meta(meta) => Ok(Json(meta.into())),
        other => Err(unexpected(&other)),
    }
}

pub async fn disable_tenant(
    State(state): State<AppState>,
    Operator(ctx): Operator,
    Path(raw): Path<String>,
) -> Result<Json<TenantOut>, ApiError> {
    set_status(&state, ctx, &raw, TenantStatus::Disabled).await
}

pub async fn enable_tenant(
    State(state): State<AppState>,
    Operator(ctx): Operator,
    Path(raw): Path<String>,
) -> Result<Json<TenantOut>, ApiError> {
    set_status(&state, ctx, &raw, TenantStatus::Enabled).await
}

pub async fn create_member(
    State(state): State<AppState>,
    Operator(ctx): Operator,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<CreateMemberBody>,
) -> Result<(StatusCode, Json<MemberOut>), ApiError> {
    let target = Target::Slug(slug(&raw)?);
    match ask(&state, target, ctx, Request::AddMember(body.into())).await? {
        Reply::Member(member) => Ok((StatusCode::CREATED, Json(member.into()))),
        other => Err(unexpected(&other)),
    }
}

/// An operator's read of a tenant's members; recorded in that tenant's audit trail.
pub async fn list_members(
    State(state): State<AppState>,
    Operator(ctx): Operator,
    Path(raw): Path<String>,
) -> Result<Json<Vec<MemberOut>>, ApiError> {
    let target = Target::Slug(slug(&raw)?);
    match ask(&state, target, ctx, Request::ListMembers).await? {
        Reply::Members(members) => Ok(Json(members.into_iter().map(MemberOut::from).collect())),
        other => Err(unexpected(&other)),
    }
}

#[cfg(feature = "fault-injection")]
pub async fn inject_fault(
    State(state): State<AppState>,
    Operator(_): Operator,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<FaultBody>,
) -> Result<StatusCode, ApiError> {
    let slug = slug(&raw)?;
    flatten(
        call_manager(&state, |reply| ManagerMsg::Fault {
            slug,
            fault: body.fault,
            reply,
        })
        .await,
    )?;
    Ok(StatusCode::ACCEPTED)
}

#[cfg(feature = "fault-injection")]
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultBody {
    pub fault: majlis_actors::tenant::Fault,
}

#[cfg(feature = "fault-injection")]
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvanceBody {
    pub secs: u64,
}

/// Test builds only: moves the runtime's clock forward.
#[cfg(feature = "fault-injection")]
pub async fn advance_clock(
    State(state): State<AppState>,
    Operator(_): Operator,
    ApiJson(body): ApiJson<AdvanceBody>,
) -> StatusCode {
    state
        .config
        .clock
        .advance(std::time::Duration::from_secs(body.secs));
    StatusCode::NO_CONTENT
}
