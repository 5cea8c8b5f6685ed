//! The system allocator. glibc gives each busy thread an arena of its own (up to eight per core);
//! tenants activate on one thread and passivate on another, so freed memory ends up scattered
//! over arenas it is never reused from. The server runs with two arenas: that alone brought ten
//! thousand active tenants from 23 KB to 18 KB each (see BENCHMARKS.md). And glibc keeps freed
//! pages rather than handing them back: after tenants passivate, the server asks it to
//! (`malloc_trim`), so memory taken by a wave of active tenants returns to the system.

use std::time::Duration;

use majlis_actors::ManagerHandle;
use majlis_actors::manager::ManagerMsg;

/// How often the trimmer looks whether tenants have passivated.
const TRIM_CHECK: Duration = Duration::from_secs(5);

/// The glibc setting, read once when a process starts.
pub const ARENAS: &str = "MALLOC_ARENA_MAX";

/// The number of arenas the server runs with unless the environment says otherwise.
pub const DEFAULT_ARENAS: &str = "2";

/// Re-executes this program with `MALLOC_ARENA_MAX` set when it is not (an operator's own value
/// is kept). Returns only when there is nothing to do or the re-execution failed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_arenas() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os(ARENAS).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(ARENAS, DEFAULT_ARENAS)
        .exec();
    eprintln!("majlis: could not restart with {ARENAS}={DEFAULT_ARENAS} ({err}); continuing");
}

/// Other platforms and C libraries have no such setting.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() {}

/// Looks after a drop in active tenants that still trim: the one that saw the drop, and the next,
/// for what is freed just after a wave (blocking threads that exit a second later hand their
/// caches back to the arenas only then).
const TRIMS_AFTER_A_DROP: u8 = 2;

/// Decides, at each look, whether to hand freed memory back.
#[derive(Debug, Default)]
struct Trimmer {
    last_active: usize,
    trims_left: u8,
}

impl Trimmer {
    /// Whether to trim now, `active` tenants being active.
    fn look(&mut self, active: usize) -> bool {
        if active < self.last_active {
            self.trims_left = TRIMS_AFTER_A_DROP;
        }
        self.last_active = active;
        let trim = self.trims_left > 0;
        self.trims_left = self.trims_left.saturating_sub(1);
        trim
    }
}

/// Every `TRIM_CHECK`, hands freed memory back to the system after tenants have passivated.
/// Runs until the manager is gone.
pub async fn trim_after_passivation(manager: ManagerHandle) {
    let mut trimmer = Trimmer::default();
    loop {
        tokio::time::sleep(TRIM_CHECK).await;
        let Some(actor) = manager.get() else {
            return;
        };
        // Not the health view: that probes the storage with a file written and removed, which
        // would touch the disk every few seconds for nothing.
        let Ok(ractor::rpc::CallResult::Success(active)) = actor
            .call(ManagerMsg::ActiveTenants, Some(Duration::from_secs(5)))
            .await
        else {
            continue;
        };
        if trimmer.look(active) {
            // The trim walks and locks each arena; keep it off the runtime's workers.
            let released = tokio::task::spawn_blocking(release_free_memory)
                .await
                .unwrap_or(false);
            tracing::debug!(released, active, "returned freed memory to the system");
        }
    }
}

/// glibc's `malloc_trim(0)`: gives every arena's free pages back to the system. Answers whether
/// anything was released.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(
    unsafe_code,
    reason = "malloc_trim is C; one of the two C calls (with sched_setscheduler)"
)]
fn release_free_memory() -> bool {
    // SAFETY: malloc_trim takes a size and has no precondition on the caller; it only changes
    // the allocator's free lists, under the allocator's own locks.
    unsafe { libc::malloc_trim(0) != 0 }
}

/// Other C libraries have no such call.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_handed_back_after_tenants_passivate_and_once_more() {
        let mut trimmer = Trimmer::default();
        // Tenants activating: nothing to hand back.
        assert!(!trimmer.look(5));
        assert!(!trimmer.look(10));
        // They passivate: trim at this look and the next, then stop while nothing changes.
        assert!(trimmer.look(3));
        assert!(trimmer.look(0));
        assert!(trimmer.look(0));
        assert!(!trimmer.look(0));
        assert!(!trimmer.look(0));
        // A new wave that ends: trim again.
        assert!(!trimmer.look(7));
        assert!(trimmer.look(0));
        assert!(trimmer.look(0));
        assert!(!trimmer.look(0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn what_the_trimmer_asks_writes_nothing_where_the_health_view_probes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = crate::config::Settings {
            data_dir: dir.path().to_path_buf(),
            ..crate::config::Settings::default()
        };
        let modified = || {
            std::fs::metadata(dir.path())
                .and_then(|m| m.modified())
                .expect("data directory")
        };
        let (quiet, probed) = crate::startup::with_offline_runtime(&settings, async |runtime| {
            let manager = runtime.manager().get().expect("manager");
            let ask = Some(Duration::from_secs(5));
            // Set back a day, so any change in the directory shows whatever the clock's grain.
            let before = modified() - Duration::from_secs(86_400);
            std::fs::File::open(dir.path())
                .and_then(|d| d.set_modified(before))
                .expect("set the directory's time");
            let active = manager.call(ManagerMsg::ActiveTenants, ask).await;
            assert!(matches!(active, Ok(ractor::rpc::CallResult::Success(0))));
            let quiet = modified() == before;
            let health = manager.call(ManagerMsg::Health, ask).await;
            assert!(
                matches!(health, Ok(ractor::rpc::CallResult::Success(h)) if h.storage_writable)
            );
            (quiet, modified() != before)
        })
        .await
        .expect("runtime");
        assert!(
            quiet,
            "asking for the active tenants touched the data directory"
        );
        assert!(
            probed,
            "the health view's probe is seen in the data directory"
        );
    }

    #[test]
    fn trimming_is_safe_to_call_at_any_time() {
        // Whether glibc releases anything depends on its heap; the call itself must not fail.
        let _ = release_free_memory();
    }
}
