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

/// The summary table printed at the end of a run: one row a scenario, then what the figures
/// alone do not say — the errors by status, and each scenario's notes.
pub fn table(reports: &[ScenarioReport]) -> String {
    let mut out = format!(
        "{:<16} {:>6} {:>10} {:>10} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>6} {:>7}\n",
        "scenario",
        "conc",
        "ops/s",
        "ceiling/s",
        "ratio",
        "p50 ms",
        "p90 ms",
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
            "{:<16} {:>6} {:>10.0} {:>10.0} {:>6.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>6} {:>7}\n",
            r.scenario,
            r.concurrency,
            r.throughput_per_s,
            r.ceiling_per_s,
            r.ratio,
            r.p50_ms,
            r.p90_ms,
            r.p99_ms,
            r.p999_ms,
            r.max_ms,
            errors,
            r.lost,
            r.rss_mb.map_or("-".into(), |m| format!("{m:.0}")),
        );
    }
    for r in reports {
        if !r.errors.is_empty() {
            let by_status: Vec<String> = r
                .errors
                .iter()
                .map(|(status, count)| format!("{status} × {count}"))
                .collect();
            out += &format!(
                "{}: errors by status: {}\n",
                r.scenario,
                by_status.join(", ")
            );
        }
        for note in &r.notes {
            out += &format!("{}: {note}\n", r.scenario);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_gives_every_percentile_and_the_errors_by_status() {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for micros in 1..=1000 {
            histogram.record(micros * 10).unwrap();
        }
        let report = ScenarioReport {
            scenario: "reads @half-max".into(),
            duration_s: 1.0,
            concurrency: 8,
            throughput_per_s: 1000.0,
            ceiling_per_s: 2000.0,
            ratio: 0.5,
            p50_ms: 0.0,
            p90_ms: 0.0,
            p99_ms: 0.0,
            p999_ms: 0.0,
            max_ms: 0.0,
            errors: BTreeMap::from([("503".into(), 7), ("io".into(), 2)]),
            acknowledged: 0,
            lost: 0,
            rss_mb: Some(20.0),
            notes: vec!["a note".into()],
        }
        .with_latencies(&histogram);
        let table = table(&[report]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].contains("p50 ms   p90 ms   p99 ms"),
            "{}",
            lines[0]
        );
        let row: Vec<&str> = lines[1]
            .strip_prefix("reads @half-max")
            .expect("the whole name first")
            .split_whitespace()
            .collect();
        // conc, ops/s, ceiling/s, ratio, p50, p90, p99, p99.9, max, errors, lost, rss
        assert_eq!(row[4..7], ["5.00", "9.01", "9.90"]);
        assert_eq!(row[9], "9");
        assert_eq!(
            lines[2],
            "reads @half-max: errors by status: 503 × 7, io × 2"
        );
        assert_eq!(lines[3], "reads @half-max: a note");
    }
}
