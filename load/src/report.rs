//! What a scenario measured, as a table row and as a JSON object.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub scenario: String,
    pub duration_s: f64,
    pub concurrency: usize,
    pub throughput_per_s: f64,
    pub ceiling_per_s: f64,
    pub ratio: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// Responses that were not a success, by status (`io` for transport errors).
    pub errors: BTreeMap<String, u64>,
    pub acknowledged: u64,
    pub lost: u64,
    pub rss_mb: Option<f64>,
    /// What the figures alone do not say (faults injected, memory before and after…).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl ScenarioReport {
    /// Fills the latency columns from a histogram of microseconds.
    pub fn with_latencies(mut self, histogram: &Histogram<u64>) -> Self {
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        self.p50_ms = ms(0.5);
        self.p90_ms = ms(0.9);
        self.p99_ms = ms(0.99);
        self.p999_ms = ms(0.999);
        self.max_ms = histogram.max() as f64 / 1000.0;
        self
    }
}

/// The summary table printed at the end of a run.
pub fn table(reports: &[ScenarioReport]) -> String {
    let mut out = format!(
        "{:<12} {:>6} {:>10} {:>10} {:>6} {:>8} {:>8} {:>8} {:>8} {:>7} {:>6} {:>8}\n",
        "scenario",
        "conc",
        "ops/s",
        "ceiling/s",
        "ratio",
        "p50 ms",
        "p99 ms",
        "p99.9",
        "max ms",
        "errors",
        "lost",
        "rss MB"
    );
    for r in reports {
        let errors: u64 = r.errors.values().sum();
        out += &format!(
            "{:<12} {:>6} {:>10.0} {:>10.0} {:>6.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>6} {:>8}\n",
            r.scenario,
            r.concurrency,
            r.throughput_per_s,
            r.ceiling_per_s,
            r.ratio,
            r.p50_ms,
            r.p99_ms,
            r.p999_ms,
            r.max_ms,
            errors,
            r.lost,
            r.rss_mb.map_or("-".into(), |m| format!("{m:.0}")),
        );
    }
    for r in reports {
        for note in &r.notes {
            out += &format!("{}: {note}\n", r.scenario);
        }
    }
    out
}
