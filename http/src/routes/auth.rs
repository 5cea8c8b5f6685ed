//! Sign-in: one-time codes by email or WhatsApp, magic links, sign-out. Requests for a code are
//! answered at a fixed deadline with the same body, known identity or not.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use majlis_actors::domain::{Identity, OtpCode};
use majlis_actors::tenant::{Reply, Request};
use serde_json::json;

use crate::AppState;
use crate::dispatch::{ask, unexpected};
use crate::error::ApiError;
use crate::extract::{ApiJson, Caller, TenantHost};
use crate::json_body::Json;
use crate::session;
use crate::wire::{MagicRequestBody, MemberOut, OtpRequestBody, OtpVerifyBody};

/// Runs `work`, then waits until the sign-in deadline has passed since `start`.
async fn at_deadline<T>(state: &AppState, work: impl Future<Output = T>) -> T {
    let deadline = tokio::time::Instant::now() + state.config.sign_in_deadline;
    let out = work.await;
    tokio::time::sleep_until(deadline).await;
    out
}

pub async fn otp_request(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
    ApiJson(body): ApiJson<OtpRequestBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let identity = Identity::parse(&body.identity).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            e.to_string(),
        )
        .with_field("identity")
    })?;
    let request = Request::OtpRequest {
        identity,
        channel: body.channel,
    };
    let answer = at_deadline(&state, ask(&state, target, ctx, request)).await?;
    match answer {
        Reply::Flow { flow_id } => Ok((StatusCode::ACCEPTED, Json(json!({ "flow": flow_id })))),
        other => Err(unexpected(&other)),
    }
}

fn signed_in(state: &AppState, token: &str, member: majlis_actors::tenant::Member) -> Response {
    let mut response = Json(json!({ "member": MemberOut::from(member) })).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(&state.config.cookie_secret, token),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        "no-store"
            .parse()
            .unwrap_or(header::HeaderValue::from_static("no-store")),
    );
    response
}

pub async fn otp_verify(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
    ApiJson(body): ApiJson<OtpVerifyBody>,
) -> Result<Response, ApiError> {
    let code = OtpCode::parse(&body.code).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            e.to_string(),
        )
        .with_field("code")
    })?;
    let flow_ok = body.flow.len() == 32 && body.flow.bytes().all(|b| b.is_ascii_hexdigit());
    if !flow_ok {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_code",
            "the code is wrong or no longer valid",
        ));
    }
    let request = Request::OtpVerify {
        flow_id: body.flow,
        code,
    };
    match ask(&state, target, ctx, request).await? {
        Reply::SignedIn { token, member } => Ok(signed_in(&state, &token, member)),
        other => Err(unexpected(&other)),
    }
}

pub async fn magic_request(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
    ApiJson(body): ApiJson<MagicRequestBody>,
) -> Result<StatusCode, ApiError> {
    let request = Request::MagicRequest { email: body.email };
    match at_deadline(&state, ask(&state, target, ctx, request)).await? {
        Reply::Done => Ok(StatusCode::ACCEPTED),
        other => Err(unexpected(&other)),
    }
}

/// The link from the email: signs in and goes to the tenant's home page.
pub async fn magic_verify(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_code",
            "this link is not valid",
        ));
    }
    match ask(&state, target, ctx, Request::MagicVerify { token }).await? {
        Reply::SignedIn { token, .. } => {
            let mut response = Redirect::to("/").into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                session::set_cookie(&state.config.cookie_secret, &token),
            );
            Ok(response)
        }
        other => Err(unexpected(&other)),
    }
}

pub async fn logout(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
) -> Result<(StatusCode, HeaderMap), ApiError> {
    ask(&state, target, ctx, Request::Logout).await?;
    let mut headers = HeaderMap::new();
    headers.insert(header::SET_COOKIE, session::clear_cookie());
    Ok((StatusCode::NO_CONTENT, headers))
}
