//! `ApiError`: the one place failures become HTTP responses. The client gets a stable code and a
//! human message; a 5xx never says anything internal, while the log says everything.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use majlis_actors::TenantError;
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    retry_after: Option<u32>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    #[cfg(test)]
    pub(crate) fn field_for_tests(&self) -> Option<String> {
        self.field.clone()
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    pub fn unknown_tenant() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_tenant",
            "no tenant answers to this host",
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid credentials",
        )
    }

    /// The runtime did not answer in time: a clear 503, never a hang.
    pub fn timeout() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the tenant did not answer in time; try again",
        )
        .retry_after(1)
    }

    pub fn unavailable(detail: &str) -> Self {
        tracing::warn!(detail, "tenant unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "tenant_unavailable",
            "this tenant is temporarily unavailable",
        )
        .retry_after(5)
    }

    pub fn internal(detail: &str) -> Self {
        tracing::error!(detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

impl From<TenantError> for ApiError {
    fn from(err: TenantError) -> Self {
        match err {
            TenantError::UnknownTenant => ApiError::unknown_tenant(),
            TenantError::Disabled => ApiError::new(
                StatusCode::FORBIDDEN,
                "tenant_disabled",
                "this tenant is disabled",
            ),
            TenantError::Unavailable(reason) => ApiError::unavailable(&reason),
            TenantError::Overloaded => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "tenant_busy",
                "this tenant has too many requests in flight; try again shortly",
            )
            .retry_after(1),
            TenantError::Invalid(parse) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                parse.to_string(),
            )
            .with_field(parse.field),
            TenantError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            TenantError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            TenantError::PlanLimit(message) => {
                ApiError::new(StatusCode::FORBIDDEN, "plan_limit", message)
            }
            TenantError::NotInThisMode => ApiError::not_found(),
            TenantError::Unauthorized => ApiError::unauthorized(),
            TenantError::Forbidden(message) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
            }
            TenantError::PlanRequired(message) => {
                ApiError::new(StatusCode::FORBIDDEN, "plan_required", message)
            }
            TenantError::RateLimited { retry_after_secs } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many attempts; try again later",
            )
            .retry_after(u32::try_from(retry_after_secs).unwrap_or(u32::MAX)),
            TenantError::InvalidCode => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_code",
                "the code is wrong or no longer valid",
            ),
            TenantError::CodeExpired => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "code_expired",
                "the code has expired; ask for a new one",
            ),
            TenantError::TooLarge(limit) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the file is larger than this server accepts ({limit} bytes)"),
            ),
            TenantError::Storage => {
                tracing::error!("a write failed to reach the disk; the tenant reloads");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_failure",
                    "the change was not saved; try again",
                )
                .retry_after(1)
            }
            TenantError::Internal(detail) => ApiError::internal(&detail),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: self.code,
            message: &self.message,
            field: self.field.as_deref(),
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body was not read: the connection cannot carry another request.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
