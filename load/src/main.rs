//! `majlis-load`: the load testing harness. Its scenarios (read, write, mixed, hot-tenant, spread,
//! activation, login, connections, chaos, smoke) arrive with the harness; for now it says so.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "majlis-load: no scenarios yet; the crash test in tests/crash.rs exercises kill -9 recovery"
    );
    ExitCode::from(2)
}
