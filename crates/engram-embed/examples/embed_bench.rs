//! The local embedder's speed on the MiniLM fixture sentences, as JSON on
//! standard output: sentences per second in batches of 32, CPU seconds per
//! sentence, the p50 latency of one short sentence, and peak memory.
//! `python/bench/bench_embed.py` runs it beside sentence-transformers.
//!
//! `cargo run --release -p engram-embed --example embed_bench -- DIR [THREADS] [N]`

use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).expect("usage: embed_bench MODEL_DIR [THREADS] [N]");
    let threads: usize = args.get(2).map_or(1, |t| t.parse().expect("threads"));
    let n: usize = args.get(3).map_or(2000, |t| t.parse().expect("n"));
    let loaded = Instant::now();
    let (_, e) = engram_embed::parse(&format!("m=local:{dir},threads={threads}")).expect("model loads");
    let load_ms = loaded.elapsed().as_secs_f64() * 1e3;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/minilm-5000.json");
    let sentences: Vec<String> = serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("json");
    let sentences = &sentences[..n.min(sentences.len())];
    e.embed(sentences[..64].to_vec()).expect("warm-up");
    // Throughput: calls of 32 sentences, `threads` callers at once (each
    // worker thread takes one batch at a time).
    let (cpu0, start) = (cpu_seconds(), Instant::now());
    std::thread::scope(|s| {
        for part in sentences.chunks(sentences.len().div_ceil(threads)) {
            let e = &e;
            s.spawn(move || {
                for batch in part.chunks(32) {
                    e.embed(batch.to_vec()).expect("embeds");
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    // Latency of one short sentence, one call at a time.
    let mut lat: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            e.embed(vec!["Where did I leave my keys?".to_owned()]).expect("embeds");
            t.elapsed()
        })
        .collect();
    lat.sort();
    let out = serde_json::json!({
        "threads": threads,
        "sentences": sentences.len(),
        "sentences_per_second": sentences.len() as f64 / secs,
        "cpu_ms_per_sentence": cpu * 1e3 / sentences.len() as f64,
        "short_p50_ms": lat[lat.len() / 2].as_secs_f64() * 1e3,
        "peak_rss_mb": peak_rss_mb(),
        "load_ms": load_ms,
    });
    println!("{out}");
}

/// This process's CPU time (user + system), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line (11 and 12 after the name).
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory (VmHWM), in MiB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
