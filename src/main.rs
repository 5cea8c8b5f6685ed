//! The `majlis` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    majlis::cli::run(majlis::cli::Cli::parse()).await
}
