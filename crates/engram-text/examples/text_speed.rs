//! Benchmark on the GNU Collaborative International Dictionary of English: indexing docs/s, query QPS and
//! MRR@10 of known-item queries (the 3 rarest words of a random entry).
//!
//! Prepare: `apt-get install dict-gcide && zcat /usr/share/dictd/gcide.dict.dz > /tmp/gcide.dict`, then
//! `cargo run --release -p engram-text --example text_speed -- /tmp/gcide.dict [gcide.index] [--dump DIR]`.
//! `--dump DIR` writes `docs.tsv` and `queries.tsv` so other engines can run the same workload.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::time::Instant;

use engram_text::TextIndex;

const DEFAULT_INDEX: &str = "/usr/share/dictd/gcide.index";
const QUERIES: usize = 1000;
const QUERY_PASSES: usize = 5;
const K: usize = 10;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dict_path) = args.first().filter(|p| fs::metadata(p).is_ok()) else {
        println!("usage: text_speed <plain gcide.dict> [gcide.index] [--dump DIR]  (see the file's header)");
        return Ok(());
    };
    let index_path = args.get(1).filter(|a| !a.starts_with("--")).map_or(DEFAULT_INDEX, String::as_str);
    let dump = args.iter().position(|a| a == "--dump").and_then(|i| args.get(i + 1));
    let docs = load_entries(&fs::read(dict_path)?, &fs::read_to_string(index_path)?);
    println!("{} entries, {:.1} MB of text", docs.len(), docs.iter().map(String::len).sum::<usize>() as f64 / 1e6);

    let index = build_index(&docs)?;
    let queries = known_item_queries(&index, &docs);
    if let Some(dir) = dump {
        dump_workload(dir, &docs, &queries)?;
    }
    run_queries(&index, &queries)?;
    persistence(&index)?;
    Ok(())
}

/// One document per distinct (offset, length) of the dictd index, metadata entries skipped.
fn load_entries(dict: &[u8], dict_index: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut docs = Vec::new();
    for line in dict_index.lines().filter(|l| !l.starts_with("00-database") && !l.starts_with("00database")) {
        let mut parts = line.split('\t').skip(1);
        let (Some(off), Some(len)) = (parts.next().map(base64), parts.next().map(base64)) else { continue };
        if off + len <= dict.len() && seen.insert((off, len)) {
            docs.push(String::from_utf8_lossy(&dict[off..off + len]).into_owned());
        }
    }
    docs
}

/// dictd's base-64 numbers: most significant digit first.
fn base64(s: &str) -> usize {
    const DIGITS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    s.chars().fold(0, |n, c| n * 64 + DIGITS.find(c).unwrap_or(0))
}

fn build_index(docs: &[String]) -> Result<TextIndex, Box<dyn std::error::Error>> {
    let mut index = TextIndex::new(&["body"])?;
    let start = Instant::now();
    for (key, text) in docs.iter().enumerate() {
        index.upsert(u32::try_from(key)?, &[(0, text)])?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("indexing: {:.2} s, {:.0} docs/s, {} terms", secs, docs.len() as f64 / secs, index.term_count());
    Ok(index)
}

/// SplitMix64, seeded, so every run asks the same queries.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `(target key, "w1 w2 w3")`: the three rarest distinct words of a random entry.
fn known_item_queries(index: &TextIndex, docs: &[String]) -> Vec<(u32, String)> {
    let mut state = 42u64;
    let mut out = Vec::with_capacity(QUERIES);
    while out.len() < QUERIES {
        let key = (next_random(&mut state) % docs.len() as u64) as usize;
        let mut words: Vec<String> = engram_text::tokenize(&docs[key]).map(|t| t.text.into_owned()).collect();
        words.sort_unstable();
        words.dedup();
        words.sort_by_cached_key(|w| (index.postings_len(w), w.clone()));
        if words.len() >= 3 {
            out.push((key as u32, words[..3].join(" ")));
        }
    }
    out
}

fn run_queries(index: &TextIndex, queries: &[(u32, String)]) -> Result<(), Box<dyn std::error::Error>> {
    let mut reciprocal = 0.0;
    for (target, q) in queries {
        let hits = index.search(&index.parse_query(q)?, K, &[], None);
        if let Some(rank) = hits.iter().position(|h| h.0 == *target) {
            reciprocal += 1.0 / (rank + 1) as f64;
        }
    }
    let start = Instant::now();
    let mut found = 0;
    for _ in 0..QUERY_PASSES {
        for (_, q) in queries {
            found += index.search(&index.parse_query(q)?, K, &[], None).len();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let n = (QUERY_PASSES * queries.len()) as f64;
    println!(
        "queries: {:.0} QPS ({:.1} µs each, {found} hits), MRR@10 {:.4}",
        n / secs,
        secs / n * 1e6,
        reciprocal / queries.len() as f64
    );
    Ok(())
}

fn persistence(index: &TextIndex) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let mut bytes = Vec::new();
    index.write_to(&mut bytes)?;
    let written = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let loaded = TextIndex::read_from(&mut bytes.as_slice())?;
    let read = start.elapsed().as_secs_f64();
    println!(
        "persist: {:.1} MB, write {:.2} s, read {:.2} s ({} docs)",
        bytes.len() as f64 / 1e6,
        written,
        read,
        loaded.len()
    );
    Ok(())
}

fn dump_workload(dir: &str, docs: &[String], queries: &[(u32, String)]) -> Result<(), Box<dyn std::error::Error>> {
    fs::create_dir_all(dir)?;
    let mut out = std::io::BufWriter::new(fs::File::create(format!("{dir}/docs.tsv"))?);
    for (key, text) in docs.iter().enumerate() {
        writeln!(out, "{key}\t{}", text.replace(['\t', '\n', '\r'], " "))?;
    }
    let mut out = std::io::BufWriter::new(fs::File::create(format!("{dir}/queries.tsv"))?);
    for (key, q) in queries {
        writeln!(out, "{key}\t{q}")?;
    }
    Ok(())
}
