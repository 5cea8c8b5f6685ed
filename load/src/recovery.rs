//! Recovery time: one tenant's journal grown to a given number of lines (snapshots held off),
//! the server killed with SIGKILL, and the time from the restart until that tenant answers again;
//! every acknowledged write is then read back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;

use crate::client::{http_client, tenant_request};
use crate::driver::{Outcome, drive};
use crate::lanes::Lanes;
use crate::report::ScenarioReport;
use crate::scenarios::{Options, RunError, prepare, report, verify_api, write_op};
use crate::server::Server;
use crate::verify::{Moment, check_files};

/// Lines in the journal of the tenant under test, from the operator API.
async fn journal_len(client: &reqwest::Client, server: &Server, slug: &str) -> Option<u64> {
    server.tenant_view(client, slug).await?["journal_len"].as_u64()
}

/// Grows one journal to `options.records` lines, kills the server, and times its recovery.
pub async fn recovery(options: &Options) -> Result<Vec<ScenarioReport>, RunError> {
    let mut server = Server::spawn_with(
        &options.launch,
        900,
        &[("MAJLIS_SNAPSHOT_EVERY", "100000000")],
    )
    .await?;
    let client = http_client(options.concurrency * 2);
    let tenants = Arc::new(prepare(&client, &server, 1).await?);
    let tenant = tenants[0].clone();
    let target = options.records.max(1);
    let mut written = crate::driver::Run::empty();
    // Write in rounds until the journal holds the target number of lines.
    loop {
        let len = journal_len(&client, &server, &tenant.slug)
            .await
            .unwrap_or(0);
        if len >= target {
            break;
        }
        let (lanes, t) = (
            Lanes::new(&server.base, options.concurrency),
            tenant.clone(),
        );
        let missing = target - len;
        let round = Duration::from_secs_f64((missing as f64 / 5_000.0).clamp(0.2, 5.0));
        let run = drive("filling", options.concurrency, round, move |worker, n| {
            write_op(lanes.clone(), t.clone(), worker, n)
        })
        .await;
        written.absorb(run);
    }
    let lines = journal_len(&client, &server, &tenant.slug)
        .await
        .unwrap_or(0);
    server.kill9().await;
    let restarted = Instant::now();
    server.start(900).await?;
    let listening = restarted.elapsed();
    // The tenant loads on its first request: snapshot, then every journal line replayed.
    let answered = loop {
        let outcome = match tenant_request(
            &client,
            &server.base,
            &tenant.slug,
            Method::GET,
            "/api/tenant",
        )
        .bearer_auth(&tenant.key)
        .send()
        .await
        {
            Ok(r) => Outcome::status(r.status().as_u16()),
            Err(_) => Outcome::io(),
        };
        if outcome.status == Some(200) {
            break restarted.elapsed();
        }
        if restarted.elapsed() > Duration::from_secs(60) {
            return Err(RunError::Recovery(format!(
                "the tenant did not answer within 60 s of the restart: {:?}",
                outcome.status
            )));
        }
    };
    let rss = server.rss_mb();
    verify_api(&client, &server.base, &tenants, &written.acknowledged).await?;
    if let Some(dir) = &server.data_dir {
        check_files(dir, Moment::Settled)?;
    }
    let mut recovery = report("recovery", &written, options.concurrency, 0.0, 0, rss);
    // The columns that matter here: time to the first answer, in the latency columns.
    let ms = answered.as_secs_f64() * 1000.0;
    (
        recovery.p50_ms,
        recovery.p90_ms,
        recovery.p99_ms,
        recovery.p999_ms,
        recovery.max_ms,
    ) = (ms, ms, ms, ms, ms);
    recovery.notes.push(format!(
        "{lines} journal lines after kill -9: listening again after {:.0} ms, the tenant's first \
         answer after {ms:.0} ms; all {} acknowledged writes read back with their audit lines",
        listening.as_secs_f64() * 1000.0,
        written
            .acknowledged
            .values()
            .map(|s| s.len())
            .sum::<usize>()
    ));
    Ok(vec![recovery])
}
