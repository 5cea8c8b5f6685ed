//! The scenarios: concurrent workers against a real server for a fixed time, latencies in an
//! HdrHistogram, every acknowledged write remembered and verified afterwards.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, Method};

use crate::client::{SetupError, Tenant, http_client, prepare_tenant};
pub use crate::driver::{Outcome, Pace, Run, drive, drive_paced};
use crate::lanes::{Call, Lanes};
use crate::mailbox::{Mail, SmtpSink};
use crate::report::ScenarioReport;
use crate::server::{Launch, Server, ServerError};
use crate::verify::{Moment, VerifyError, check_files};
pub(crate) use crate::writes::{verify_api, write_op};
use crate::{ceilings, cpu};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Signed-in members read meeting lists and meeting pages across tenants.
    Read,
    /// Durable writes (new members, member edits, agenda notes, RSVPs) spread over tenants.
    Write,
    /// 90 % reads, 10 % writes.
    Mixed,
    /// Every writer on one tenant: group commit under pressure.
    HotTenant,
    /// Writers across many tenants.
    Spread,
    /// Writers, a tenant panic and `kill -9` at random instants, restart, verify; again and
    /// again; then an overload at ten times a tenant's in-flight bound.
    Chaos,
    /// Many tenants touched round-robin with a short idle timeout: activation latency, memory.
    Activation,
    /// Full OTP sign-in flows, codes read from the file mailer.
    Login,
    /// Many concurrent keep-alive connections (`--concurrency` of them).
    Connections,
    /// Latency against throughput for reads and writes, p99 at half the maximum, and the plot.
    Curve,
    /// One tenant's journal grown to `--records` lines, `kill -9`, time until it answers again.
    Recovery,
    /// All of the above, small and quick.
    Smoke,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// An existing server; `None` starts a fresh one.
    pub server: Option<String>,
    /// How fresh servers are started, and how every server delivers sign-in codes.
    pub launch: Launch,
    pub duration: Duration,
    pub concurrency: usize,
    pub tenants: usize,
    pub chaos_cycles: usize,
    /// The per-tenant in-flight bound during the overload (the server's default is 256).
    pub inflight_bound: usize,
    /// Where `curve` draws its latency-versus-throughput plot (SVG).
    pub plot: Option<PathBuf>,
    /// The data directory of the `server` given, on this machine (its file mailer's folders,
    /// and where the disk ceiling is measured).
    pub data_dir: Option<PathBuf>,
    /// The operator token of the `server` given.
    pub token: String,
    /// Journal lines `recovery` replays.
    pub records: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("verification failed: {0}")]
    Verify(#[from] VerifyError),
    #[error("overload: {0}")]
    Overload(String),
    #[error("sign-in limits: {0}")]
    Limits(String),
    #[error("recovery: {0}")]
    Recovery(String),
    #[error("cannot draw the plot: {0}")]
    Plot(String),
}

pub(crate) fn report(
    name: &str,
    run: &Run,
    concurrency: usize,
    ceiling: f64,
    lost: u64,
    rss_mb: Option<f64>,
) -> ScenarioReport {
    let throughput = run.throughput();
    ScenarioReport {
        scenario: name.into(),
        duration_s: run.elapsed.as_secs_f64(),
        concurrency,
        throughput_per_s: throughput,
        ceiling_per_s: ceiling,
        ratio: if ceiling > 0.0 {
            throughput / ceiling
        } else {
            0.0
        },
        p50_ms: 0.0,
        p90_ms: 0.0,
        p99_ms: 0.0,
        p999_ms: 0.0,
        max_ms: 0.0,
        errors: run.errors.clone(),
        acknowledged: run.acknowledged.values().map(|s| s.len() as u64).sum(),
        lost,
        rss_mb,
        notes: Vec::new(),
    }
    .with_latencies(&run.histogram)
}

