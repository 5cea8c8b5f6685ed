//! Sending one message into the runtime and mapping its answer; every call has a timeout.

use std::time::Duration;

use majlis_actors::TenantError;
use majlis_actors::manager::{ManagerMsg, Routed, Target};
use majlis_actors::tenant::{Envelope, Reply, Request, RequestCtx};
use ractor::RpcReplyPort;
use ractor::rpc::CallResult;

use crate::AppState;
use crate::error::ApiError;

/// Asks the tenant manager something and waits at most the configured call timeout.
pub async fn call_manager<T: Send + 'static>(
    state: &AppState,
    build: impl FnOnce(RpcReplyPort<T>) -> ManagerMsg,
) -> Result<T, ApiError> {
    call_manager_within(state, state.config.call_timeout, build).await
}

/// Like `call_manager`, with a deadline of its own (uploads last as long as the client sends).
pub async fn call_manager_within<T: Send + 'static>(
    state: &AppState,
    timeout: Duration,
    build: impl FnOnce(RpcReplyPort<T>) -> ManagerMsg,
) -> Result<T, ApiError> {
    let manager = state
        .manager
        .get()
        .ok_or_else(|| ApiError::unavailable("the tenant manager is restarting"))?;
    match manager.call(build, Some(timeout)).await {
        Ok(CallResult::Success(value)) => Ok(value),
        Ok(CallResult::Timeout) => Err(ApiError::timeout()),
        // The actor that held the reply port stopped (a crash, a restart): retryable.
        Ok(CallResult::SenderError) | Err(_) => Err(ApiError::unavailable(
            "the request was dropped by a stopping actor",
        )),
    }
}

/// Sends one request to a tenant and maps its reply: straight to its actor when it is running,
/// through the manager otherwise (activation, a stopping or failed tenant, a custom host).
pub async fn ask(
    state: &AppState,
    target: Target,
    ctx: RequestCtx,
    request: Request,
) -> Result<Reply, ApiError> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let envelope = Envelope::new(ctx, request, RpcReplyPort::from(reply));
    if let Routed::ToManager(envelope) = state.manager.routes().dispatch(&target, envelope) {
        let manager = state
            .manager
            .get()
            .ok_or_else(|| ApiError::unavailable("the tenant manager is restarting"))?;
        manager
            .cast(ManagerMsg::Dispatch {
                target,
                envelope: *envelope,
            })
            .map_err(|_| ApiError::unavailable("the tenant manager is restarting"))?;
    }
    match tokio::time::timeout(state.config.call_timeout, answer).await {
        Ok(Ok(answer)) => answer.map_err(ApiError::from),
        // The actor that held the reply port stopped (a crash, a restart): retryable.
        Ok(Err(_)) => Err(ApiError::unavailable(
            "the request was dropped by a stopping actor",
        )),
        Err(_) => Err(ApiError::timeout()),
    }
}

pub fn flatten<T>(answer: Result<Result<T, TenantError>, ApiError>) -> Result<T, ApiError> {
    answer?.map_err(ApiError::from)
}

/// A reply of an unexpected kind is a defect in this crate, reported as a generic 500.
pub fn unexpected(reply: &Reply) -> ApiError {
    ApiError::internal(&format!("unexpected reply {reply:?}"))
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// SHA-256 of the operator token; `None` switches the operator API off.
    pub operator_token_sha256: Option<Vec<u8>>,
    pub body_limit: usize,
    pub call_timeout: Duration,
    pub trust_proxy_headers: bool,
    pub onprem: bool,
    /// Signs session cookies.
    pub cookie_secret: Vec<u8>,
    /// Sign-in requests are answered at this fixed time after arrival, whatever happened, so
    /// that timing tells nothing about which identities exist.
    pub sign_in_deadline: Duration,
    /// Sign-in requests one client address may make across all tenants: a burst, refilled one
    /// per `edge_auth_per`.
    pub edge_auth_burst: u32,
    pub edge_auth_per: Duration,
    /// Where people reach a tenant, for links (`{slug}` is replaced).
    pub public_url: String,
    /// Test builds only: the runtime's clock, moved by `POST /admin/api/clock/advance`.
    #[cfg(feature = "fault-injection")]
    pub clock: majlis_actors::Clock,
}
