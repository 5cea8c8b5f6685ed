//! What the health check sees: the tenants counted by state, and a probe that the data root
//! takes writes.

use super::views::HealthView;
use super::{ManagerState, Run};

impl ManagerState {
    pub(super) fn health(&self) -> HealthView {
        HealthView {
            tenants_total: self.entries.len(),
            tenants_active: self.tenants_active(),
            tenants_failed: self
                .entries
                .values()
                .filter(|entry| matches!(entry.run, Run::Failed))
                .count(),
            storage_writable: storage_writable(&self.shared.config.data_root),
        }
    }

    /// Tenants whose actor runs (or is stopping).
    pub(super) fn tenants_active(&self) -> usize {
        self.entries
            .values()
            .filter(|entry| entry.run.is_running())
            .count()
    }
}

/// Writes and removes a probe file in the data root.
fn storage_writable(data_root: &std::path::Path) -> bool {
    let probe = data_root.join(".health-probe");
    crate::store::blocking(|| {
        std::fs::write(&probe, b"ok").and_then(|()| std::fs::remove_file(&probe))
    })
    .is_ok()
}
