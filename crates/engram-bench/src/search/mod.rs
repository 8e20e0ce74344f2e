//! `engram-bench search`: Engram's side of the search benchmark. It runs
//! every workload through the engine's public API (documents written with
//! their vectors and text, searched with `Space::search`) and writes the
//! figures as JSON for `bench/search/report.py`, which sets them beside the
//! peers' (hnswlib, tantivy, SQLite FTS5) measured by the same script.

mod data;
mod hybrid;
mod kernel;
mod knn;
mod open;
pub mod replay;
mod text;

use clap::Parser;
use engram::{Engine, EngineConfig, Space};
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "engram-bench search")]
pub struct SearchArgs {
    /// Prepared data (bench/search/prepare.py).
    #[arg(long)]
    pub data: PathBuf,
    /// Where the JSON results go.
    #[arg(long)]
    pub out: PathBuf,
    /// Workloads to run, comma-separated: knn,filtered,kernel,text,hybrid,open.
    #[arg(long, default_value = "knn,filtered,kernel,text,hybrid")]
    pub only: String,
    /// Queries per measurement (at most the prepared 1000).
    #[arg(long, default_value_t = 1000)]
    pub queries: usize,
    /// Vectors in the open-time workload.
    #[arg(long, default_value_t = 1_000_000)]
    pub open_vectors: usize,
    /// Dimensions in the open-time workload.
    #[arg(long, default_value_t = 64)]
    pub open_dims: usize,
    /// Sentences file of the MiniLM set (for hybrid query text).
    #[arg(long, default_value = "/work/shared/data/minilm-nlpcorpus/sentences.json")]
    pub sentences: PathBuf,
    /// Parent of scratch data directories.
    #[arg(long, default_value = crate::args::DEFAULT_BASE_DIR)]
    pub dir: PathBuf,
}

impl SearchArgs {
    fn runs(&self, what: &str) -> bool {
        self.only.split(',').any(|w| w.trim() == what)
    }
}

/// Entry point for `engram-bench search ...`.
pub fn main(argv: Vec<String>) {
    let args = SearchArgs::parse_from(argv);
    std::fs::create_dir_all(&args.dir).expect("scratch parent");
    let mut out = Map::new();
    out.insert("date".into(), json!(chrono_like_now()));
    if args.runs("knn") || args.runs("filtered") {
        let (fashion, filtered) = knn::fashion(&args);
        let mut knn_out = Map::new();
        knn_out.insert("fashion".into(), fashion);
        if args.runs("filtered") {
            out.insert("filtered".into(), json!({ "fashion": filtered }));
        }
        if args.runs("knn") {
            knn_out.insert("minilm".into(), knn::minilm(&args));
            out.insert("knn".into(), Value::Object(knn_out));
        }
        save(&args, &out);
    }
    if args.runs("kernel") {
        out.insert("exact_kernel".into(), kernel::run(&args));
        save(&args, &out);
    }
    if args.runs("text") {
        out.insert("text".into(), text::run(&args));
        save(&args, &out);
    }
    if args.runs("hybrid") {
        out.insert("hybrid".into(), hybrid::run(&args));
        save(&args, &out);
    }
    if args.runs("open") {
        out.insert("open".into(), open::run(&args));
        save(&args, &out);
    }
    println!("{}", serde_json::to_string_pretty(&out).expect("JSON"));
}

fn save(args: &SearchArgs, out: &Map<String, Value>) {
    let text = serde_json::to_string_pretty(out).expect("JSON");
    std::fs::write(&args.out, text).unwrap_or_else(|e| panic!("{}: {e}", args.out.display()));
}

fn chrono_like_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A fresh engine on a scratch data directory with the background indexer
/// effectively off, so index builds are timed where the benchmark asks.
pub fn scratch_engine(args: &SearchArgs, name: &str) -> (Engine, Space, tempfile::TempDir) {
    let dir = tempfile::Builder::new().prefix(name).tempdir_in(&args.dir).expect("scratch dir");
    let mut config = EngineConfig::dir(dir.path());
    config.index_interval = Duration::from_secs(3600);
    let engine = Engine::open(config).expect("open engine");
    engine.create_space("bench").expect("space");
    let space = engine.space("bench").expect("space");
    (engine, space, dir)
}

/// Writes documents in transactions of `batch`.
pub fn ingest(space: &Space, coll: &str, docs: impl Iterator<Item = (String, Value)>, batch: usize) {
    let mut ops = Vec::with_capacity(batch);
    for (id, body) in docs {
        ops.push(engram::Op::Put { collection: coll.into(), id, body, expect: engram::Expect::Any, ttl_seconds: None });
        if ops.len() == batch {
            space.commit(std::mem::take(&mut ops), None).expect("ingest");
        }
    }
    if !ops.is_empty() {
        space.commit(ops, None).expect("ingest");
    }
}

/// Percentile of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}
