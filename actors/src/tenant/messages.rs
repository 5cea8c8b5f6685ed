//! The messages a tenant actor takes: requests in their envelopes (with the in-flight admission
//! they hold), creation, the internal steps of its life, and test-only faults.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ractor::RpcReplyPort;

use super::commands::{NewTenant, Reply, Request, RequestCtx};
use crate::children::notifier::DeliveryNote;
use crate::error::TenantError;
use crate::manager::TenantView;

/// A request on its way to a tenant, with the port its answer goes to.
#[derive(Debug)]
pub struct Envelope {
    pub ctx: RequestCtx,
    pub request: Request,
    pub reply: RpcReplyPort<Result<Reply, TenantError>>,
    /// Counts this request against the tenant's in-flight bound until it is answered.
    pub(crate) admission: Option<Admission>,
}

impl Envelope {
    pub fn new(
        ctx: RequestCtx,
        request: Request,
        reply: RpcReplyPort<Result<Reply, TenantError>>,
    ) -> Self {
        Self {
            ctx,
            request,
            reply,
            admission: None,
        }
    }

    pub(crate) fn refuse(self, error: TenantError) {
        let _ = self.reply.send(Err(error));
    }
}

/// One unit of a tenant's in-flight count, given back when dropped.
#[derive(Debug)]
pub(crate) struct Admission(Arc<AtomicUsize>);

impl Admission {
    pub(crate) fn try_take(counter: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Admission(Arc::clone(counter)))
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A tenant being created: the first thing its actor does.
#[derive(Debug)]
pub struct Creation {
    pub tenant: NewTenant,
    pub ctx: RequestCtx,
    pub reply: RpcReplyPort<Result<Reply, TenantError>>,
}

#[cfg(feature = "fault-injection")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Panic in the tenant actor's handler.
    Panic,
    /// The next journal fdatasync fails.
    FailNextFsync,
    /// Panic in the audit child.
    PanicAudit,
    /// Hold the tenant's mailbox for two seconds (a slow disk, a long job).
    Stall,
    /// The same for ten seconds, for tests that must queue several requests behind it.
    StallLong,
}

#[derive(Debug)]
pub enum TenantMsg {
    /// Sent to itself first: create or load the state.
    Load,
    Request(Envelope),
    /// The journal's writer made a batch durable (or failed): hand on its audit entries and
    /// effects.
    Flushed,
    /// A compaction running beside the actor has finished (or failed).
    Compacted,
    /// The audit child has made the trail durable up to this seq.
    Audited(u64),
    /// The notifier reports a delivery that did not go as asked; it goes in the audit trail.
    Notified(DeliveryNote),
    /// The documents child has stored (or refused) an upload's bytes.
    DocumentStored {
        pending: Box<super::workspace::PendingUpload>,
        result: Result<crate::children::documents::StoredBlob, TenantError>,
    },
    Inspect {
        view: TenantView,
        reply: RpcReplyPort<Result<TenantView, TenantError>>,
    },
    /// Flush, snapshot, stop the children, then stop.
    Passivate,
    #[cfg(feature = "fault-injection")]
    Fault(Fault, RpcReplyPort<Result<(), TenantError>>),
}
