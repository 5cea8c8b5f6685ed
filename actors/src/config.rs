//! `RuntimeConfig`: the settings the actor runtime needs, already parsed.

use std::path::PathBuf;
use std::time::Duration;

use crate::domain::{HostName, Slug};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Many tenants, each found by its Host.
    Cloud,
    /// One organisation: every request is this tenant's, and it never passivates.
    OnPrem { tenant: Slug },
}

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub data_root: PathBuf,
    pub mode: Mode,
    /// `<slug>.<base_domain>` reaches a tenant without registering a host.
    pub base_domain: Option<HostName>,
    /// A tenant with no message for this long is passivated.
    pub idle: Duration,
    /// Restart intensity for tenants and their children.
    pub restart_max: u32,
    pub restart_window: Duration,
    /// Journal records that trigger a snapshot.
    pub snapshot_every: u64,
    /// Requests queued or running in one tenant before new ones are refused.
    pub max_inflight_per_tenant: usize,
}

impl RuntimeConfig {
    /// Defaults for a data root, as a test or the offline CLI wants them.
    pub fn for_data_root(data_root: impl Into<PathBuf>) -> Self {
        Self {
            data_root: data_root.into(),
            mode: Mode::Cloud,
            base_domain: None,
            idle: Duration::from_secs(900),
            restart_max: 3,
            restart_window: Duration::from_secs(10),
            snapshot_every: 1000,
            max_inflight_per_tenant: 256,
        }
    }
}
