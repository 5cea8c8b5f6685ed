//! The load harness's smoke run against the real binary, so the harness never rots: every small
//! scenario completes, every acknowledged write is read back with its audit line, every file
//! parses after `kill -9`.

use std::path::PathBuf;
use std::time::Duration;

use majlis_load::{Options, Scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smoke_run_completes_and_loses_nothing() {
    let options = Options {
        server: None,
        bin: PathBuf::from(env!("CARGO_BIN_EXE_majlis")),
        duration: Duration::from_secs(2),
        concurrency: 8,
        tenants: 3,
        chaos_cycles: 2,
    };
    let reports = majlis_load::run(Scenario::Smoke, &options)
        .await
        .expect("the smoke run passes its own verification");
    let names: Vec<&str> = reports.iter().map(|r| r.scenario.as_str()).collect();
    assert_eq!(
        names,
        [
            "read",
            "mixed",
            "hot-tenant",
            "spread",
            "chaos",
            "login",
            "activation",
            "connections"
        ]
    );
    for report in &reports {
        assert!(
            report.throughput_per_s > 0.0,
            "{} did work",
            report.scenario
        );
        assert_eq!(report.lost, 0, "{} lost writes", report.scenario);
        if report.scenario != "connections" {
            assert!(
                report.p50_ms > 0.0 && report.p99_ms >= report.p50_ms,
                "{report:?}"
            );
        }
        if matches!(
            report.scenario.as_str(),
            "login" | "activation" | "connections"
        ) {
            assert!(
                report.errors.is_empty(),
                "{} had errors: {:?}",
                report.scenario,
                report.errors
            );
        }
    }
    for writes in ["hot-tenant", "spread", "chaos"] {
        let report = reports
            .iter()
            .find(|r| r.scenario == writes)
            .expect("report");
        assert!(report.acknowledged > 0, "{writes} acknowledged writes");
        assert!(
            report.ceiling_per_s > 0.0 || writes == "chaos",
            "{writes} measured against the disk"
        );
    }
    let read = reports.iter().find(|r| r.scenario == "read").expect("read");
    assert!(
        read.ceiling_per_s > 0.0,
        "reads measured against the HTTP ceiling"
    );
}
