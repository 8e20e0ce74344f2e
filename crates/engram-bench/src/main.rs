//! `engram-bench`: Engram against plain rusqlite, side by side in one
//! process on the same disk, reported as ratios measured in the same run.
//!
//! Disk timings on a shared machine swing widely from minute to minute, so
//! no absolute figure is a result: every result is the ratio of two sides
//! measured back to back, in interleaved rounds, and the median is kept.

mod args;
mod audit;
mod bulk;
mod data;
mod disk;
mod durable;
mod engram_side;
mod graph;
mod measure;
mod objects;
mod peer;
mod postgres;
mod queues;
mod report;
mod search;

use args::{Args, Workload};
use clap::Parser;
use std::path::Path;

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("search") {
        return search::main(argv[1..].to_vec());
    }
    if argv.get(1).map(String::as_str) == Some("replay") {
        return search::replay::main(argv[1..].to_vec());
    }
    if argv.get(1).map(String::as_str) == Some("graph") {
        return graph::main(argv[1..].to_vec());
    }
    if argv.get(1).map(String::as_str) == Some("postgres") {
        return postgres::main(argv[1..].to_vec());
    }
    if argv.get(1).map(String::as_str) == Some("queues") {
        return queues::main(argv[1..].to_vec());
    }
    if argv.get(1).map(String::as_str) == Some("audit") {
        return audit::main(argv[1..].to_vec());
    }
    if argv.get(1).map(String::as_str) == Some("objects") {
        return objects::main(argv[1..].to_vec());
    }
    let args = Args::parse();
    if let Err(e) = args.validate() {
        eprintln!("engram-bench: {e}");
        std::process::exit(2);
    }
    std::fs::create_dir_all(&args.dir).expect("create the scratch parent directory");
    let scratch = tempfile::Builder::new().prefix("run-").tempdir_in(&args.dir).expect("create the scratch directory");
    print_header(&args, scratch.path());
    let started = std::time::Instant::now();
    let mut comparisons = Vec::new();
    if args.runs(Workload::Bulk) {
        comparisons.extend(bulk::run(&args, scratch.path()));
    }
    if args.runs(Workload::Single) || args.runs(Workload::Group) {
        comparisons.extend(durable::run(&args, scratch.path()));
    }
    report::print_summary(&comparisons);
    println!("total time: {:.0} s", started.elapsed().as_secs_f64());
    if args.keep {
        println!("scratch data kept in {}", scratch.keep().display());
    }
}

/// The command line, machine, library and disk the figures come from.
fn print_header(args: &Args, scratch: &Path) {
    let command: Vec<String> = std::env::args().collect();
    println!("command: {}", command.join(" "));
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!("cores: {cores}; SQLite {} (bundled, linked by both sides); rounds: {}", rusqlite::version(), args.rounds);
    println!("scratch: {}", scratch.display());
    match disk::filesystem_of(scratch) {
        Some((mount, fstype, device)) => {
            println!("filesystem: {fstype} on {device}, mounted at {mount}");
            if fstype == "tmpfs" || fstype == "ramfs" {
                println!(
                    "WARNING: the scratch directory is in memory: fdatasync costs nothing there; use --dir on a real disk"
                );
            }
        }
        None => println!("filesystem: unknown"),
    }
    let schema =
        if args.peer_rowid { "rowid table + primary-key index" } else { "WITHOUT ROWID (clustered, like Engram's)" };
    println!(
        "peer: plain rusqlite, journal_mode=WAL, synchronous=FULL, cache_size=16 MiB, table docs(id TEXT PRIMARY KEY, body TEXT NOT NULL) {schema}"
    );
    println!("Engram: SqliteBackend with default options (WAL, synchronous=FULL, group commit), background purge on");
}
