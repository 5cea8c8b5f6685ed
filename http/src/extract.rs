//! Extractors: the tenant a request is for (from Host), the client's address, the operator's
//! bearer token, and JSON bodies whose errors name the offending field.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use majlis_actors::domain::HostName;
use majlis_actors::manager::Target;
use majlis_actors::tenant::{Credential, RequestCtx};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;

/// The tenant a tenant route is for: the `Host` header (or `X-Forwarded-Host` behind a trusted
/// proxy), normalised. Mapping it to a slug is the tenant manager's job.
#[derive(Debug)]
pub struct TenantHost(pub Target);

impl FromRequestParts<AppState> for TenantHost {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let forwarded = state
            .config
            .trust_proxy_headers
            .then(|| parts.headers.get("x-forwarded-host"))
            .flatten();
        let raw = forwarded
            .or_else(|| parts.headers.get(header::HOST))
            .and_then(|v| v.to_str().ok())
            .or_else(|| parts.uri.host())
            .ok_or_else(ApiError::unknown_tenant)?;
        // A list in X-Forwarded-Host: the first is the client's.
        let raw = raw.split(',').next().unwrap_or(raw);
        let host = HostName::parse(raw).map_err(|_| ApiError::unknown_tenant())?;
        Ok(TenantHost(Target::Host(host)))
    }
}

/// The client's address: the socket peer, or the last `X-Forwarded-For` hop behind a trusted
/// proxy.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.config.trust_proxy_headers {
            let forwarded = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|ip| ip.trim().parse().ok());
            if forwarded.is_some() {
                return Ok(ClientIp(forwarded));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(ClientIp(peer))
    }
}

fn request_id(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn operator_token_matches(state: &AppState, presented: &str) -> bool {
    let Some(expected) = &state.config.operator_token_sha256 else {
        return false;
    };
    // Comparing fixed-length digests in constant time leaks neither content nor length.
    let digest = Sha256::digest(presented.trim().as_bytes());
    bool::from(digest.as_slice().ct_eq(expected.as_slice()))
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// The holder of the operator token on the operator API. Without a configured token the
/// operator API does not exist (404); with a wrong one it is 401.
#[derive(Debug)]
pub struct Operator(pub RequestCtx);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.config.operator_token_sha256.is_none() {
            return Err(ApiError::not_found());
        }
        let presented = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        if !operator_token_matches(state, presented) {
            return Err(ApiError::unauthorized());
        }
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        Ok(Operator(RequestCtx {
            credential: Credential::OperatorAdmin,
            ip,
            request_id: request_id(parts),
        }))
    }
}

/// Whoever calls a tenant route: a session cookie, an API key, the operator token (read-only),
/// or nobody. Whether that is enough is the tenant's decision.
#[derive(Debug)]
pub struct Caller(pub RequestCtx);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let credential = match bearer(parts) {
            Some(token) if token.starts_with("mjk_") => Credential::ApiKey(token.trim().to_owned()),
            Some(token) if operator_token_matches(state, token) => Credential::Operator,
            Some(_) => return Err(ApiError::unauthorized()),
            None => session_from_cookies(parts, &state.config.cookie_secret)
                .map_or(Credential::None, Credential::Session),
        };
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        Ok(Caller(RequestCtx {
            credential,
            ip,
            request_id: request_id(parts),
        }))
    }
}

/// The session id from `__Host-majlis_session`, if its signature is ours.
fn session_from_cookies(parts: &Parts, secret: &[u8]) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == crate::session::COOKIE_NAME)
        .and_then(|c| crate::session::verify(secret, c.value()))
}

/// Query parameters; a malformed one is a 422 naming the problem.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_query",
                    e.body_text(),
                )
            })
    }
}

/// A JSON body. Syntax errors are 400, shape errors 422 naming the field, an oversize body 413.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v == "application/json" || v.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than this server accepts",
        )
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            "the request body could not be read",
        )
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    use serde_json::error::Category;
    let malformed = |inner: &serde_json::Error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {inner}"),
        )
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.classify() != Category::Data {
            return malformed(&inner);
        }
        let message = inner.to_string();
        // serde names an unknown or missing field only in its message.
        let field = if path == "." || path.is_empty() {
            quoted_field(&message).unwrap_or_default()
        } else {
            path
        };
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).with_field(field)
    })?;
    deserializer.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

fn quoted_field(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(message[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: u32,
    }

    fn field_of(raw: &str) -> (StatusCode, Option<String>) {
        let err = parse_json::<Body>(raw.as_bytes()).unwrap_err();
        (err.status(), err.field_for_tests())
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            field_of(r#"{"name":"a","count":"x"}"#),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("count".into()))
        );
        assert_eq!(
            field_of(r#"{"name":"a","count":1,"extra":true}"#),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("extra".into()))
        );
        assert_eq!(
            field_of(r#"{"name":"a"}"#),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("count".into()))
        );
        assert_eq!(field_of(r#"{"name":"a","#).0, StatusCode::BAD_REQUEST);
        assert_eq!(
            field_of(r#"{"name":"a","count":1} trailing"#).0,
            StatusCode::BAD_REQUEST
        );
    }
}
