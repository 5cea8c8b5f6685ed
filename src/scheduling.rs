//! The kernel's scheduling policy for the server's threads. On Linux the server asks for
//! `SCHED_BATCH` before its runtime starts, so every thread it makes (the runtime's workers, the
//! journal writers, the file work) inherits it. Under the default policy a thread woken by
//! another of the server's threads may take the core from it at once: the two runtime workers,
//! packed on one core, did that to each other every 0.5–2 ms under load, each leaving the other's
//! half-done request behind it (the journal's writer threads are woken the same way). Under `SCHED_BATCH` a woken thread waits for the running
//! one to block or use up its slice; shares of the cores are unchanged (same weight, same nice
//! value), and other programs' threads still preempt the server's as before. Measured in
//! BENCHMARKS.md (twenty-second round). `sched_policy = "normal"` keeps the default policy.
//!
//! The one system call (`sched_setscheduler`, as `chrt --batch` makes) is written here rather than
//! taken from a crate: the crates that wrap it also reset the thread's nice value.

use serde::Deserialize;

/// How the server's threads are scheduled (`sched_policy`, `MAJLIS_SCHED_POLICY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchedPolicy {
    /// `SCHED_BATCH`: the server's threads do not preempt each other on every wake-up.
    #[default]
    Batch,
    /// The system's default (`SCHED_OTHER`).
    Normal,
}

/// Why the policy could not be set.
#[derive(Debug, thiserror::Error)]
#[error("could not set the scheduling policy {policy:?}: {source}")]
pub struct SchedError {
    policy: SchedPolicy,
    source: std::io::Error,
}

/// Sets `policy` for the calling thread; threads it starts afterwards inherit it, so this is
/// called before the runtime is built. Elsewhere than on Linux there is nothing to set.
pub fn apply(policy: SchedPolicy) -> Result<(), SchedError> {
    set_for_this_thread(policy).map_err(|source| SchedError { policy, source })
}

#[cfg(target_os = "linux")]
#[expect(
    unsafe_code,
    reason = "sched_setscheduler is C; see the module's note on why no crate"
)]
fn set_for_this_thread(policy: SchedPolicy) -> std::io::Result<()> {
    let kind = match policy {
        SchedPolicy::Batch => libc::SCHED_BATCH,
        SchedPolicy::Normal => libc::SCHED_OTHER,
    };
    // The normal policies take no static priority: it must be 0.
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid, initialised `sched_param` that outlives the call; pid 0 is the
    // calling thread. The call reads it and changes nothing but that thread's policy.
    let status = unsafe { libc::sched_setscheduler(0, kind, &raw const param) };
    if status == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn set_for_this_thread(_policy: SchedPolicy) -> std::io::Result<()> {
    Ok(())
}

/// The calling thread's policy as the kernel reports it.
#[cfg(all(test, target_os = "linux"))]
#[expect(unsafe_code, reason = "sched_getscheduler is C")]
fn current() -> Option<SchedPolicy> {
    // SAFETY: no arguments but the calling thread (0); it only reads.
    match unsafe { libc::sched_getscheduler(0) } {
        libc::SCHED_BATCH => Some(SchedPolicy::Batch),
        libc::SCHED_OTHER => Some(SchedPolicy::Normal),
        _ => None,
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_started_after_the_policy_is_set_runs_under_it() {
        // On a thread of its own, so the test runner's threads keep their policy.
        let seen = std::thread::spawn(|| {
            apply(SchedPolicy::Batch).expect("set batch");
            let child = std::thread::spawn(current).join().expect("child");
            apply(SchedPolicy::Normal).expect("set normal again");
            (child, current())
        })
        .join()
        .expect("thread");
        assert_eq!(seen, (Some(SchedPolicy::Batch), Some(SchedPolicy::Normal)));
    }

    #[test]
    fn the_setting_reads_as_written_and_refuses_other_words() {
        let parse = |s: &str| serde_json::from_str::<SchedPolicy>(&format!("\"{s}\""));
        assert_eq!(parse("batch").ok(), Some(SchedPolicy::Batch));
        assert_eq!(parse("normal").ok(), Some(SchedPolicy::Normal));
        assert!(parse("fifo").is_err());
        assert_eq!(SchedPolicy::default(), SchedPolicy::Batch);
    }
}
