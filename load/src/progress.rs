//! The progress bar drawn on the terminal while a scenario runs: time left, answers so far, the
//! current rate and the failures. Hidden when standard error is not a terminal (tests, CI, pipes).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;

use crate::driver::Counter;

/// A bar that follows the shared counters of a run until `finish`.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    done: Counter,
    failed: Counter,
    ticker: JoinHandle<()>,
}

impl Progress {
    pub fn start(label: &str, duration: Duration) -> Self {
        let bar = ProgressBar::new(duration.as_millis().max(1) as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>14} [{bar:30}] {elapsed:>4}/{duration:4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_owned());
        let done: Counter = Arc::new(AtomicU64::new(0));
        let failed: Counter = Arc::new(AtomicU64::new(0));
        let ticker = tokio::spawn({
            let (bar, done, failed) = (bar.clone(), Arc::clone(&done), Arc::clone(&failed));
            async move {
                let started = Instant::now();
                let mut last = (started, 0u64);
                loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    let now = Instant::now();
                    let ok = done.load(Ordering::Relaxed);
                    let rate = (ok - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
                    last = (now, ok);
                    bar.set_position(started.elapsed().as_millis() as u64);
                    bar.set_message(format!(
                        "{ok} ok  {rate:.0}/s  {} failed",
                        failed.load(Ordering::Relaxed)
                    ));
                }
            }
        });
        Self {
            bar,
            done,
            failed,
            ticker,
        }
    }

    /// The counters the workers add to: (successes, failures).
    pub fn counters(&self) -> (Counter, Counter) {
        (Arc::clone(&self.done), Arc::clone(&self.failed))
    }

    pub fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}
