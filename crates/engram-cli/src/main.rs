//! The `engram` command line: `engram serve`, and commands for scripts and
//! people that work on a data directory directly or through a running server.

mod args;
mod audit;
mod client;
mod commands;
mod config_file;
mod copy;
mod feed;
mod mcp;
mod memory;
mod object;
mod progress;
mod queue;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv = match config_file::with_file_settings(std::env::args().collect()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = args::Cli::parse_from(argv);
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
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if cli.log_format == "json" {
        fmt.json().flatten_event(true).with_current_span(true).init();
    } else {
        fmt.init();
    }
}
