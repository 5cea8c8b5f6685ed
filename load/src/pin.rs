//! `--pin`: the harness on the machine's last core and every server it starts on the others, so
//! that neither takes the other's core (Linux thread affinity, set through safe system calls).

use std::sync::OnceLock;

use rustix::thread::{CpuSet, Pid, sched_getaffinity, sched_setaffinity};

/// The cores servers run on, once `split` has pinned the harness.
static SERVER_CORES: OnceLock<CpuSet> = OnceLock::new();

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("--pin needs at least two cores to split; this process may use {0}")]
    TooFewCores(usize),
    #[error("--pin could not read or set thread affinity: {0}")]
    Affinity(#[from] rustix::io::Errno),
    #[error("--pin could not list the server's threads: {0}")]
    Threads(#[from] std::io::Error),
}

/// The cores a mask allows, lowest first.
fn cores_of(mask: &CpuSet) -> Vec<usize> {
    (0..CpuSet::MAX_CPU)
        .filter(|&cpu| mask.is_set(cpu))
        .collect()
}

/// The harness's core (the last allowed) and the servers' cores (the others).
fn divide(allowed: &[usize]) -> Result<(CpuSet, CpuSet), PinError> {
    let Some((&last, rest)) = allowed.split_last().filter(|(_, rest)| !rest.is_empty()) else {
        return Err(PinError::TooFewCores(allowed.len()));
    };
    let mut harness = CpuSet::new();
    harness.set(last);
    let mut servers = CpuSet::new();
    for &cpu in rest {
        servers.set(cpu);
    }
    Ok((harness, servers))
}

/// Pins the calling thread (the harness's only runtime thread; threads it starts later inherit
/// it) to the last core it may use, and keeps the others for the servers it starts.
pub fn split() -> Result<(), PinError> {
    let (harness, servers) = divide(&cores_of(&sched_getaffinity(None)?))?;
    sched_setaffinity(None, &harness)?;
    let _ = SERVER_CORES.set(servers);
    Ok(())
}

/// How many cores a server gets when `split` ran: it starts under the harness's own mask, so
/// its runtime is told how many threads to run instead of counting the cores it may use.
pub fn server_core_count() -> Option<usize> {
    SERVER_CORES.get().map(|cores| cores.count() as usize)
}

/// Moves every thread of the server `pid` onto the servers' cores when `split` ran (threads it
/// starts later inherit the mask of the thread that starts them).
pub fn server(pid: u32) -> Result<(), PinError> {
    let Some(cores) = SERVER_CORES.get() else {
        return Ok(());
    };
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))?;
    for task in tasks {
        let tid = task?.file_name().to_string_lossy().parse::<i32>().ok();
        // A thread that ended since the listing is no longer there to move.
        if let Some(tid) = tid.and_then(Pid::from_raw) {
            match sched_setaffinity(Some(tid), cores) {
                Ok(()) | Err(rustix::io::Errno::SRCH) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_harness_takes_the_last_core_and_the_servers_the_rest() {
        let (harness, servers) = divide(&[0, 1, 3]).unwrap();
        assert_eq!(cores_of(&harness), vec![3]);
        assert_eq!(cores_of(&servers), vec![0, 1]);
    }

    #[test]
    fn a_started_process_runs_on_the_servers_cores_and_this_thread_on_the_last() {
        let allowed = cores_of(&sched_getaffinity(None).unwrap());
        if allowed.len() < 2 {
            assert!(matches!(split(), Err(PinError::TooFewCores(_))));
            return;
        }
        split().unwrap();
        let own = cores_of(&sched_getaffinity(None).unwrap());
        assert_eq!(own, vec![*allowed.last().unwrap()]);
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        server(child.id()).unwrap();
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
        let actual = cores_of(&sched_getaffinity(Some(pid)).unwrap());
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(actual, allowed[..allowed.len() - 1].to_vec());
        assert_eq!(server_core_count(), Some(allowed.len() - 1));
    }

    #[test]
    fn one_core_cannot_be_split() {
        assert!(matches!(divide(&[2]), Err(PinError::TooFewCores(1))));
        assert!(matches!(divide(&[]), Err(PinError::TooFewCores(0))));
    }
}
