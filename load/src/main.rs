//! `majlis-load <scenario>`: see `majlis_load` for what each scenario does.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use majlis_load::mailbox::{Mail, SmtpSink};
use majlis_load::server::Launch;
use majlis_load::server_settings::ServerSetting;
use majlis_load::{Options, Scenario, report, run};

#[derive(Debug, Parser)]
#[command(
    name = "majlis-load",
    about = "Load scenarios against a real majlis server"
)]
struct Cli {
    scenario: Scenario,
    /// An existing server for read, write, mixed, hot-tenant, spread and curve (the default, and
    /// always for the others, is a fresh one on a temporary data directory), over plain HTTP.
    /// Needs `--data-dir`, or `--mail smtp` with that server relaying to `--smtp-listen`.
    /// Tenants are addressed as `<slug>.<domain>` when the URL names the server by its base
    /// domain (`http://board.example.com:8080`), as `<slug>.localhost` when by an address (then
    /// its `base_domain` must be `localhost`).
    #[arg(long)]
    server: Option<String>,
    /// The data directory of `--server` on this machine: with `--mail files` sign-in codes are
    /// read from its mail folders (so that server must have no SMTP relay configured); the write
    /// scenarios measure the disk ceiling there.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// How sign-in codes reach the harness: `files` (the file mailer's folders) or `smtp` (the
    /// harness's own SMTP sink on `--smtp-listen`, which the servers it starts relay to).
    #[arg(long, value_enum, default_value = "files")]
    mail: MailKind,
    /// Where the SMTP sink of `--mail smtp` listens (port 0: any free port; give a fixed one
    /// for a `--server` whose relay must be pointed at it).
    #[arg(long, default_value = "127.0.0.1:0")]
    smtp_listen: SocketAddr,
    /// How long the SMTP sink takes to accept each message, as a distant relay would.
    #[arg(long, default_value_t = 0)]
    smtp_latency_ms: u64,
    /// The operator token of `--server`.
    #[arg(
        long,
        env = "MAJLIS_OPERATOR_TOKEN",
        hide_env_values = true,
        default_value = ""
    )]
    token: String,
    /// The majlis binary to start (default: beside this one).
    #[arg(long)]
    bin: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    duration: u64,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, default_value_t = 10)]
    tenants: usize,
    #[arg(long, default_value_t = 20)]
    cycles: usize,
    /// The per-tenant in-flight bound during chaos's overload (ten times as many writers).
    #[arg(long, default_value_t = 256)]
    bound: usize,
    /// Where `curve` draws its latency-versus-throughput plot (SVG).
    #[arg(long, default_value = "latency-throughput.svg")]
    plot: PathBuf,
    /// Journal lines the `recovery` scenario replays after its `kill -9`.
    #[arg(long, default_value_t = 100_000)]
    records: u64,
    /// Run on the machine's last core and start the server on the others (Linux), so that
    /// neither takes the other's core.
    #[arg(long)]
    pin: bool,
    /// A `MAJLIS_` setting for every server the harness starts, over its defaults (repeatable):
    /// `--server-env MAJLIS_SNAPSHOT_EVERY=100000000`. The harness otherwise clears the `MAJLIS_`
    /// settings of its own environment from the servers it starts.
    #[arg(
        long = "server-env",
        value_name = "KEY=VALUE",
        conflicts_with = "server"
    )]
    server_env: Vec<ServerSetting>,
    /// Write the reports as a JSON array here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MailKind {
    Files,
    Smtp,
}

// One thread: the harness shares the machine's cores with the server it measures, and a second
// runnable harness thread was measured to cost the server throughput and tail latency (reads at
// half load: p99 6.5 ms with two threads, 3.4 ms with one; the highest read rate 27,069/s against
// 30,568/s).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.pin
        && let Err(err) = majlis_load::pin::split()
    {
        eprintln!("majlis-load: {err}");
        return ExitCode::FAILURE;
    }
    if cli.server.is_some() && cli.data_dir.is_none() && cli.mail == MailKind::Files {
        eprintln!(
            "majlis-load: --server needs --data-dir (its mail folders hold the sign-in codes), \
             or --mail smtp with that server relaying to --smtp-listen"
        );
        return ExitCode::FAILURE;
    }
    let mail = match cli.mail {
        MailKind::Files => Mail::Files,
        MailKind::Smtp => {
            let latency = Duration::from_millis(cli.smtp_latency_ms);
            match SmtpSink::start(cli.smtp_listen, latency).await {
                Ok(sink) => {
                    eprintln!("majlis-load: SMTP sink listening on {}", sink.address());
                    Mail::Smtp(sink)
                }
                Err(err) => {
                    eprintln!(
                        "majlis-load: cannot listen for SMTP on {}: {err}",
                        cli.smtp_listen
                    );
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let options = Options {
        server: cli.server,
        launch: Launch {
            bin: cli.bin.unwrap_or_else(majlis_load::server::default_binary),
            settings: cli.server_env,
            mail,
        },
        duration: Duration::from_secs(cli.duration),
        concurrency: cli.concurrency.max(1),
        tenants: cli.tenants,
        chaos_cycles: cli.cycles,
        inflight_bound: cli.bound,
        plot: Some(cli.plot),
        records: cli.records,
        data_dir: cli.data_dir,
        token: cli.token,
    };
    eprintln!(
        "majlis-load: running {:?} ({} s, {} workers)…",
        cli.scenario, cli.duration, options.concurrency
    );
    match run(cli.scenario, &options).await {
        Ok(reports) => {
            print!("{}", report::table(&reports));
            if let Some(path) = cli.json {
                let json = serde_json::to_string_pretty(&reports).unwrap_or_default();
                if let Err(e) = std::fs::write(&path, json) {
                    eprintln!("majlis-load: cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("majlis-load: {err}");
            ExitCode::FAILURE
        }
    }
}
