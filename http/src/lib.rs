//! majlis-http: the HTTP edge. Handlers parse and authenticate, send one message into the actor
//! runtime, and map the reply; they never touch files or shared mutable state.

mod cache;
mod calendar;
mod csv_export;
mod dispatch;
mod edge_limit;
mod error;
mod extract;
mod json_body;
mod openapi;
mod route_table;
mod routes;
mod session;
mod wire;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::BoxError;
use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use majlis_actors::ManagerHandle;
use tower::{Service, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use dispatch::HttpConfig;
pub use error::ApiError;
pub use route_table::{RouteSpec, all_route_specs, tenant_route_specs};

use routes::public::Discovery;

/// What every handler may read: the way to the runtime and immutable settings. Extractors and
/// middleware clone it several times a request, so it is one shared allocation.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// What an `AppState` points to, one for the whole server.
#[derive(Debug)]
pub struct Shared {
    manager: ManagerHandle,
    config: HttpConfig,
    discovery: Arc<Discovery>,
    started: Instant,
    edge_limit: edge_limit::EdgeLimiter,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(manager: ManagerHandle, config: HttpConfig) -> Self {
        Self(Arc::new(Shared {
            edge_limit: edge_limit::EdgeLimiter::new(config.edge_auth_burst, config.edge_auth_per),
            manager,
            config,
            discovery: Discovery::build(),
            started: Instant::now(),
        }))
    }
}

/// The whole HTTP application: every route, wrapped once in the middleware every request
/// passes (request id, trace span, panic guard, body limit).
///
/// The middleware wraps the router from outside rather than through `Router::layer`, which would
/// wrap each route in it and box it again: a request then pays for one boxed route, not one
/// clone and one boxed future per layer. Each layer still sees every request, matched or not.
pub fn app(
    state: AppState,
) -> impl Service<
    Request<Body>,
    Response = Response<impl HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    let x_request_id = HeaderName::from_static("x-request-id");
    let body_limit = state.config.body_limit;
    ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(
            x_request_id.clone(),
            MakeRequestUuid,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<Body>| {
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
        }))
        .layer(DefaultBodyLimit::max(body_limit))
        .service(router(state))
}

/// Every route of the server, without the middleware `app` puts around them.
fn router(state: AppState) -> Router {
    let mut router = Router::new();
    // Every route comes from the one table, so the OpenAPI document and the permission walk
    // cannot miss one.
    for (spec, handler) in route_table::all_routes() {
        let handler = if edge_limit::is_sign_in(spec.path) {
            handler.layer(axum::middleware::from_fn_with_state(
                state.clone(),
                edge_limit::limit_sign_in,
            ))
        } else {
            handler
        };
        router = router.route(spec.path, handler);
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
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
