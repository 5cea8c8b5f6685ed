//! majlis-http: the HTTP edge. Handlers parse and authenticate, send one message into the actor
//! runtime, and map the reply; they never touch files or shared mutable state.

mod cache;
mod calendar;
mod csv_export;
mod dispatch;
mod edge_limit;
mod error;
mod extract;
mod routes;
mod session;
mod wire;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
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
    edge_limit: Arc<edge_limit::EdgeLimiter>,
}

impl AppState {
    pub fn new(manager: ManagerHandle, config: HttpConfig) -> Self {
        Self {
            edge_limit: Arc::new(edge_limit::EdgeLimiter::new(
                config.edge_auth_burst,
                config.edge_auth_per,
            )),
            manager,
            config: Arc::new(config),
            discovery: Discovery::build(),
            started: Instant::now(),
        }
    }
}

/// A tenant route as the permission test walks it.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    /// With `{id}` where an id goes.
    pub path: &'static str,
    /// Answers without a credential (sign-in, the public face).
    pub public: bool,
    /// Any signed-in member may call it for themself (sign out, answer an invitation, their feed).
    pub self_service: bool,
}

fn tenant_routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    use routes::{auth, public, records, tenant, workspace as ws};
    let spec = |method: Method, path: &'static str, public: bool| RouteSpec {
        method,
        path,
        public,
        self_service: false,
    };
    let own = |method: Method, path: &'static str| RouteSpec {
        method,
        path,
        public: false,
        self_service: true,
    };
    vec![
        (
            spec(Method::GET, "/api/tenant", true),
            get(public::tenant_face),
        ),
        (
            spec(Method::POST, "/api/auth/otp/request", true),
            post(auth::otp_request),
        ),
        (
            spec(Method::POST, "/api/auth/otp/verify", true),
            post(auth::otp_verify),
        ),
        (
            spec(Method::POST, "/api/auth/magic/request", true),
            post(auth::magic_request),
        ),
        (
            spec(Method::GET, "/auth/magic/{id}", true),
            get(auth::magic_verify),
        ),
        (own(Method::POST, "/api/auth/logout"), post(auth::logout)),
        (spec(Method::GET, "/api/me", false), get(tenant::me)),
        (
            spec(Method::GET, "/api/members", false),
            get(tenant::list_members),
        ),
        (
            spec(Method::POST, "/api/members", false),
            post(tenant::invite_member),
        ),
        (
            spec(Method::PATCH, "/api/members/{id}", false),
            patch(tenant::update_member),
        ),
        (
            spec(Method::POST, "/api/members/{id}/disable", false),
            post(tenant::disable_member),
        ),
        (
            spec(Method::POST, "/api/members/{id}/enable", false),
            post(tenant::enable_member),
        ),
        (
            spec(Method::POST, "/api/members/{id}/sessions/revoke", false),
            post(tenant::revoke_sessions),
        ),
        (
            spec(Method::GET, "/api/roles", false),
            get(tenant::get_roles),
        ),
        (
            spec(Method::PUT, "/api/roles", false),
            put(tenant::put_roles),
        ),
        (
            spec(Method::GET, "/api/features", false),
            get(tenant::get_features),
        ),
        (
            spec(Method::PUT, "/api/features", false),
            put(tenant::put_features),
        ),
        (
            spec(Method::GET, "/api/keys", false),
            get(tenant::list_keys),
        ),
        (
            spec(Method::POST, "/api/keys", false),
            post(tenant::create_key),
        ),
        (
            spec(Method::POST, "/api/keys/{id}/rotate", false),
            post(tenant::rotate_key),
        ),
        (
            spec(Method::DELETE, "/api/keys/{id}", false),
            delete(tenant::delete_key),
        ),
        (spec(Method::GET, "/api/audit", false), get(tenant::audit)),
        (
            spec(Method::GET, "/api/audit.csv", false),
            get(tenant::audit_csv),
        ),
        (
            spec(Method::GET, "/api/boards", false),
            get(ws::list_boards),
        ),
        (
            spec(Method::POST, "/api/boards", false),
            post(ws::create_board),
        ),
        (
            spec(Method::PATCH, "/api/boards/{id}", false),
            patch(ws::update_board),
        ),
        (
            spec(Method::PUT, "/api/boards/{id}/members/{member_id}", false),
            put(ws::set_board_member),
        ),
        (
            spec(
                Method::DELETE,
                "/api/boards/{id}/members/{member_id}",
                false,
            ),
            delete(ws::remove_board_member),
        ),
        (
            spec(Method::GET, "/api/meetings", false),
            get(ws::list_meetings),
        ),
        (
            spec(Method::POST, "/api/meetings", false),
            post(ws::create_meeting),
        ),
        (
            spec(Method::GET, "/api/meetings/{id}", false),
            get(ws::get_meeting),
        ),
        (
            spec(Method::PATCH, "/api/meetings/{id}", false),
            patch(ws::update_meeting),
        ),
        (
            spec(Method::POST, "/api/meetings/{id}/cancel", false),
            post(ws::cancel_meeting),
        ),
        (
            spec(Method::POST, "/api/meetings/{id}/agenda", false),
            post(ws::add_agenda_item),
        ),
        (
            spec(Method::PATCH, "/api/meetings/{id}/agenda/{item_id}", false),
            patch(ws::update_agenda_item),
        ),
        (
            spec(Method::DELETE, "/api/meetings/{id}/agenda/{item_id}", false),
            delete(ws::delete_agenda_item),
        ),
        (
            spec(Method::POST, "/api/meetings/{id}/agenda/reorder", false),
            post(ws::reorder_agenda),
        ),
        (own(Method::PUT, "/api/meetings/{id}/rsvp"), put(ws::rsvp)),
        (
            spec(
                Method::PUT,
                "/api/meetings/{id}/attendance/{member_id}",
                false,
            ),
            put(ws::roll_call),
        ),
        (
            spec(Method::POST, "/api/meetings/{id}/actions", false),
            post(ws::create_action),
        ),
        (
            spec(Method::PATCH, "/api/actions/{id}", false),
            patch(ws::update_action),
        ),
        (
            spec(Method::GET, "/api/actions", false),
            get(ws::list_actions),
        ),
        (own(Method::GET, "/api/me/calendar"), get(ws::my_calendar)),
        (
            own(Method::POST, "/api/me/calendar/rotate"),
            post(ws::rotate_calendar),
        ),
        (spec(Method::GET, "/ics/{id}", true), get(ws::feed)),
        (
            spec(Method::POST, "/api/meetings/{id}/minutes", false),
            post(records::draft_minutes),
        ),
        (
            spec(Method::PATCH, "/api/meetings/{id}/minutes", false),
            patch(records::edit_minutes),
        ),
        (
            spec(Method::POST, "/api/meetings/{id}/minutes/approve", false),
            post(records::approve_minutes),
        ),
        (
            spec(Method::GET, "/api/members.csv", false),
            get(records::members_csv),
        ),
        (
            spec(Method::GET, "/api/meetings.csv", false),
            get(records::meetings_csv),
        ),
        (
            spec(Method::GET, "/api/actions.csv", false),
            get(records::actions_csv),
        ),
    ]
}

/// Every tenant route, for tests that must cover them all.
pub fn tenant_route_specs() -> Vec<RouteSpec> {
    tenant_routes().into_iter().map(|(spec, _)| spec).collect()
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
    let admin = admin
        .route("/tenants/{slug}/fault", post(routes::admin::inject_fault))
        .route("/clock/advance", post(routes::admin::advance_clock));

    let mut tenant = Router::new();
    for (spec, handler) in tenant_routes() {
        tenant = tenant.route(spec.path, handler);
    }
    let tenant = tenant.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        edge_limit::limit_sign_in,
    ));

    Router::new()
        .route("/api/almajlis/sectors.json", get(routes::public::sectors))
        .route("/api/almajlis/modules.json", get(routes::public::modules))
        .route("/api/almajlis/health.json", get(routes::public::health))
        .merge(tenant)
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
