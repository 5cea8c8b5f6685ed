//! The driver: concurrent workers run one operation again and again for a fixed time, either as
//! fast as answers come (closed loop) or at a fixed rate (open loop: a request held back by a slow
//! answer to the one before is measured from the moment it was due, so a slow server cannot hide
//! its queue).

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::progress::Progress;
use crate::tail::Sample;

/// How long a closed-loop worker waits after a transport error before it tries again.
const UNREACHABLE_BACKOFF: Duration = Duration::from_millis(20);

/// What one request came to.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Option<u16>,
    /// A write the server acknowledged: (tenant, record id).
    pub acknowledged: Option<(String, String)>,
    /// The answer carried `Retry-After` (expected on every 429 and 503).
    pub retry_after: bool,
}

impl Outcome {
    pub fn status(status: u16) -> Self {
        Self {
            status: Some(status),
            acknowledged: None,
            retry_after: false,
        }
    }

    pub fn io() -> Self {
        Self {
            status: None,
            acknowledged: None,
            retry_after: false,
        }
    }

    /// An answer, noting whether it said when to retry.
    pub fn from_answer(answer: &crate::lanes::Answer) -> Self {
        Self {
            retry_after: answer.retry_after,
            ..Self::status(answer.status)
        }
    }

    pub fn is_success(&self) -> bool {
        self.status
            .is_some_and(|s| (200..300).contains(&s) || s == 304)
    }
}

/// Everything the workers saw.
#[derive(Debug)]
pub struct Run {
    pub histogram: Histogram<u64>,
    pub elapsed: Duration,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub acknowledged: BTreeMap<String, HashSet<String>>,
    /// Writes acknowledged while a worker runs, in the order they came: kept as a list there so
    /// that the harness spends as little of the cores it shares with the server on bookkeeping,
    /// and gathered into `acknowledged` when the worker's run is absorbed.
    pub(crate) fresh: Vec<(String, String)>,
    /// Refusals (429, 503) that did not say when to retry.
    pub refusals_without_retry_after: u64,
    /// Every request of an open-loop run, when it was due and how long it took (none in a closed
    /// loop): where the slowest fell in time (`crate::tail`).
    pub samples: Vec<Sample>,
}

impl Run {
    pub fn empty() -> Self {
        Self {
            histogram: new_histogram(),
            elapsed: Duration::ZERO,
            ok: 0,
            errors: BTreeMap::new(),
            acknowledged: BTreeMap::new(),
            fresh: Vec::new(),
            refusals_without_retry_after: 0,
            samples: Vec::new(),
        }
    }

    /// An empty run with room for `samples` open-loop samples, so that keeping them allocates
    /// nothing while it runs.
    pub fn with_room(samples: usize) -> Self {
        Self {
            samples: Vec::with_capacity(samples),
            ..Self::empty()
        }
    }

    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Adds another run's counts, latencies and acknowledged writes to this one.
    pub fn absorb(&mut self, other: Run) {
        let _ = self.histogram.add(&other.histogram);
        self.ok += other.ok;
        self.elapsed += other.elapsed;
        self.refusals_without_retry_after += other.refusals_without_retry_after;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (slug, ids) in other.acknowledged {
            self.acknowledged.entry(slug).or_default().extend(ids);
        }
        for (slug, id) in other.fresh {
            self.acknowledged.entry(slug).or_default().insert(id);
        }
        self.samples.extend(other.samples);
    }

    pub fn record(&mut self, micros: u64, outcome: Outcome) {
        let _ = self.histogram.record(micros.max(1));
        if outcome.is_success() {
            self.ok += 1;
        } else {
            let key = outcome
                .status
                .map_or_else(|| "io".into(), |s| s.to_string());
            *self.errors.entry(key).or_default() += 1;
            if matches!(outcome.status, Some(429 | 503)) && !outcome.retry_after {
                self.refusals_without_retry_after += 1;
            }
        }
        self.fresh.extend(outcome.acknowledged);
    }
}

/// A histogram of microseconds, from 1 µs to a minute, to three significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

/// How the workers pace themselves.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// Each worker sends its next request as soon as the last one is answered.
    Closed,
    /// All workers together send this many requests a second, each measured from when it was due.
    Rate(f64),
}

/// Runs `op` from `concurrency` workers, as fast as they are answered, until `duration` passed.
pub async fn drive<F, Fut>(label: &str, concurrency: usize, duration: Duration, op: F) -> Run
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    drive_paced(label, concurrency, duration, Pace::Closed, op).await
}

