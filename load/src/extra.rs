//! Scenarios that measure the runtime's edges rather than steady traffic: activation of many
//! tenants with a short idle timeout, and many concurrent connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, Method};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::{http_client, json_of, tenant_request};
use crate::driver::{Pace, drive_paced};
use crate::report::ScenarioReport;
use crate::scenarios::{Options, Outcome, RunError, report};
use crate::server::Server;

/// Creates `count` free tenants with nothing in them, a few at a time.
async fn create_bare_tenants(
    client: &Client,
    server: &Server,
    count: usize,
) -> Result<Vec<String>, RunError> {
    use futures_util::{StreamExt, TryStreamExt, stream};
    let setup = |e: String| RunError::Setup(crate::client::SetupError(e));
    stream::iter(0..count)
        .map(|i| async move {
            let slug = format!("act{i:05}");
            let response = client
                .post(format!("{}/admin/api/tenants", server.base))
                .bearer_auth(&server.token)
                .json(&json!({"slug": slug, "name": "Activation", "plan": "free", "sector": "corporate"}))
                .send()
                .await
                .map_err(|e| setup(e.to_string()))?;
            if !response.status().is_success() {
                return Err(setup(format!("create {slug}: {}", response.status())));
            }
            Ok(slug)
        })
        .buffered(16)
        .try_collect()
        .await
}

/// Active tenants, from the health document of the server at `base`.
async fn active_tenants(client: &Client, base: &str) -> Option<u64> {
    let health = json_of(client.get(format!("{base}/api/almajlis/health.json"))).await?;
    health["tenants_active"].as_u64()
}

