//! majlis-http: the HTTP edge. Handlers parse and authenticate, send one message into the actor
//! runtime, and map the reply; they never touch files or shared mutable state.

mod cache;
mod dispatch;
mod error;
mod extract;
mod routes;
mod wire;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use majlis_actors::ManagerHandle;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use dispatch::HttpConfig;
pub use error::ApiError;

use routes::public::Discovery;

/// What every handler may read: the way to the runtime and immutable settings.
#[derive(Debug, Clone)]
pub struct AppState {
    manager: ManagerHandle,
    config: Arc<HttpConfig>,
    discovery: Arc<Discovery>,
    started: Instant,
}

impl AppState {
    pub fn new(manager: ManagerHandle, config: HttpConfig) -> Self {
        Self {
            manager,
            config: Arc::new(config),
            discovery: Discovery::build(),
            started: Instant::now(),
        }
    }
}

/// Every route of the server, with its middleware.
pub fn router(state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    let body_limit = state.config.body_limit;
    let admin = Router::new()
        .route(
            "/tenants",
            post(routes::admin::create_tenant).get(routes::admin::list_tenants),
        )
        .route("/tenants/{slug}", get(routes::admin::get_tenant))
        .route(
            "/tenants/{slug}/restart",
            post(routes::admin::restart_tenant),
        )
        .route(
            "/tenants/{slug}/disable",
            post(routes::admin::disable_tenant),
        )
        .route("/tenants/{slug}/enable", post(routes::admin::enable_tenant))
        .route(
            "/tenants/{slug}/members",
            post(routes::admin::create_member).get(routes::admin::list_members),
        );
    #[cfg(feature = "fault-injection")]
    let admin = admin.route("/tenants/{slug}/fault", post(routes::admin::inject_fault));

    Router::new()
        .route("/api/almajlis/sectors.json", get(routes::public::sectors))
        .route("/api/almajlis/modules.json", get(routes::public::modules))
        .route("/api/almajlis/health.json", get(routes::public::health))
        .route("/api/tenant", get(routes::public::tenant_face))
        .nest("/admin/api", admin)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(
                    x_request_id.clone(),
                    MakeRequestUuid,
                ))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                        let id = request
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!(
                            "http",
                            method = %request.method(),
                            path = %request.uri().path(),
                            request_id = %id,
                        )
                    }),
                )
                .layer(PropagateRequestIdLayer::new(x_request_id))
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::internal("a handler panicked").into_response()
                })),
        )
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed here",
    )
    .into_response()
}
