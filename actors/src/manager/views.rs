//! What the operator and the health check see of the tenants.

use jiff::Timestamp;
use serde::Serialize;

use crate::domain::{HostName, Slug};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Active,
    Passive,
    Failed,
    Disabled,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChildView {
    pub name: String,
    pub state: String,
}

/// What the operator sees of one tenant.
#[derive(Debug, Clone, Serialize)]
pub struct TenantView {
    pub slug: Slug,
    pub state: RunState,
    pub restarts: u64,
    pub last_error: Option<String>,
    pub inflight: usize,
    pub last_activity: Option<Timestamp>,
    pub hosts: Vec<HostName>,
    /// Known only while the tenant is active.
    pub journal_len: Option<u64>,
    pub last_seq: Option<u64>,
    /// Memory kept of the last members snapshot for the next one to copy from (0 under 1,000
    /// members); known only while the tenant is active.
    pub snapshot_kept_bytes: Option<u64>,
    pub children: Vec<ChildView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HealthView {
    pub tenants_total: usize,
    pub tenants_active: usize,
    pub tenants_failed: usize,
    pub storage_writable: bool,
}
