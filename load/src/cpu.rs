//! CPU time of the server and of the harness over a run, and the throughput the machine's cores
//! would allow at that cost a request: the bound a scenario meets when the cores, not the server's
//! design, are what limits it.

use std::time::Duration;

/// User and system CPU time of process `pid` (`None`: this process) so far (Linux).
pub fn process_time(pid: Option<u32>) -> Option<Duration> {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    parse_stat(&std::fs::read_to_string(path).ok()?)
}

/// `utime + stime` of a `/proc/<pid>/stat` line.
fn parse_stat(stat: &str) -> Option<Duration> {
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel reports in USER_HZ, which is 100 on Linux.
    Some(Duration::from_millis(ticks * 10))
}

/// Where the server and the harness run: the cores they share, or (`--pin`) the server's cores
/// and one core of the harness's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cores {
    Shared(usize),
    Split { server: usize },
}

impl Cores {
    /// The placement of this run: split when `pin::split` ran, else every core this process may
    /// use.
    pub fn of_this_run() -> Self {
        match crate::pin::server_core_count() {
            Some(server) => Cores::Split { server },
            None => Cores::Shared(std::thread::available_parallelism().map_or(1, usize::from)),
        }
    }

    /// Requests a second the cores could serve if they were always busy, at `server` and
    /// `harness` CPU seconds a request.
    pub fn bound(self, server: f64, harness: f64) -> f64 {
        let per_second = |cores: usize, cost: f64| cores as f64 / cost.max(1e-12);
        match self {
            Cores::Shared(cores) => per_second(cores, server + harness),
            Cores::Split { server: cores } => per_second(cores, server).min(per_second(1, harness)),
        }
    }

    fn describe(self) -> String {
        match self {
            Cores::Shared(cores) => format!("the {cores} cores they share"),
            Cores::Split { server } => {
                format!("the server's {server} core(s) and the harness's one")
            }
        }
    }
}

/// The note a run's report carries: what a request cost the server and the harness, and what the
/// cores would allow at that cost.
pub fn note(
    server: Duration,
    harness: Duration,
    elapsed: Duration,
    answered: u64,
    cores: Cores,
) -> String {
    let n = answered.max(1) as f64;
    let (s, h) = (server.as_secs_f64() / n, harness.as_secs_f64() / n);
    format!(
        "server CPU {:.1} s over {:.1} s ({:.0} µs a request), harness {:.1} s ({:.0} µs); \
         with {} always busy at that cost: at most {:.0} a second",
        server.as_secs_f64(),
        elapsed.as_secs_f64(),
        s * 1e6,
        harness.as_secs_f64(),
        h * 1e6,
        cores.describe(),
        cores.bound(s, h),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_ticks_after_a_command_with_spaces() {
        let stat = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(parse_stat(stat), Some(Duration::from_millis(3_000)));
        assert_eq!(parse_stat("42 (x) S 1 2"), None);
    }

    #[test]
    fn reads_this_process_and_no_process_that_is_not_there() {
        assert!(process_time(None).is_some());
        assert!(process_time(Some(std::process::id())).is_some());
        assert_eq!(process_time(Some(u32::MAX)), None);
    }

    #[test]
    fn shared_cores_divide_by_the_whole_cost_and_split_ones_by_the_slower_side() {
        // 60 µs of server and 20 µs of harness a request on 2 shared cores: 25,000 a second.
        let shared = Cores::Shared(2).bound(60e-6, 20e-6);
        assert!((shared - 25_000.0).abs() < 1.0, "{shared}");
        // Split, one core each: the server's 60 µs is the bound.
        let split = Cores::Split { server: 1 }.bound(60e-6, 20e-6);
        assert!((split - 16_666.7).abs() < 1.0, "{split}");
        let split = Cores::Split { server: 1 }.bound(10e-6, 20e-6);
        assert!((split - 50_000.0).abs() < 1.0, "{split}");
    }

    #[test]
    fn the_note_names_both_costs_and_the_bound() {
        let note = note(
            Duration::from_secs(6),
            Duration::from_secs(2),
            Duration::from_secs(10),
            100_000,
            Cores::Shared(2),
        );
        assert!(note.contains("(60 µs a request)"), "{note}");
        assert!(note.contains("harness 2.0 s (20 µs)"), "{note}");
        assert!(note.ends_with("at most 25000 a second"), "{note}");
    }
}
