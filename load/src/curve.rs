//! Latency against throughput: authenticated reads and durable writes at doubling concurrency up
//! to the maximum throughput, then an open-loop run at half that maximum (the p99 the targets
//! speak of), drawn as a plot.

use std::sync::Arc;

use crate::client::http_client;
use crate::driver::{Pace, Run, drive_paced};
use crate::lanes::Lanes;
use crate::plot::{Curve, Point};
use crate::report::ScenarioReport;
use crate::scenarios::{Options, RunError, prepare, read_op, report, start, verify_api, write_op};
use crate::verify::{Moment, check_files};

/// Workers that share the open-loop run at half the maximum.
const PACED_WORKERS: usize = 32;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Reads,
    Writes,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Reads => "reads",
            Kind::Writes => "writes",
        }
    }
}

/// Runs both curves on one fresh server and draws them to `options.plot` (when given).
pub async fn curve(options: &Options) -> Result<Vec<ScenarioReport>, RunError> {
    let server = start(options).await?;
    let client = http_client(options.concurrency.max(PACED_WORKERS) * 2);
    let tenants = Arc::new(prepare(&client, &server, options.tenants.max(1)).await?);
    let mut levels = vec![1usize];
    while levels.last().is_some_and(|l| *l < options.concurrency * 2) {
        levels.push(levels.last().map_or(1, |l| l * 2));
    }
    let mut reports = Vec::new();
    let mut curves = Vec::new();
    let mut acknowledged = Run::empty();
    for kind in [Kind::Reads, Kind::Writes] {
        let mut curve = Curve {
            name: kind.name().into(),
            points: Vec::new(),
            half: None,
        };
        let run_at = |label: String, concurrency: usize, pace: Pace| {
            let (lanes, t) = (Lanes::new(&server.base, concurrency), Arc::clone(&tenants));
            let duration = options.duration;
            async move {
                lanes.connect_all().await;
                drive_paced(&label, concurrency, duration, pace, move |worker, n| {
                    let tenant = t[tenant_of(worker, n, t.len())].clone();
                    let lanes = lanes.clone();
                    async move {
                        match kind {
                            Kind::Reads => read_op(lanes, tenant, worker, n).await,
                            Kind::Writes => write_op(lanes, tenant, worker, n).await,
                        }
                    }
                })
                .await
            }
        };
        for &level in &levels {
            let label = format!("{} c{level}", kind.name());
            let run = run_at(label.clone(), level, Pace::Closed).await;
            curve.points.push(point(&run));
            reports.push(report(&label, &run, level, 0.0, 0, server.rss_mb()));
            acknowledged.absorb(run);
        }
        let max = curve
            .points
            .iter()
            .map(|p| p.throughput)
            .fold(0.0, f64::max);
        let label = format!("{} @half-max", kind.name());
        let run = run_at(label.clone(), PACED_WORKERS, Pace::Rate(max / 2.0)).await;
        curve.half = Some(point(&run));
        let mut half = report(&label, &run, PACED_WORKERS, max, 0, server.rss_mb());
        half.notes.push(format!(
            "open loop at {:.0}/s, half the maximum of {max:.0}/s; a request held back by the one before is measured from when it was due",
            max / 2.0
        ));
        half.notes.extend(tail_note(&run, tenants.len()));
        reports.push(half);
        acknowledged.absorb(run);
        curves.push(curve);
        if let Kind::Reads = kind {
            reports.push(static_floor(options, &server.base, max / 2.0, server.rss_mb()).await);
        }
    }
    verify_api(&client, &server.base, &tenants, &acknowledged.acknowledged).await?;
    if let Some(dir) = server.data_dir.as_ref().filter(|_| server.is_spawned()) {
        check_files(dir, Moment::Settled)?;
    }
    if let Some(path) = &options.plot {
        crate::plot::draw(path, &curves).map_err(RunError::Plot)?;
    }
    Ok(reports)
}

/// The reads' open-loop rate on the static document: the tail this machine and harness put
/// under any answer, with no authentication and no actor in the way.
async fn static_floor(
    options: &Options,
    base: &str,
    rate: f64,
    rss_mb: Option<f64>,
) -> ScenarioReport {
    let lanes = Lanes::new(base, PACED_WORKERS);
    let label = "static @half-max";
    lanes.connect_all().await;
    let run = drive_paced(
        label,
        PACED_WORKERS,
        options.duration,
        Pace::Rate(rate),
        move |worker, _| crate::ceilings::static_op(lanes.clone(), worker),
    )
    .await;
    let mut floor = report(label, &run, PACED_WORKERS, rate * 2.0, 0, rss_mb);
    floor.notes.push(format!(
        "open loop at {rate:.0}/s on the static cached document (no authentication, no actor): the floor under the reads' tail on this machine"
    ));
    floor.notes.extend(tail_note(&run, 1));
    floor
}

/// Where the run's slowest hundredth fell in time, and how many tenants each burst touched (the
/// workers' tenants as `run_at` picks them; the static document is one).
fn tail_note(run: &Run, tenants: usize) -> Option<String> {
    let tenants = tenants.max(1);
    // The p99 as the histogram reports it is the top of its bucket; every request in that bucket
    // belongs to the slowest hundredth.
    let p99 = run.histogram.value_at_quantile(0.99);
    crate::tail::note(
        &run.samples,
        run.histogram.lowest_equivalent(p99),
        tenants,
        |s| tenant_of(usize::from(s.worker), u64::from(s.n), tenants),
    )
}

/// The tenant the curve's worker sends its `n`th request to.
fn tenant_of(worker: usize, n: u64, tenants: usize) -> usize {
    (worker + n as usize * 7) % tenants
}

fn point(run: &Run) -> Point {
    let ms = |q: f64| run.histogram.value_at_quantile(q) as f64 / 1000.0;
    Point {
        throughput: run.throughput(),
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
    }
}
