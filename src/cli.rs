//! The command line: `serve` (the default), `tenant create|list`, `audit verify`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use majlis_actors::audit::verify_file;
use majlis_actors::catalog::Plan;
use majlis_actors::domain::{HostName, Slug};
use majlis_actors::manager::ManagerMsg;
use majlis_actors::store::TenantPaths;
use majlis_actors::tenant::{NewTenant, Reply, RequestCtx};
use ractor::rpc::CallResult;

use crate::config::{Loaded, Settings};
use crate::startup::{Application, with_offline_runtime};

#[derive(Debug, Parser)]
#[command(name = "majlis", version, about = "The majlis board portal server")]
pub struct Cli {
    /// Config file (default: config/majlis.toml when present).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Manage tenants offline (the server must not be running on the same data directory).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Audit trail tools.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant, as `POST /admin/api/tenants` does.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "free", value_parser = parse_plan)]
        plan: Plan,
        #[arg(long)]
        sector: String,
        #[arg(long)]
        sub_sector: Option<String>,
        /// A host name that reaches this tenant (repeatable).
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// IANA time zone new meetings default to.
        #[arg(long, default_value = "Asia/Muscat")]
        timezone: String,
    },
    /// List tenants and their state.
    List,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check a tenant's hash chain offline; names the first broken line.
    Verify { slug: String },
}

fn parse_plan(raw: &str) -> Result<Plan, String> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned()))
        .map_err(|_| "expected free, pro or enterprise".to_owned())
}

/// Runs the command with the settings `main` loaded (it needs them before the runtime starts).
pub async fn run(cli: Cli, loaded: Loaded) -> ExitCode {
    let settings = loaded.settings;
    crate::telemetry::init(settings.log_format, &settings.log);
    for warning in loaded.warnings {
        tracing::warn!("{warning}");
    }
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Tenant(TenantCommand::List) => list_tenants(&settings).await,
        Command::Tenant(TenantCommand::Create {
            slug,
            name,
            plan,
            sector,
            sub_sector,
            hosts,
            timezone,
        }) => {
            let new = NewTenantArgs {
                slug,
                name,
                plan,
                sector,
                sub_sector,
                hosts,
                timezone,
            };
            create_tenant(&settings, new).await
        }
        Command::Audit(AuditCommand::Verify { slug }) => verify_audit(&settings, &slug),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("majlis: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), String> {
    let app = Application::build(settings)
        .await
        .map_err(|e| e.to_string())?;
    print!("{}", app.banner().await);
    app.run_until_stopped().await;
    Ok(())
}

/// What `majlis tenant create` was given.
struct NewTenantArgs {
    slug: String,
    name: String,
    plan: Plan,
    sector: String,
    sub_sector: Option<String>,
    hosts: Vec<String>,
    timezone: String,
}

async fn create_tenant(settings: &Settings, args: NewTenantArgs) -> Result<(), String> {
    let tenant = NewTenant {
        slug: Slug::parse(&args.slug).map_err(|e| e.to_string())?,
        name: args.name,
        plan: args.plan,
        sector: args.sector,
        sub_sector: args.sub_sector,
        hosts: args
            .hosts
            .iter()
            .map(|h| HostName::parse(h))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?,
        timezone: Some(args.timezone),
    };
    tenant.validate().map_err(|e| e.to_string())?;
    let ctx = RequestCtx::system();
    let answer = with_offline_runtime(settings, async |runtime| {
        let manager = runtime.manager().get().ok_or("the runtime did not start")?;
        match manager
            .call(
                |reply| ManagerMsg::Create { tenant, ctx, reply },
                Some(Duration::from_secs(30)),
            )
            .await
        {
            Ok(CallResult::Success(Ok(Reply::Meta(meta)))) => Ok(meta),
            Ok(CallResult::Success(Err(err))) => Err(err.to_string()),
            _ => Err("the runtime did not answer".to_owned()),
        }
    })
    .await
    .map_err(|e| e.to_string())??;
    let base = settings
        .base_domain
        .clone()
        .unwrap_or_else(|| "localhost".into());
    println!("created tenant '{}' ({})", answer.slug, answer.name);
    println!(
        "it answers at http://{}.{base}/ and on its hosts; add its first admin with",
        answer.slug
    );
    println!(
        "  POST /admin/api/tenants/{}/members  {{\"name\",\"email\",\"role\":\"admin\"}}",
        answer.slug
    );
    Ok(())
}

async fn list_tenants(settings: &Settings) -> Result<(), String> {
    let views = with_offline_runtime(settings, async |runtime| {
        let manager = runtime.manager().get()?;
        match manager
            .call(ManagerMsg::List, Some(Duration::from_secs(30)))
            .await
        {
            Ok(CallResult::Success(views)) => Some(views),
            _ => None,
        }
    })
    .await
    .map_err(|e| e.to_string())?
    .ok_or("the runtime did not answer")?;
    for view in views {
        let state = serde_json::to_value(view.state).unwrap_or_default();
        println!("{}\t{}", view.slug, state.as_str().unwrap_or("?"));
    }
    Ok(())
}

fn verify_audit(settings: &Settings, slug: &str) -> Result<(), String> {
    let slug = Slug::parse(slug).map_err(|e| e.to_string())?;
    let path = TenantPaths::new(&settings.data_dir, &slug).audit();
    match verify_file(&path) {
        Ok(report) => {
            println!(
                "audit trail of '{slug}' is intact: {} lines, last seq {}, last hash {}",
                report.lines, report.last_seq, report.last_hash
            );
            Ok(())
        }
        Err(err) => Err(format!("audit trail of '{slug}' is broken at {err}")),
    }
}