/// A member reads the meeting list or a meeting page (every other request).
pub(crate) async fn read_op(lanes: Lanes, tenant: Tenant, worker: usize, n: u64) -> Outcome {
    let path = if n.is_multiple_of(2) {
        "/api/meetings".to_owned()
    } else {
        format!("/api/meetings/{}", tenant.meeting)
    };
    let call = Call {
        method: Method::GET,
        path: &path,
        tenant: Some(&tenant.slug),
        key: Some(&tenant.key),
        json: None,
    };
    lanes
        .send(worker, call)
        .await
        .map_or_else(Outcome::io, |answer| Outcome::from_answer(&answer))
}

/// Creates `count` tenants ready for load, a few at a time (each signs in by mail); on a server
/// the harness did not start, under names of this run's own.
pub(crate) async fn prepare(
    client: &Client,
    server: &Server,
    count: usize,
) -> Result<Vec<Tenant>, RunError> {
    use futures_util::{StreamExt, TryStreamExt, stream};
    // A server the harness did not start may hold the tenants of an earlier run.
    let prefix = if server.is_spawned() {
        "load".to_owned()
    } else {
        format!("load-{:06x}-", rand::random::<u32>() >> 8)
    };
    let prefix = &prefix;
    let tenants = stream::iter(0..count)
        .map(|i| async move { prepare_tenant(client, server, &format!("{prefix}{i:05}")).await })
        .buffered(8)
        .try_collect()
        .await?;
    Ok(tenants)
}

/// Runs one scenario (or, for `smoke`, a small one of each) and returns its reports.
pub async fn run(scenario: Scenario, options: &Options) -> Result<Vec<ScenarioReport>, RunError> {
    match scenario {
        Scenario::Smoke => {
            let small = Options {
                duration: Duration::from_secs(2),
                concurrency: options.concurrency.min(8),
                tenants: 3,
                chaos_cycles: 2,
                inflight_bound: 8,
                ..options.clone()
            };
            let mut reports = Vec::new();
            for scenario in [
                Scenario::Read,
                Scenario::Mixed,
                Scenario::HotTenant,
                Scenario::Spread,
                Scenario::Chaos,
                Scenario::Login,
            ] {
                reports.extend(Box::pin(run(scenario, &small)).await?);
            }
            // Codes over a real SMTP conversation too, from a relay slow to accept each message.
            let sink = SmtpSink::start(([127, 0, 0, 1], 0).into(), Duration::from_millis(20))
                .await
                .map_err(|e| SetupError(format!("cannot start the SMTP sink: {e}")))?;
            let over_smtp = Options {
                launch: Launch {
                    mail: Mail::Smtp(sink),
                    ..small.launch.clone()
                },
                ..small.clone()
            };
            for mut report in crate::login::login(&over_smtp).await? {
                report.scenario = "login-smtp".into();
                reports.push(report);
            }
            let many = Options {
                tenants: 50,
                concurrency: 8,
                ..small.clone()
            };
            reports.extend(crate::extra::activation(&many).await?);
            let wide = Options {
                concurrency: 500,
                ..small.clone()
            };
            reports.extend(crate::extra::connections(&wide).await?);
            let replay = Options {
                records: 2_000,
                ..small.clone()
            };
            reports.extend(crate::recovery::recovery(&replay).await?);
            let quick = Options {
                duration: Duration::from_secs(1),
                concurrency: 4,
                tenants: 2,
                ..small
            };
            reports.extend(crate::curve::curve(&quick).await?);
            Ok(reports)
        }
        Scenario::Chaos => crate::chaos::chaos(options).await,
        Scenario::Activation => crate::extra::activation(options).await,
        Scenario::Login => crate::login::login(options).await,
        Scenario::Connections => crate::extra::connections(options).await,
        Scenario::Curve => crate::curve::curve(options).await,
        Scenario::Recovery => crate::recovery::recovery(options).await,
        _ => steady(scenario, options).await,
    }
}

pub(crate) async fn start(options: &Options) -> Result<Server, RunError> {
    Ok(match &options.server {
        Some(url) => Server::external(
            url,
            options.data_dir.clone(),
            &options.token,
            options.launch.mail.clone(),
        ),
        None => Server::spawn(&options.launch, 900).await?,
    })
}

