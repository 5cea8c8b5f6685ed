//! What the tenant manager is asked: requests to route, tenants to create, inspect, restart,
//! disable or enable, and the notices its tenants send it.

use ractor::RpcReplyPort;

use super::views::{HealthView, TenantView};
use crate::domain::{HostName, Slug};
use crate::error::TenantError;
use crate::tenant::{Envelope, NewTenant, Reply, RequestCtx, TenantStatus};

pub(super) type ReplyPort = RpcReplyPort<Result<Reply, TenantError>>;
pub(super) type ViewPort = RpcReplyPort<Result<TenantView, TenantError>>;

/// Where a request is going: a Host header (tenant routes) or a slug (operator routes).
#[derive(Debug, Clone)]
pub enum Target {
    Host(HostName),
    Slug(Slug),
}

#[derive(Debug)]
pub enum ManagerMsg {
    Dispatch {
        target: Target,
        envelope: Envelope,
    },
    Create {
        tenant: NewTenant,
        ctx: RequestCtx,
        reply: ReplyPort,
    },
    List(RpcReplyPort<Vec<TenantView>>),
    Inspect {
        slug: Slug,
        reply: ViewPort,
    },
    /// Drain, stop and re-activate; answers the view after the new activation has loaded.
    Restart {
        slug: Slug,
        reply: ViewPort,
    },
    SetStatus {
        slug: Slug,
        status: TenantStatus,
        ctx: RequestCtx,
        reply: ReplyPort,
    },
    Health(RpcReplyPort<HealthView>),
    /// How many tenants are active: the health view's count alone, without its probe of the
    /// storage (a file written and removed), for callers that ask often.
    ActiveTenants(RpcReplyPort<usize>),
    /// From a tenant actor whose files are damaged.
    TenantBroken {
        slug: Slug,
        reason: String,
    },
    /// From a tenant actor whose creation was refused.
    CreationFailed {
        slug: Slug,
    },
    /// Passivate tenants idle for longer than the configured time.
    Sweep,
    /// Passivate every tenant (snapshots written), then answer.
    Shutdown(RpcReplyPort<()>),
    #[cfg(feature = "fault-injection")]
    Fault {
        slug: Slug,
        fault: crate::tenant::Fault,
        reply: RpcReplyPort<Result<(), TenantError>>,
    },
}