/// Runs `op` from `concurrency` workers at `pace` until `duration` has passed.
pub async fn drive_paced<F, Fut>(
    label: &str,
    concurrency: usize,
    duration: Duration,
    pace: Pace,
    op: F,
) -> Run
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let op = Arc::new(op);
    let period = match pace {
        Pace::Closed => None,
        Pace::Rate(rate) => Some(Duration::from_secs_f64(concurrency as f64 / rate.max(1e-3))),
    };
    // Each worker's histogram and room for its samples are made before the clock starts: made
    // as the workers start, they kept the one harness thread from reading answers for tens of
    // milliseconds when the run had more workers than the one before (BENCHMARKS.md).
    let due_per_worker = period.map_or(0, |period| {
        (duration.as_secs_f64() / period.as_secs_f64().max(1e-9)).ceil() as usize + 1
    });
    let runs: Vec<Run> = (0..concurrency)
        .map(|_| Run::with_room(due_per_worker))
        .collect();
    let progress = Progress::start(label, duration);
    let start = Instant::now();
    let deadline = start + duration;
    let mut workers = Vec::new();
    for (worker, mut run) in runs.into_iter().enumerate() {
        let op = Arc::clone(&op);
        let (done, failed) = progress.counters();
        workers.push(tokio::spawn(async move {
            // Workers start spread over one period so the rate is even: each keeps the moment
            // its next request is due.
            let mut schedule = period.map(|period| {
                let first = start + period.mul_f64(worker as f64 / concurrency as f64);
                (first, period)
            });
            let mut n = 0u64;
            let mut finished = start;
            loop {
                // When the request goes out, how long it was held back before that, and when it
                // was due (open loop only).
                let (sent, held, due) = match &mut schedule {
                    Some((due, period)) => {
                        let this = *due;
                        *due += *period;
                        if this >= deadline {
                            break;
                        }
                        // One still due later waits for its moment; one already due (the answer
                        // before it came late) goes at once, with no timer in between.
                        if this > Instant::now() {
                            tokio::time::sleep_until(this.into()).await;
                        }
                        // A request held back by a slow answer to the one before counts the wait
                        // from when it was due until that answer (the server's queue shows); the
                        // harness's own delay in sending it, a timer that wakes up to a
                        // millisecond late, is not the server's and does not count.
                        (
                            Instant::now(),
                            finished.saturating_duration_since(this),
                            Some(this),
                        )
                    }
                    None => {
                        let now = Instant::now();
                        if now >= deadline {
                            break;
                        }
                        (now, Duration::ZERO, None)
                    }
                };
                let outcome = op(worker, n).await;
                n += 1;
                finished = Instant::now();
                let micros = (finished.duration_since(sent) + held)
                    .as_micros()
                    .min(u128::from(u64::MAX)) as u64;
                if let Some(due) = due {
                    run.samples.push(Sample {
                        due_us: micros_u32(due.duration_since(start)),
                        micros: u32::try_from(micros).unwrap_or(u32::MAX),
                        worker: u16::try_from(worker).unwrap_or(u16::MAX),
                        n: u32::try_from(n - 1).unwrap_or(u32::MAX),
                    });
                }
                let counter = if outcome.is_success() { &done } else { &failed };
                counter.fetch_add(1, Ordering::Relaxed);
                let unreachable = outcome.status.is_none();
                run.record(micros, outcome);
                if unreachable && schedule.is_none() {
                    // The server is gone (killed, restarting): wait a little, as a client would,
                    // instead of counting thousands of refused connections.
                    tokio::time::sleep(UNREACHABLE_BACKOFF).await;
                }
            }
            run
        }));
    }
    let mut total = Run::empty();
    for worker in workers {
        if let Ok(run) = worker.await {
            total.absorb(run);
        }
    }
    total.elapsed = start.elapsed();
    progress.finish();
    total
}

fn micros_u32(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// A shared count of finished operations, for the progress bar.
pub type Counter = Arc<AtomicU64>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_held_back_by_a_slow_answer_counts_the_wait_from_when_it_was_due() {
        // One worker due every 5 ms; its first answer takes 50 ms, every later one none, so the
        // nine requests due meanwhile go out late, one after the other, as soon as it is back.
        let calls = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&calls);
        let run = drive_paced(
            "held back",
            1,
            Duration::from_millis(100),
            Pace::Rate(200.0),
            move |_, _| {
                let first = counted.fetch_add(1, Ordering::Relaxed) == 0;
                async move {
                    if first {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Outcome::status(200)
                }
            },
        )
        .await;
        assert!(run.histogram.max() >= 50_000, "{}", run.histogram.max());
        // Due at 5, 10 and 15 ms, sent after 50: each held back for 35 ms or more.
        let held = run.histogram.count_between(35_000, u64::MAX);
        assert!(held >= 4, "only {held} requests held back 35 ms or more");
        assert_eq!(run.ok, calls.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn an_open_loop_keeps_a_sample_of_each_request_due_and_room_is_made_ahead() {
        // 8 workers at 400 a second for 0.2 s: 10 due each.
        let run = drive_paced(
            "room",
            8,
            Duration::from_millis(200),
            Pace::Rate(400.0),
            |_, _| async { Outcome::status(200) },
        )
        .await;
        assert!(
            (70..=88).contains(&run.samples.len()),
            "{}",
            run.samples.len()
        );
        let run = Run::with_room(11);
        assert!(run.samples.capacity() >= 11);
        assert!(run.samples.is_empty());
    }

    #[test]
    fn writes_a_worker_saw_acknowledged_are_gathered_by_tenant() {
        let mut worker = Run::empty();
        for (slug, id) in [("a", "m_1"), ("b", "m_2"), ("a", "m_3"), ("a", "m_1")] {
            worker.record(
                10,
                Outcome {
                    acknowledged: Some((slug.to_owned(), id.to_owned())),
                    ..Outcome::status(200)
                },
            );
        }
        worker.record(10, Outcome::status(503));
        let mut total = Run::empty();
        total.absorb(worker);
        let ids = |slug: &str| {
            let mut ids: Vec<_> = total.acknowledged[slug].iter().cloned().collect();
            ids.sort();
            ids
        };
        assert_eq!(ids("a"), ["m_1", "m_3"]);
        assert_eq!(ids("b"), ["m_2"]);
        assert_eq!((total.ok, total.errors["503"]), (4, 1));
    }
}
