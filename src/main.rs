//! The `majlis` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: fewer cycles per allocation than the system allocator on the request path, and it
/// hands memory back to the system once passivated tenants have freed it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    majlis::cli::run(majlis::cli::Cli::parse()).await
}
