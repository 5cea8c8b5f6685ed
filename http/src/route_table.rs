//! The route table: every route of the server with what guards it. The router, the OpenAPI
//! document and the permission walk are all built from it.

use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, patch, post, put};

use crate::{AppState, routes};

/// One route and what guards it.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    /// With `{id}` where an id goes.
    pub path: &'static str,
    /// Answers without a credential (sign-in, the public face).
    pub public: bool,
    /// Any signed-in member may call it for themself (sign out, answer an invitation, their feed).
    pub self_service: bool,
    /// The operator API (`Authorization: Bearer <operator token>`).
    pub operator: bool,
}

pub(crate) fn tenant_routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    use axum::extract::DefaultBodyLimit;
    use routes::{auth, documents as docs, public, records, tenant, workspace as ws};
    let spec = |method: Method, path: &'static str, public: bool| RouteSpec {
        method,
        path,
        public,
        self_service: false,
        operator: false,
    };
    let own = |method: Method, path: &'static str| RouteSpec {
        method,
        path,
        public: false,
        self_service: true,
        operator: false,
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
        // Uploads are limited by the documents child as they stream, not by the body limit.
        (
            spec(Method::POST, "/api/meetings/{id}/documents", false),
            post(docs::upload).layer(DefaultBodyLimit::disable()),
        ),
        (
            spec(Method::POST, "/api/documents/{id}/versions", false),
            post(docs::replace).layer(DefaultBodyLimit::disable()),
        ),
        (
            spec(Method::GET, "/api/documents/{id}", false),
            get(docs::download),
        ),
        (
            spec(Method::GET, "/api/meetings/{id}/pack", false),
            get(docs::pack),
        ),
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

fn operator(method: Method, path: &'static str) -> RouteSpec {
    RouteSpec {
        method,
        path,
        public: false,
        self_service: false,
        operator: true,
    }
}

fn public(method: Method, path: &'static str) -> RouteSpec {
    RouteSpec {
        method,
        path,
        public: true,
        self_service: false,
        operator: false,
    }
}

/// The public discovery documents and the API description; not tied to a tenant.
fn discovery_routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    use routes::public as p;
    vec![
        (
            public(Method::GET, "/api/almajlis/sectors.json"),
            get(p::sectors),
        ),
        (
            public(Method::GET, "/api/almajlis/modules.json"),
            get(p::modules),
        ),
        (
            public(Method::GET, "/api/almajlis/health.json"),
            get(p::health),
        ),
        (public(Method::GET, "/api/openapi.json"), get(p::openapi)),
    ]
}

fn admin_routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    use routes::admin as a;
    #[allow(unused_mut)]
    let mut routes = vec![
        (
            operator(Method::POST, "/admin/api/tenants"),
            post(a::create_tenant),
        ),
        (
            operator(Method::GET, "/admin/api/tenants"),
            get(a::list_tenants),
        ),
        (
            operator(Method::GET, "/admin/api/tenants/{slug}"),
            get(a::get_tenant),
        ),
        (
            operator(Method::POST, "/admin/api/tenants/{slug}/restart"),
            post(a::restart_tenant),
        ),
        (
            operator(Method::POST, "/admin/api/tenants/{slug}/disable"),
            post(a::disable_tenant),
        ),
        (
            operator(Method::POST, "/admin/api/tenants/{slug}/enable"),
            post(a::enable_tenant),
        ),
        (
            operator(Method::POST, "/admin/api/tenants/{slug}/members"),
            post(a::create_member),
        ),
        (
            operator(Method::GET, "/admin/api/tenants/{slug}/members"),
            get(a::list_members),
        ),
    ];
    #[cfg(feature = "fault-injection")]
    routes.extend([
        (
            operator(Method::POST, "/admin/api/tenants/{slug}/fault"),
            post(a::inject_fault),
        ),
        (
            operator(Method::POST, "/admin/api/clock/advance"),
            post(a::advance_clock),
        ),
    ]);
    routes
}

/// Every route of the server.
pub(crate) fn all_routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    let mut routes = discovery_routes();
    routes.extend(tenant_routes());
    routes.extend(admin_routes());
    routes
}

/// Every route's spec.
pub fn all_route_specs() -> Vec<RouteSpec> {
    all_routes().into_iter().map(|(spec, _)| spec).collect()
}

/// Every tenant route, for tests that must cover them all.
pub fn tenant_route_specs() -> Vec<RouteSpec> {
    tenant_routes().into_iter().map(|(spec, _)| spec).collect()
}
