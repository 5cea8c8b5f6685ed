//! Where an open loop's slowest requests fell in time: gathered into bursts, each with the
//! tenants it touched, so a report tells one stall of every tenant at once (the machine, or the
//! whole server) from one tenant's slow moment, and a p99 made by one event from a steady tail.

/// One request of an open-loop run: when it was due (from the run's start), how long it took
/// from then, and which worker sent it as its how-manyth request (to tell its tenant after).
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub due_us: u32,
    pub micros: u32,
    pub worker: u16,
    pub n: u32,
}

/// Slow requests close together in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burst {
    /// When the first of them was due.
    pub from_us: u32,
    /// When the last of them was answered.
    pub to_us: u32,
    pub requests: usize,
    pub worst_us: u32,
    /// How many of the groups (tenants) its requests went to.
    pub groups: usize,
}

/// The requests that took `at_least_us` or more, in bursts: a request due within `gap_us` of the
/// last answer of the burst before joins it. Largest bursts first.
pub fn bursts(
    samples: &[Sample],
    at_least_us: u32,
    gap_us: u32,
    group: impl Fn(&Sample) -> usize,
) -> Vec<Burst> {
    let mut slow: Vec<&Sample> = samples.iter().filter(|s| s.micros >= at_least_us).collect();
    slow.sort_by_key(|s| s.due_us);
    let mut found: Vec<(Burst, Vec<usize>)> = Vec::new();
    for sample in slow {
        let end = sample.due_us.saturating_add(sample.micros);
        let joins = found
            .last()
            .is_some_and(|(b, _)| sample.due_us <= b.to_us.saturating_add(gap_us));
        if !joins {
            found.push((
                Burst {
                    from_us: sample.due_us,
                    to_us: end,
                    requests: 0,
                    worst_us: 0,
                    groups: 0,
                },
                Vec::new(),
            ));
        }
        if let Some((burst, groups)) = found.last_mut() {
            burst.to_us = burst.to_us.max(end);
            burst.requests += 1;
            burst.worst_us = burst.worst_us.max(sample.micros);
            groups.push(group(sample));
        }
    }
    let mut bursts: Vec<Burst> = found
        .into_iter()
        .map(|(mut burst, mut groups)| {
            groups.sort_unstable();
            groups.dedup();
            burst.groups = groups.len();
            burst
        })
        .collect();
    bursts.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.from_us.cmp(&b.from_us)));
    bursts
}

/// A report note on the slowest hundredth of a run: how many bursts it came in, and the largest.
pub fn note(
    samples: &[Sample],
    p99_us: u64,
    group_count: usize,
    group: impl Fn(&Sample) -> usize,
) -> Option<String> {
    /// Slow requests this close together belong to one event.
    const GAP_US: u32 = 20_000;
    const SHOWN: usize = 3;
    let at_least = u32::try_from(p99_us).unwrap_or(u32::MAX).max(1);
    let bursts = bursts(samples, at_least, GAP_US, group);
    let requests: usize = bursts.iter().map(|b| b.requests).sum();
    if requests == 0 {
        return None;
    }
    let shown: Vec<String> = bursts
        .iter()
        .take(SHOWN)
        .map(|b| {
            format!(
                "{:.3}–{:.3} s: {} requests to {} of {group_count} tenants, worst {:.1} ms",
                f64::from(b.from_us) / 1e6,
                f64::from(b.to_us) / 1e6,
                b.requests,
                b.groups,
                f64::from(b.worst_us) / 1000.0,
            )
        })
        .collect();
    Some(format!(
        "the slowest 1 % (≥ {:.2} ms): {requests} requests in {} burst{} ({}{})",
        f64::from(at_least) / 1000.0,
        bursts.len(),
        if bursts.len() == 1 { "" } else { "s" },
        shown.join("; "),
        if bursts.len() > SHOWN { "; …" } else { "" },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(due_ms: u32, ms: u32, worker: u16) -> Sample {
        Sample {
            due_us: due_ms * 1000,
            micros: ms * 1000,
            worker,
            n: 0,
        }
    }

    #[test]
    fn slow_requests_close_in_time_make_one_burst_and_a_distant_one_another() {
        let samples = [
            sample(100, 1, 0),
            sample(1000, 30, 0),
            sample(1005, 25, 1),
            sample(1040, 12, 2),
            sample(1050, 2, 3),
            sample(2500, 11, 1),
        ];
        let found = bursts(&samples, 10_000, 20_000, |s| usize::from(s.worker));
        assert_eq!(
            found,
            vec![
                Burst {
                    from_us: 1_000_000,
                    to_us: 1_052_000,
                    requests: 3,
                    worst_us: 30_000,
                    groups: 3,
                },
                Burst {
                    from_us: 2_500_000,
                    to_us: 2_511_000,
                    requests: 1,
                    worst_us: 11_000,
                    groups: 1,
                },
            ]
        );
    }

    #[test]
    fn the_note_names_the_bursts_and_says_nothing_when_none_is_slow() {
        let samples = [sample(1000, 30, 0), sample(1010, 25, 0), sample(3000, 1, 1)];
        let note = note(&samples, 20_000, 10, |s| usize::from(s.worker)).unwrap_or_default();
        assert_eq!(
            note,
            "the slowest 1 % (≥ 20.00 ms): 2 requests in 1 burst (1.000–1.035 s: 2 requests to 1 of 10 tenants, worst 30.0 ms)"
        );
        assert_eq!(note_of(&samples, 40_000), None);
    }

    fn note_of(samples: &[Sample], p99_us: u64) -> Option<String> {
        note(samples, p99_us, 10, |s| usize::from(s.worker))
    }
}
