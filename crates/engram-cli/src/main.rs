//! The `engram` command line: `engram serve`, and commands for scripts and
//! people that work on a data directory directly or through a running server.

mod args;
mod client;
mod commands;
mod memory;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    init_logging(&cli);
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(cli: &args::Cli) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ENGRAM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(if cli.verbose { "debug" } else { "info" }));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
