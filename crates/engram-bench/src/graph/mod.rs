//! `engram-bench graph`: the memory-model benchmark. WordNet traversals
//! through Engram's API against the same queries issued to SQLite directly
//! (an indexed adjacency table and recursive CTEs), and event appends and
//! range reads against plain SQLite inserts and range scans, side by side
//! in one process. Kùzu runs in `bench/graph/kuzu_peer.py`; the script
//! `scripts/bench-graph` prints both.

mod events;
mod traversal;
mod wordnet;

use clap::Parser;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "engram-bench graph")]
pub struct GraphArgs {
    /// Prepared WordNet data (bench/graph/prepare.py).
    #[arg(long, default_value = "target/bench-data/wordnet")]
    pub data: PathBuf,
    /// Workloads, comma-separated: traversal,events.
    #[arg(long, default_value = "traversal,events")]
    pub only: String,
    /// Timed traversal queries (at most the prepared 1000).
    #[arg(long, default_value_t = 1000)]
    pub queries: usize,
    /// Events appended in the batched workload.
    #[arg(long, default_value_t = 100_000)]
    pub events: usize,
    /// Events per batch in the batched workload.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Events appended one durable append at a time.
    #[arg(long, default_value_t = 2_000)]
    pub single_events: usize,
    /// Interleaved rounds of each measurement.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Parent of scratch data directories (on a real disk).
    #[arg(long, default_value = crate::args::DEFAULT_BASE_DIR)]
    pub dir: PathBuf,
}

/// Entry point for `engram-bench graph ...`.
pub fn main(argv: Vec<String>) {
    let args = GraphArgs::parse_from(argv);
    std::fs::create_dir_all(&args.dir).expect("scratch parent");
    println!("command: {}", std::env::args().collect::<Vec<_>>().join(" "));
    println!("SQLite {} (bundled; both sides), WAL, synchronous=FULL", rusqlite::version());
    let runs = |w: &str| args.only.split(',').any(|x| x.trim() == w);
    if runs("traversal") {
        traversal::run(&args);
    }
    if runs("events") {
        events::run(&args);
    }
}

/// The p-th percentile (0..=100) of sorted microsecond latencies.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A scratch directory on the benchmark disk.
pub fn scratch(args: &GraphArgs, prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir_in(&args.dir).expect("scratch directory")
}

/// Opens a plain rusqlite database with the settings Engram uses.
pub fn peer_db(path: &std::path::Path) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(path).expect("open peer database");
    db.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-16384;")
        .expect("peer pragmas");
    db
}
