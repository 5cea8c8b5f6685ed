//! The load harness's smoke run against the real binary, so the harness never rots: every small
//! scenario completes, every acknowledged write is read back with its audit line, every file
//! parses after `kill -9`.

use std::path::PathBuf;
use std::time::Duration;

use majlis_load::mailbox::Mail;
use majlis_load::server::Launch;
use majlis_load::{Options, Scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smoke_run_completes_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plot = dir.path().join("curve.svg");
    let options = Options {
        server: None,
        launch: Launch {
            bin: PathBuf::from(env!("CARGO_BIN_EXE_majlis")),
            settings: Vec::new(),
            mail: Mail::Files,
        },
        duration: Duration::from_secs(2),
        concurrency: 8,
        tenants: 3,
        chaos_cycles: 2,
        inflight_bound: 8,
        plot: Some(plot.clone()),
        records: 2_000,
        data_dir: None,
        token: String::new(),
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
            "overload",
            "login",
            "login-smtp",
            "activation",
            "activation-cold",
            "connections",
            "recovery",
            "reads c1",
            "reads c2",
            "reads c4",
            "reads c8",
            "reads @half-max",
            "static @half-max",
            "writes c1",
            "writes c2",
            "writes c4",
            "writes c8",
            "writes @half-max",
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
            "login" | "login-smtp" | "activation" | "activation-cold" | "connections"
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
    // The overload was refused, only with 429/503 (each with Retry-After, or the run fails),
    // and the chaos run says it injected panics.
    let overload = reports
        .iter()
        .find(|r| r.scenario == "overload")
        .expect("overload");
    assert!(!overload.errors.is_empty(), "{overload:?}");
    assert!(
        overload.errors.keys().all(|s| s == "429" || s == "503"),
        "{overload:?}"
    );
    // Both ways codes travel: the file mailer's folder, and SMTP to the harness's sink (which
    // the server was told to relay to), each with the identity locked at the end.
    for (name, by) in [
        ("login", "by the file mailer"),
        ("login-smtp", "by SMTP to the harness's sink"),
    ] {
        let login = reports.iter().find(|r| r.scenario == name).expect("login");
        assert!(
            login
                .notes
                .iter()
                .any(|n| n.contains("locked (429 with Retry-After)")),
            "{login:?}"
        );
        assert!(login.notes.iter().any(|n| n.contains(by)), "{login:?}");
    }
    let chaos = reports
        .iter()
        .find(|r| r.scenario == "chaos")
        .expect("chaos");
    assert!(
        chaos
            .notes
            .iter()
            .any(|n| n.contains("2 tenant-actor panics")),
        "{chaos:?}"
    );
    // The open-loop run at half the maximum ran at about half the maximum, and says when its
    // slowest hundredth came.
    for half in reports.iter().filter(|r| r.scenario.ends_with("@half-max")) {
        assert!(half.ratio > 0.2 && half.ratio < 0.8, "{half:?}");
        assert!(
            half.notes
                .iter()
                .any(|n| n.starts_with("the slowest 1 % (≥ ") && n.contains(" tenants, worst ")),
            "{half:?}"
        );
    }
    let svg = std::fs::read_to_string(&plot).expect("the curve was drawn");
    assert!(svg.contains("reads p99") && svg.contains("writes p99"));
    let read = reports.iter().find(|r| r.scenario == "read").expect("read");
    assert!(
        read.ceiling_per_s > 0.0,
        "reads measured against the HTTP ceiling"
    );
}

#[tokio::test]
async fn a_server_setting_reaches_every_server_the_harness_starts() {
    use majlis_load::server::Server;
    use majlis_load::server_settings::ServerSetting;
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_majlis"));
    let tiny: ServerSetting = "MAJLIS_BODY_LIMIT_BYTES=64".parse().expect("setting");
    let body = vec![b' '; 1024];
    let mut statuses = Vec::new();
    for settings in [vec![], vec![tiny]] {
        let launch = Launch {
            bin: bin.clone(),
            settings,
            mail: Mail::Files,
        };
        let server = Server::spawn(&launch, 900).await.expect("started");
        let answer = reqwest::Client::new()
            .post(format!("{}/admin/api/tenants", server.base))
            .bearer_auth(&server.token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("answered");
        statuses.push(answer.status().as_u16());
    }
    // The same kilobyte of blanks: bad JSON under the default limit, too large under 64 bytes.
    assert_eq!(statuses, [400, 413]);
}

#[tokio::test]
async fn a_running_server_takes_run_after_run_with_codes_by_smtp_and_no_data_dir() {
    use majlis_load::mailbox::SmtpSink;
    use majlis_load::server::Server;
    // A server relaying its mail to the harness's sink, started apart from the runs below.
    let sink = SmtpSink::start("127.0.0.1:0".parse().expect("address"), Duration::ZERO)
        .await
        .expect("sink");
    let launch = Launch {
        bin: PathBuf::from(env!("CARGO_BIN_EXE_majlis")),
        settings: Vec::new(),
        mail: Mail::Smtp(sink),
    };
    let server = Server::spawn(&launch, 900).await.expect("started");
    let options = Options {
        server: Some(server.base.clone()),
        launch,
        duration: Duration::from_secs(1),
        concurrency: 4,
        tenants: 2,
        chaos_cycles: 0,
        inflight_bound: 8,
        plot: None,
        records: 0,
        data_dir: None,
        token: server.token.clone(),
    };
    // The second run finds the first one's tenants there, and makes its own.
    for scenario in [Scenario::Write, Scenario::Write] {
        let reports = majlis_load::run(scenario, &options)
            .await
            .expect("the run against the running server passes its verification");
        assert!(reports[0].acknowledged > 0, "{reports:?}");
    }
    let tenants: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/admin/api/tenants", server.base))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    assert_eq!(tenants.as_array().map(Vec::len), Some(4), "{tenants}");
}
