//! The `majlis` binary: parse the command line and settings, set up the process, and hand over to
//! the library.

use std::process::ExitCode;

use clap::Parser;
use majlis::cli::{Cli, Command};
use majlis::config::Settings;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, None | Some(Command::Serve));
    if serving {
        // Before any thread exists: the server runs with few allocator arenas.
        majlis::allocator::limit_arenas();
    }
    let mut loaded = match Settings::load(cli.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("majlis: {err}");
            return ExitCode::from(2);
        }
    };
    if serving {
        // Before the runtime's threads exist, so that they inherit it.
        if let Err(err) = majlis::scheduling::apply(loaded.settings.sched_policy) {
            loaded
                .warnings
                .push(format!("{err}; the system's default applies"));
        }
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
    runtime.block_on(majlis::cli::run(cli, loaded))
}
