//! The `majlis` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;
use majlis::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, None | Some(Command::Serve)) {
        // Before any thread exists: the server runs with few allocator arenas.
        majlis::allocator::limit_arenas();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Threads that did file work in a burst of activations (and their stacks) go soon after.
        .thread_keep_alive(std::time::Duration::from_secs(1))
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("majlis: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(majlis::cli::run(cli))
}