async fn steady(scenario: Scenario, options: &Options) -> Result<Vec<ScenarioReport>, RunError> {
    let server = start(options).await?;
    let client = http_client(options.concurrency * 2);
    let tenant_count = match scenario {
        Scenario::HotTenant => 1,
        _ => options.tenants.max(1),
    };
    let tenants = Arc::new(prepare(&client, &server, tenant_count).await?);
    let base = server.base.clone();
    let (name, writes_share) = match scenario {
        Scenario::Read => ("read", 0),
        Scenario::Write => ("write", 100),
        Scenario::Mixed => ("mixed", 10),
        Scenario::HotTenant => ("hot-tenant", 100),
        _ => ("spread", 100),
    };
    let (lanes, t) = (Lanes::new(&base, options.concurrency), Arc::clone(&tenants));
    // The disk's own rate moves from one moment to the next (and just after a run the kernel
    // may still be writing its pages back), so it is measured before and after the run, and
    // the higher of the two is the ceiling. Two seconds each, one in a run shorter than four.
    let window = (options.duration / 2).clamp(Duration::from_secs(1), Duration::from_secs(2));
    let disk_ceiling = || {
        server
            .data_dir
            .as_ref()
            .filter(|_| writes_share > 0)
            .map_or(0.0, |d| ceilings::disk(d, window))
    };
    let disk_before = disk_ceiling();
    lanes.connect_all().await;
    let cpu_before = server.cpu_time();
    let own_before = cpu::process_time(None);
    let run = drive(
        name,
        options.concurrency,
        options.duration,
        move |worker, n| {
            let tenant = t[(worker + n as usize * 7) % t.len()].clone();
            let lanes = lanes.clone();
            let write = (n % 100) < writes_share;
            async move {
                if write {
                    write_op(lanes, tenant, worker, n).await
                } else {
                    read_op(lanes, tenant, worker, n).await
                }
            }
        },
    )
    .await;
    let rss = server.rss_mb();
    let cpu = server
        .cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let own = cpu::process_time(None)
        .zip(own_before)
        .map(|(after, before)| after - before);
    verify_api(&client, &base, &tenants, &run.acknowledged).await?;
    if let Some(dir) = server.data_dir.as_ref().filter(|_| server.is_spawned()) {
        check_files(dir, Moment::Settled)?;
    }
    let ceiling = if writes_share == 0 {
        ceilings::http(
            &base,
            options.concurrency,
            options.duration.min(Duration::from_secs(5)),
        )
        .await
    } else {
        disk_ceiling().max(disk_before)
    };
    let mut report = report(name, &run, options.concurrency, ceiling, 0, rss);
    if let Some((cpu, own)) = cpu.zip(own) {
        let answered = run.ok + run.errors.values().sum::<u64>();
        report.notes.push(cpu::note(
            cpu,
            own,
            run.elapsed,
            answered,
            cpu::Cores::of_this_run(),
        ));
    }
    if writes_share > 0 {
        report
            .notes
            .push(kept_note(&client, &server, &tenants).await);
    }
    Ok(vec![report])
}

/// What the tenants keep of their members snapshots for the next one to copy from, by the
/// operator API: memory beside the state that a resident size alone does not tell apart.
async fn kept_note(client: &Client, server: &Server, tenants: &[Tenant]) -> String {
    let (mut bytes, mut keeping) = (0, 0);
    for tenant in tenants {
        let view = server.tenant_view(client, &tenant.slug).await;
        let kept = view
            .and_then(|v| v["snapshot_kept_bytes"].as_u64())
            .unwrap_or(0);
        bytes += kept;
        keeping += usize::from(kept > 0);
    }
    format!(
        "members snapshots kept for the next: {:.1} MB in {keeping} tenant(s) of {}",
        bytes as f64 / 1e6,
        tenants.len()
    )
}
