//! The system allocator's arenas. glibc gives each busy thread an arena of its own (up to eight
//! per core); tenants activate on one thread and passivate on another, so freed memory ends up
//! scattered over arenas it is never reused from. The server runs with two arenas: that alone
//! brought ten thousand active tenants from 23 KB to 18 KB each (see BENCHMARKS.md).

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
