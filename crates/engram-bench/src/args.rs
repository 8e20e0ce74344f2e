//! Command-line flags of the benchmark.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

/// Where scratch data goes by default: the workspace's target directory, on
/// the same disk as real data (never /tmp, which may be a tmpfs).
pub const DEFAULT_BASE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/bench-data");

/// Engram against plain rusqlite, side by side in one process, as ratios.
#[derive(Debug, Clone, Parser)]
#[command(name = "engram-bench", version, about)]
pub struct Args {
    /// Documents bulk-inserted (and then read back at random).
    #[arg(long, default_value_t = 1_000_000)]
    pub docs: usize,
    /// Random point gets after the bulk insert.
    #[arg(long, default_value_t = 1_000_000)]
    pub gets: usize,
    /// Single durable writes, one at a time (also the fdatasync probe's count).
    #[arg(long, default_value_t = 2_000)]
    pub single_writes: usize,
    /// Concurrent writer threads in the group-commit workload.
    #[arg(long, default_value_t = 64)]
    pub writers: usize,
    /// Sequential single-document writes each concurrent Engram writer commits.
    #[arg(long, default_value_t = 200)]
    pub concurrent_writes_per_writer: usize,
    /// The same for each concurrent plain-rusqlite writer (context only: it
    /// runs at a few hundred writes per second, so fewer keep the run short).
    #[arg(long, default_value_t = 25)]
    pub peer_writes_per_writer: usize,
    /// Parent directory of the run's fresh scratch directory.
    #[arg(long, default_value = DEFAULT_BASE_DIR)]
    pub dir: PathBuf,
    /// Interleaved repetitions of every workload (Engram and peer alternate first).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Run one workload only.
    #[arg(long, value_enum)]
    pub only: Option<Workload>,
    /// Give the peer a rowid table with a separate primary-key index instead
    /// of a clustered WITHOUT ROWID table like Engram's own (a weaker peer).
    #[arg(long)]
    pub peer_rowid: bool,
    /// Keep the scratch directory after the run.
    #[arg(long)]
    pub keep: bool,
    /// Seed of the shuffled insert order and of the random gets.
    #[arg(long, default_value_t = 20_261_123)]
    pub seed: u64,
}

/// The workloads `--only` can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Bulk insert of `--docs` documents, then `--gets` random point gets.
    Bulk,
    /// Single durable writes one at a time, with the fdatasync probe.
    Single,
    /// Concurrent writers (group commit), against one-at-a-time writes.
    Group,
}

impl Args {
    /// Whether `w` runs in this invocation.
    pub fn runs(&self, w: Workload) -> bool {
        self.only.is_none_or(|o| o == w)
    }

    /// Checks values clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("--docs", self.docs),
            ("--single-writes", self.single_writes),
            ("--writers", self.writers),
            ("--concurrent-writes-per-writer", self.concurrent_writes_per_writer),
            ("--peer-writes-per-writer", self.peer_writes_per_writer),
            ("--rounds", self.rounds),
        ];
        match positive.iter().find(|(_, v)| *v == 0) {
            Some((name, _)) => Err(format!("{name} must be at least 1")),
            None => Ok(()),
        }
    }
}
