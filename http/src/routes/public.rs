//! Routes anyone may call: the discovery documents, health, and a tenant's public face.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use majlis_actors::catalog::Catalog;
use majlis_actors::manager::ManagerMsg;
use majlis_actors::tenant::{Reply, Request};
use serde::Serialize;

use crate::AppState;
use crate::cache::CachedJson;
use crate::dispatch::{ask, call_manager, unexpected};
use crate::error::ApiError;
use crate::extract::{Caller, TenantHost};
use crate::json_body::Json;
use crate::wire::FaceOut;

/// The discovery documents, built once from the shipped catalog.
#[derive(Debug)]
pub struct Discovery {
    pub sectors: CachedJson,
    pub modules: CachedJson,
    pub openapi: CachedJson,
}

impl Discovery {
    pub fn build() -> Arc<Self> {
        let catalog = Catalog::get();
        let cache = "public, max-age=300";
        Arc::new(Self {
            sectors: CachedJson::new(&serde_json::json!({ "sectors": catalog.sectors }), cache),
            modules: CachedJson::new(
                &serde_json::json!({ "modules": catalog.modules, "plans": catalog.plans }),
                cache,
            ),
            openapi: CachedJson::new(
                &crate::openapi::document(&crate::route_table::all_route_specs()),
                cache,
            ),
        })
    }
}

pub async fn sectors(State(state): State<AppState>, headers: HeaderMap) -> Response {
    state.discovery.sectors.respond(&headers)
}

pub async fn modules(State(state): State<AppState>, headers: HeaderMap) -> Response {
    state.discovery.modules.respond(&headers)
}

/// The OpenAPI 3 document of every route.
pub async fn openapi(State(state): State<AppState>, headers: HeaderMap) -> Response {
    state.discovery.openapi.respond(&headers)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    uptime_s: u64,
    tenants_total: usize,
    tenants_active: usize,
    tenants_failed: usize,
    storage_writable: bool,
}

pub async fn health(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let view = call_manager(&state, ManagerMsg::Health).await?;
    let health = Health {
        status: if view.storage_writable {
            "ok"
        } else {
            "degraded"
        },
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: state.started.elapsed().as_secs(),
        tenants_total: view.tenants_total,
        tenants_active: view.tenants_active,
        tenants_failed: view.tenants_failed,
        storage_writable: view.storage_writable,
    };
    Ok(CachedJson::new(&health, "no-cache").respond(&headers))
}

pub async fn tenant_face(
    State(state): State<AppState>,
    TenantHost(target): TenantHost,
    Caller(ctx): Caller,
) -> Result<Json<FaceOut>, ApiError> {
    match ask(&state, target, ctx, Request::PublicFace).await? {
        Reply::Face(face) => Ok(Json(face.into())),
        other => Err(unexpected(&other)),
    }
}