/// Waits (up to `limit`) until no tenant is active.
async fn all_passive(client: &Client, server: &Server, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if active_tenants(client, &server.base).await == Some(0) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Touches a second below which the first pass is not expected to fall: 10,000 cold tenants took
/// 1.2–1.8 s on the measured machine (5,500–8,300 a second).
const SLOWEST_PASS_RATE: u64 = 4_000;

/// The idle timeout of the activation scenario's server, in seconds: as long as one pass over all
/// `tenants` would take at `SLOWEST_PASS_RATE` (3 s for 10,000), at least 1 s, so that the pass
/// has them all active at once, and short enough that the churn after it keeps them activating
/// and passivating.
fn idle_secs(tenants: usize) -> u64 {
    (tenants as u64).div_ceil(SLOWEST_PASS_RATE).max(1)
}

/// In the churn, a tenant is touched this many idle timeouts after its last touch, so every touch
/// finds it passive (it passivated after one) and activates it.
const CHURN_SPACING: f64 = 2.0;

/// The churn's pace: `tenants` touched round-robin, each every `CHURN_SPACING` idle timeouts.
fn churn_rate(tenants: usize) -> f64 {
    tenants as f64 / (CHURN_SPACING * idle_secs(tenants) as f64)
}

/// How often each tenant was touched against the idle timeout, `rate` touches a second being
/// spread over `tenants`: past the idle timeout, a touch finds its tenant passive.
fn touch_note(tenants: usize, rate: f64) -> String {
    let every = tenants as f64 / rate.max(1e-9);
    let idle = idle_secs(tenants) as f64;
    let state = if every > idle {
        "longer than the idle timeout: each touch found its tenant passive and activated it"
    } else {
        "within the idle timeout: tenants stayed active between touches"
    };
    format!(
        "each tenant touched every {every:.2} s against an idle timeout of {idle:.0} s, {state}"
    )
}

/// One `GET /api/tenant` of `slug`, as a member's first request after a while would be.
async fn touch(client: &Client, base: &str, slug: &str) -> Outcome {
    match tenant_request(client, base, slug, Method::GET, "/api/tenant")
        .send()
        .await
    {
        Ok(r) => Outcome::status(r.status().as_u16()),
        Err(_) => Outcome::io(),
    }
}

/// Samples the server's active tenants every 100 ms and keeps the most seen, until dropped.
struct ActiveWatch {
    peak: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl ActiveWatch {
    fn start(client: &Client, base: &str) -> Self {
        let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let task = tokio::spawn({
            let (client, base, peak) = (client.clone(), base.to_owned(), Arc::clone(&peak));
            async move {
                loop {
                    if let Some(active) = active_tenants(&client, &base).await {
                        peak.fetch_max(active, std::sync::atomic::Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        Self { peak, task }
    }

    fn peak(&self) -> u64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for ActiveWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Two phases on one server with a short idle timeout. First every tenant is touched once, as fast
/// as the workers go, so all are active at once: resident memory per active tenant at that peak,
/// and what is left once every tenant has passivated again. Then the churn: tenants touched
/// round-robin at a set pace, each one two idle timeouts after its last touch, so that every
/// request finds its tenant passive: the latency of requests that activate their tenant, counted
/// from when each was due. Both phases are decided by the pace, not by how fast the machine
/// happens to be.
pub async fn activation(options: &Options) -> Result<Vec<ScenarioReport>, RunError> {
    use futures_util::{StreamExt, stream};
    let tenants = options.tenants.max(1);
    let server = Server::spawn(&options.launch, idle_secs(tenants)).await?;
    let client = http_client(options.concurrency * 2);
    let empty_rss = server.rss_mb().unwrap_or(0.0);
    let slugs = Arc::new(create_bare_tenants(&client, &server, tenants).await?);
    // Let the creations passivate so the run starts cold.
    all_passive(&client, &server, Duration::from_secs(30)).await;
    let cold_rss = server.rss_mb().unwrap_or(0.0);
    let base = server.base.clone();

    // All active at once: one pass, as fast as the workers go.
    let sampler = server.rss_sampler(Duration::from_millis(50));
    let watch = ActiveWatch::start(&client, &base);
    let pass_started = Instant::now();
    let pass: Vec<Outcome> = stream::iter(slugs.iter())
        .map(|slug| touch(&client, &base, slug))
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    let pass_took = pass_started.elapsed();
    // One more look of each right after the last answer, before the first tenant's idle timeout.
    let peak = sampler.peak().max(server.rss_mb().unwrap_or(0.0));
    let active = watch
        .peak()
        .max(active_tenants(&client, &base).await.unwrap_or(0))
        .max(1);
    drop(watch);
    let pass_errors = pass.iter().filter(|o| !o.is_success()).count();
    let passivated = all_passive(&client, &server, Duration::from_secs(30)).await;
    // The allocator hands freed pages back over a few seconds: take the lowest over up to 15 s.
    let settle = options.duration.min(Duration::from_secs(15));
    let mut after = server.rss_mb().unwrap_or(0.0);
    for _ in 0..settle.as_millis() / 500 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        after = after.min(server.rss_mb().unwrap_or(after));
    }

    // The churn: every touch activates a passive tenant.
    let watch = ActiveWatch::start(&client, &base);
    let (c, s) = (client.clone(), Arc::clone(&slugs));
    let concurrency = options.concurrency;
    let rate = churn_rate(slugs.len());
    let run = drive_paced(
        "activation",
        concurrency,
        options.duration,
        Pace::Rate(rate),
        move |worker, n| {
            let slug = s[(n as usize * concurrency + worker) % s.len()].clone();
            let (client, base) = (c.clone(), base.clone());
            async move { touch(&client, &base, &slug).await }
        },
    )
    .await;
    let churn_active = watch.peak();
    drop(watch);

    let mut report = report("activation", &run, options.concurrency, 0.0, 0, Some(peak));
    // Memory above the empty server, per active tenant, goes in the ratio column's place.
    let per_tenant_kb = (peak - empty_rss).max(0.0) * 1024.0 / active as f64;
    // What activity adds to each tenant, above the server holding all of them passive: the
    // peak counts every tenant's registry entry but only the ones active at that moment.
    let per_active_kb = (peak - cold_rss).max(0.0) * 1024.0 / active as f64;
    let all_active_mb =
        (cold_rss - empty_rss).max(0.0) + per_active_kb * slugs.len() as f64 / 1024.0;
    report.ceiling_per_s = empty_rss;
    report.ratio = per_tenant_kb;
    report.notes.push(format!(
        "{} tenants touched once each in {:.2} s ({pass_errors} errors): {active} active at once; resident {empty_rss:.1} MB empty, {cold_rss:.1} MB with every tenant created and passive, {peak:.1} MB at the peak ({per_tenant_kb:.1} KB a tenant above the empty server; {per_active_kb:.1} KB an active tenant above the passive ones, so all {} active take about {all_active_mb:.0} MB above the empty server), {after:.1} MB at the lowest in the {} s after {}",
        slugs.len(),
        pass_took.as_secs_f64(),
        slugs.len(),
        settle.as_secs(),
        if passivated { "all passivating again" } else { "a 30 s wait for passivation (timed out)" }
    ));
    report.notes.push(format!(
        "then the churn, paced at {rate:.0} a second (latency from when each touch was due): {}; up to {churn_active} active at once",
        touch_note(slugs.len(), run.throughput())
    ));
    if pass_errors > 0 {
        *report.errors.entry("first pass".into()).or_default() += pass_errors as u64;
    }
    let cold = cold_activations(&client, &server, &slugs).await;
    Ok(vec![report, cold])
}

/// With every tenant passive again, touches up to 1,000 of them one at a time: each request
/// activates its tenant from disk on a quiet server, so the latency is that of a cold activation.
async fn cold_activations(client: &Client, server: &Server, slugs: &[String]) -> ScenarioReport {
    let mut run = crate::driver::Run::empty();
    let started = Instant::now();
    for slug in slugs.iter().take(1_000) {
        let began = Instant::now();
        let outcome = touch(client, &server.base, slug).await;
        run.record(began.elapsed().as_micros() as u64, outcome);
    }
    run.elapsed = started.elapsed();
    let mut cold = report("activation-cold", &run, 1, 0.0, 0, server.rss_mb());
    cold.notes.push(format!(
        "{} passive tenants touched one at a time: each answer includes loading the tenant from disk",
        run.ok + run.errors.values().sum::<u64>()
    ));
    cold
}

/// Reads one whole HTTP/1.1 response (headers, then `Content-Length` bytes of body), however the
/// bytes arrive; `None` when the connection fails or closes first.
async fn read_response(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(16 * 1024);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if bytes.len() >= end + 4 + length {
                return Some(bytes);
            }
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
}

/// Opens `concurrency` keep-alive connections at once, sends a request on each, then a second
/// one on each still-open connection; every failure counts.
pub async fn connections(options: &Options) -> Result<Vec<ScenarioReport>, RunError> {
    let server = Server::spawn(&options.launch, 900).await?;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let count = options.concurrency;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(&addr).await.ok()?;
            let request = b"GET /api/almajlis/sectors.json HTTP/1.1\r\nHost: localhost\r\n\r\n";
            let mut ok = 0u32;
            for _ in 0..2 {
                stream.write_all(request).await.ok()?;
                if read_response(&mut stream)
                    .await?
                    .starts_with(b"HTTP/1.1 200")
                {
                    ok += 1;
                }
            }
            Some((ok, stream))
        }));
    }
    let mut held = Vec::new();
    let mut run = crate::driver::Run::empty();
    for task in tasks {
        match task.await.ok().flatten() {
            Some((2, stream)) => {
                run.ok += 2;
                held.push(stream);
            }
            _ => *run.errors.entry("connection".into()).or_default() += 1,
        }
    }
    run.elapsed = started.elapsed();
    let rss = server.rss_mb();
    drop(held);
    Ok(vec![report("connections", &run, count, 0.0, 0, rss)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_touch_note_tells_a_churn_from_tenants_that_stay_active() {
        assert!(touch_note(10_000, 1_667.0).contains("every 6.00 s"));
        assert!(touch_note(10_000, 1_667.0).contains("found its tenant passive"));
        assert!(touch_note(10_000, 7_109.0).contains("every 1.41 s"));
        assert!(touch_note(10_000, 7_109.0).contains("stayed active"));
    }

    #[test]
    fn the_churn_touches_each_tenant_two_idle_timeouts_apart_whatever_their_number() {
        for tenants in [1, 50, 4_001, 10_000] {
            let every = tenants as f64 / churn_rate(tenants);
            let idle = idle_secs(tenants) as f64;
            assert!((every - 2.0 * idle).abs() < 1e-9, "{tenants}: {every}");
            assert!(touch_note(tenants, churn_rate(tenants)).contains("found its tenant passive"));
        }
    }

    #[test]
    fn the_idle_timeout_outlasts_a_slow_first_pass() {
        assert_eq!(idle_secs(1), 1);
        assert_eq!(idle_secs(4_000), 1);
        assert_eq!(idle_secs(4_001), 2);
        assert_eq!(idle_secs(10_000), 3);
        // 10,000 tenants at the slowest pass rate measured (5,735 a second) take 1.7 s.
        assert!(10_000.0 / 5_735.0 < idle_secs(10_000) as f64);
    }
}
