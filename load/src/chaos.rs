//! The fault campaign: cycles of concurrent writers during which a tenant actor panics and the
//! server is killed with SIGKILL, each followed by a restart and a full verification; then an
//! overload at ten times a tenant's in-flight bound, which must be refused with `Retry-After`,
//! keep memory bounded, and leave the tenant serving normally once the load drops.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Client;
use serde_json::json;

use crate::client::{Tenant, http_client};
use crate::driver::Run;
use crate::lanes::Lanes;
use crate::report::ScenarioReport;
use crate::scenarios::{Options, RunError, drive, prepare, report, verify_api, write_op};
use crate::server::Server;
use crate::verify::{Moment, check_files};

/// How much above the calm server's resident memory the overload may take.
const OVERLOAD_MEMORY_BUDGET_MB: f64 = 256.0;

/// Writers, a tenant panic and `kill -9` at random instants, restart, verify — `chaos_cycles`
/// times; then the overload.
pub async fn chaos(options: &Options) -> Result<Vec<ScenarioReport>, RunError> {
    let mut server = Server::spawn(&options.launch, 900).await?;
    let client = http_client(options.concurrency * 2);
    let tenants = Arc::new(prepare(&client, &server, options.tenants.clamp(1, 10)).await?);
    let cycles = options.chaos_cycles.max(1);
    let mut all = Run::empty();
    let mut panics = 0usize;
    for cycle in 0..cycles {
        let base = server.base.clone();
        let (lanes, t) = (Lanes::new(&base, options.concurrency), Arc::clone(&tenants));
        let burst = Duration::from_millis(200 + rand::random::<u64>() % 800);
        let label = format!("chaos {}/{cycles}", cycle + 1);
        let duration = options.duration.max(Duration::from_secs(1));
        let concurrency = options.concurrency;
        let writers = tokio::spawn(async move {
            drive(&label, concurrency, duration, move |worker, n| {
                let tenant = t[(worker + n as usize) % t.len()].clone();
                write_op(lanes.clone(), tenant, worker, n)
            })
            .await
        });
        let panic_at = burst.mul_f64(rand::random::<f64>());
        tokio::time::sleep(panic_at).await;
        if inject_panic(&client, &server, &tenants[cycle % tenants.len()]).await {
            panics += 1;
        }
        tokio::time::sleep(burst - panic_at).await;
        server.kill9().await;
        let run = writers.await.unwrap_or_else(|_| Run::empty());
        server.start(900).await?;
        if let Some(dir) = &server.data_dir {
            check_files(dir, Moment::AfterKill)?;
        }
        all.absorb(Run {
            elapsed: burst,
            ..run
        });
        verify_api(&client, &server.base, &tenants, &all.acknowledged).await?;
        if let Some(dir) = &server.data_dir {
            check_files(dir, Moment::Settled)?;
        }
    }
    let mut chaos = report("chaos", &all, options.concurrency, 0.0, 0, server.rss_mb());
    chaos.notes.push(format!(
        "{cycles} kill -9 cycles; {panics} tenant-actor panics injected{}",
        if panics == 0 {
            " (this majlis binary was built without the fault-injection feature)"
        } else {
            ""
        }
    ));
    let overload = overload(&mut server, &client, &tenants[0], options).await?;
    Ok(vec![chaos, overload])
}

/// Asks the server to panic `tenant`'s actor; false when the binary has no fault hooks.
async fn inject_panic(client: &Client, server: &Server, tenant: &Tenant) -> bool {
    client
        .post(format!(
            "{}/admin/api/tenants/{}/fault",
            server.base, tenant.slug
        ))
        .bearer_auth(&server.token)
        .json(&json!({"fault": "panic"}))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// Ten times the in-flight bound of writers on one tenant: refusals must be 429/503 with
/// `Retry-After`, memory must stay within budget, and afterwards the tenant must answer calmly.
async fn overload(
    server: &mut Server,
    client: &Client,
    tenant: &Tenant,
    options: &Options,
) -> Result<ScenarioReport, RunError> {
    let bound = options.inflight_bound.max(1);
    server.kill9().await;
    server.set_env("MAJLIS_MAX_INFLIGHT_PER_TENANT", bound);
    server.start(900).await?;
    let base = server.base.clone();
    let calm_rss = server.rss_mb().unwrap_or(0.0);
    let workers = bound * 10;
    let crowd = Lanes::new(&base, workers);
    let sampler = server.rss_sampler(Duration::from_millis(100));
    let (c, t) = (crowd.clone(), tenant.clone());
    let run = drive(
        "overload",
        workers,
        options.duration.max(Duration::from_secs(2)),
        move |worker, n| write_op(c.clone(), t.clone(), worker, n),
    )
    .await;
    let peak_rss = sampler.peak();
    drop(crowd);
    let unexpected: Vec<String> = run
        .errors
        .keys()
        .filter(|status| !matches!(status.as_str(), "429" | "503"))
        .cloned()
        .collect();
    let refused: u64 = run.errors.values().sum();
    let failure = if !unexpected.is_empty() {
        Some(format!(
            "answers other than 429/503 under overload: {:?}",
            run.errors
        ))
    } else if refused == 0 {
        Some(format!(
            "{workers} writers on a bound of {bound} were never refused"
        ))
    } else if run.refusals_without_retry_after > 0 {
        Some(format!(
            "{} refusals without Retry-After",
            run.refusals_without_retry_after
        ))
    } else if peak_rss - calm_rss > OVERLOAD_MEMORY_BUDGET_MB {
        Some(format!(
            "resident memory grew from {calm_rss:.0} MB to {peak_rss:.0} MB"
        ))
    } else {
        None
    };
    if let Some(failure) = failure {
        return Err(RunError::Overload(failure));
    }
    // Once the crowd is gone, the same tenant serves a calm load without a single refusal.
    let (calm_lanes, t) = (Lanes::new(&base, 4), tenant.clone());
    let calm = drive(
        "after overload",
        4,
        Duration::from_secs(2),
        move |worker, n| write_op(calm_lanes.clone(), t.clone(), worker, n),
    )
    .await;
    if !calm.errors.is_empty() || calm.ok == 0 {
        return Err(RunError::Overload(format!(
            "no recovery after the overload: {:?}",
            calm.errors
        )));
    }
    let mut acknowledged = run.acknowledged.clone();
    for (slug, ids) in &calm.acknowledged {
        acknowledged
            .entry(slug.clone())
            .or_default()
            .extend(ids.iter().cloned());
    }
    verify_api(client, &base, std::slice::from_ref(tenant), &acknowledged).await?;
    if let Some(dir) = &server.data_dir {
        check_files(dir, Moment::Settled)?;
    }
    let mut overload = report("overload", &run, workers, 0.0, 0, Some(peak_rss));
    overload.acknowledged += calm
        .acknowledged
        .values()
        .map(|s| s.len() as u64)
        .sum::<u64>();
    overload.notes.push(format!(
        "{workers} writers on one tenant with an in-flight bound of {bound}: {refused} refused, \
         all with Retry-After; resident {calm_rss:.0} MB calm, {peak_rss:.0} MB at the peak; \
         afterwards {} calm writes, 0 refused (p99 {:.2} ms)",
        calm.ok,
        calm.histogram.value_at_quantile(0.99) as f64 / 1000.0
    ));
    Ok(overload)
}
