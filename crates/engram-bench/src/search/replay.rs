//! `engram-bench replay`: what the first search costs after an unclean
//! stop, when the saved search index is behind the change log.
//!
//! A base data directory gets `--docs` documents (a text field and a
//! 384-dimension cosine vector each) and a saved search index. For each
//! `--unsaved` count U, the base is copied, U more documents are written and
//! the live engine catches its index up in memory (the background indexer's
//! work) without saving it. The data directory is then copied while the
//! engine is still open, as a crash would leave it: SQLite's database and
//! write-ahead log as synced by the commits (no `-shm`), and the search
//! index file as last saved. The copy is opened and timed: the open, the
//! first search (load the file, replay the U entries after its position),
//! a second search, saving the caught-up index, and a full rebuild.
//!
//! Documents are the MiniLM sentences and their embeddings
//! (`/work/shared/data/minilm-nlpcorpus`); without that file, seeded random
//! unit vectors and generated text stand in.

use clap::Parser;
use engram::{
    CollectionSpec, EmbeddingModel, Engine, EngineConfig, HnswSpec, SearchRequest, SearchSpec, Space, TextFieldSpec,
    VectorFieldSpec, VectorMetric,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SPACE: &str = "bench";
const COLL: &str = "s";

#[derive(Debug, Parser)]
#[command(name = "engram-bench replay")]
pub struct ReplayArgs {
    /// Documents in the saved index.
    #[arg(long, default_value_t = 20_000)]
    pub docs: usize,
    /// Documents written after the save, one run each, comma-separated.
    #[arg(long, default_value = "0,1000,10000,50000")]
    pub unsaved: String,
    /// Documents per bulk put.
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// MiniLM embeddings (float16 .npy, rows match `--sentences`).
    #[arg(long, default_value = "/work/shared/data/minilm-nlpcorpus/embeddings-f16.npy")]
    pub embeddings: PathBuf,
    /// MiniLM sentences (JSON array).
    #[arg(long, default_value = "/work/shared/data/minilm-nlpcorpus/sentences.json")]
    pub sentences: PathBuf,
    /// Documents written as fast as possible with the background indexer at
    /// its defaults (it saves as its policy says), then an unclean stop once
    /// it has caught up; 0 skips this run.
    #[arg(long, default_value_t = 50_000)]
    pub policy_docs: usize,
    /// Parent of the scratch data directories.
    #[arg(long, default_value = crate::args::DEFAULT_BASE_DIR)]
    pub dir: PathBuf,
}

/// The documents written: text and a unit vector per row.
struct Corpus {
    text: Vec<String>,
    vectors: Vec<Vec<f32>>,
}

impl Corpus {
    fn doc(&self, i: usize) -> (String, Value) {
        let row = i % self.text.len();
        (format!("d{i}"), json!({"text": self.text[row], "v": self.vectors[row]}))
    }
}

/// One run's figures.
struct Row {
    unsaved_docs: usize,
    entries: u64,
    live_catch_up_ms: f64,
    open_ms: f64,
    first_ms: f64,
    second_ms: f64,
    save_ms: f64,
    rebuild_ms: f64,
}

pub fn main(argv: Vec<String>) {
    let args = ReplayArgs::parse_from(argv);
    let unsaved: Vec<usize> =
        args.unsaved.split(',').map(|s| s.trim().parse().expect("--unsaved: comma-separated counts")).collect();
    let max_unsaved = unsaved.iter().copied().max().unwrap_or(0);
    std::fs::create_dir_all(&args.dir).expect("scratch parent");
    let scratch = tempfile::Builder::new().prefix("replay-").tempdir_in(&args.dir).expect("scratch dir");
    println!("command: {}", std::env::args().collect::<Vec<_>>().join(" "));
    println!("cores: {}", std::thread::available_parallelism().map_or(0, std::num::NonZero::get));
    let corpus = corpus(&args, args.docs + max_unsaved);
    let req = request(&corpus);

    // The base: `docs` documents, index built and saved, closed cleanly.
    let base = scratch.path().join("base");
    let engine = open(&base);
    engine.create_space(SPACE).expect("space");
    let space = engine.space(SPACE).expect("space");
    space.create_collection(COLL, spec()).expect("collection");
    let t = Instant::now();
    write(&space, &corpus, 0..args.docs, args.batch);
    let ingest_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let base_position = space.search_index_status(COLL).expect("build").position;
    let build_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    space.save_search_index().expect("save");
    let save_ms = ms(t);
    let file_bytes = index_bytes(&base);
    println!(
        "base: {} docs written in {ingest_s:.1} s, index built in {build_s:.1} s, saved in {save_ms:.0} ms \
         ({:.1} MB), at log position {base_position}",
        args.docs,
        file_bytes as f64 / 1e6
    );
    drop(space);
    engine.close();

    let mut rows = Vec::new();
    for &u in &unsaved {
        rows.push(run(&args, &corpus, &req, scratch.path(), &base, base_position, file_bytes, u));
    }
    print_table(&rows);
    if args.policy_docs > 0 {
        policy(&args, &corpus, &req, scratch.path(), &base, base_position);
    }
}

/// Writes with the background indexer at its defaults, samples how far
/// the saved file is behind, and stops uncleanly once the indexer is
/// caught up.
fn policy(args: &ReplayArgs, corpus: &Corpus, req: &SearchRequest, scratch: &Path, base: &Path, base_position: u64) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let u = args.policy_docs;
    let live_dir = scratch.join("policy-live");
    let crash_dir = scratch.join("policy-crash");
    copy_dir(base, &live_dir, false);
    let engine = Engine::open(EngineConfig::dir(&live_dir)).expect("open engine");
    let space = engine.space(SPACE).expect("space");
    let committed = AtomicU64::new(0);
    let started = Instant::now();
    let (mut max_behind, mut max_unsaved, mut saves, mut last_file) = (0u64, 0u64, 0u32, base_position);
    let mut write_s = 0.0;
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let docs: Vec<(String, Value)> = (args.docs..args.docs + u).map(|i| corpus.doc(i)).collect();
            for chunk in docs.chunks(args.batch) {
                space.bulk_put(COLL, chunk.to_vec(), None).expect("bulk put");
                committed.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
            started.elapsed().as_secs_f64()
        });
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let lag = engine.stats().index_lag.iter().find(|(_, kind, _)| *kind == "search").map(|l| l.2);
            let head = base_position + committed.load(Ordering::SeqCst);
            let file = file_position(&live_dir);
            if file != last_file {
                saves += 1;
                last_file = file;
            }
            max_behind = max_behind.max(head.saturating_sub(file));
            if let Some(lag) = lag {
                max_unsaved = max_unsaved.max(head.saturating_sub(lag).saturating_sub(file));
            }
            if writer.is_finished() && lag == Some(0) && committed.load(Ordering::SeqCst) == u as u64 {
                break;
            }
        }
        write_s = writer.join().expect("writer");
    });
    let indexed_s = started.elapsed().as_secs_f64();
    copy_dir(&live_dir, &crash_dir, true);
    let file = file_position(&crash_dir);
    drop(space);
    engine.close();
    std::fs::remove_dir_all(&live_dir).expect("remove the live copy");
    let engine = open(&crash_dir);
    let space = engine.space(SPACE).expect("space");
    let t = Instant::now();
    space.search(COLL, req).expect("first search");
    let first_ms = ms(t);
    let head = space.search_index_status(COLL).expect("status").position;
    assert_eq!(engine.stats().search_files.discarded, 0);
    drop(space);
    engine.close();
    std::fs::remove_dir_all(&crash_dir).expect("remove the crash copy");
    println!();
    println!(
        "with the background indexer at its defaults: {u} docs written in {write_s:.1} s, indexed by {indexed_s:.1} s, \
         {saves} saves seen; saved file at most {max_behind} entries behind the log (at most ~{max_unsaved} of them \
         applied but unsaved); unclean stop once caught up: {} entries replayed, first search {first_ms:.0} ms",
        head - file
    );
}

/// The change-log position recorded in a data directory's saved index
/// (bytes 20..28 of `search/space-N.idx`: after magic, format, space id).
fn file_position(data_dir: &Path) -> u64 {
    let file = std::fs::read_dir(data_dir.join("search"))
        .expect("search dir")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".idx"))
        .expect("an index file");
    let mut header = [0u8; 28];
    std::io::Read::read_exact(&mut std::fs::File::open(file.path()).expect("open index file"), &mut header)
        .expect("read header");
    u64::from_le_bytes(header[20..28].try_into().expect("8 bytes"))
}

/// One unclean stop with `u` documents written after the save.
#[allow(clippy::too_many_arguments)]
fn run(
    args: &ReplayArgs,
    corpus: &Corpus,
    req: &SearchRequest,
    scratch: &Path,
    base: &Path,
    base_position: u64,
    base_file_bytes: u64,
    u: usize,
) -> Row {
    eprintln!("unsaved {u}:");
    let live_dir = scratch.join(format!("live-{u}"));
    let crash_dir = scratch.join(format!("crash-{u}"));
    copy_dir(base, &live_dir, false);
    let engine = open(&live_dir);
    let space = engine.space(SPACE).expect("space");
    write(&space, corpus, args.docs..args.docs + u, args.batch);
    // The background indexer's work: applied in memory, not saved.
    let t = Instant::now();
    let crash_position = space.search_index_status(COLL).expect("catch up").position;
    let live_catch_up_ms = ms(t);
    assert_eq!(index_bytes(&live_dir), base_file_bytes, "nothing saved the index since the base");
    copy_dir(&live_dir, &crash_dir, true);
    assert_eq!(file_position(&crash_dir), base_position, "the crash copy's index file is the base's");
    drop(space);
    engine.close();
    std::fs::remove_dir_all(&live_dir).expect("remove the live copy");

    let t = Instant::now();
    let engine = open(&crash_dir);
    let space = engine.space(SPACE).expect("space");
    let open_ms = ms(t);
    let t = Instant::now();
    let first = space.search(COLL, req).expect("first search");
    let first_ms = ms(t);
    let t = Instant::now();
    let second = space.search(COLL, req).expect("second search");
    let second_ms = ms(t);
    assert_eq!(ids(&first), ids(&second), "both searches answer alike");
    assert_eq!(first.hits.len(), 10);
    let files = engine.stats().search_files;
    assert_eq!((files.loaded, files.discarded), (1, 0), "the saved file was loaded, not rebuilt");
    let status = space.search_index_status(COLL).expect("status");
    assert_eq!(status.position, crash_position, "caught up to the log's head");
    assert_eq!(status.documents, (args.docs + u) as u64);
    let t = Instant::now();
    space.save_search_index().expect("save");
    let save_ms = ms(t);
    let t = Instant::now();
    space.rebuild_search_index().expect("rebuild");
    let rebuild_ms = ms(t);
    drop(space);
    engine.close();
    let row = Row {
        unsaved_docs: u,
        entries: crash_position - base_position,
        live_catch_up_ms,
        open_ms,
        first_ms,
        second_ms,
        save_ms,
        rebuild_ms,
    };
    std::fs::remove_dir_all(&crash_dir).expect("remove the crash copy");
    eprintln!(
        "  {} entries: live catch-up {:.0} ms; open {:.0} ms, first search {:.0} ms, second {:.1} ms, \
         save {:.0} ms, rebuild {:.0} ms",
        row.entries, live_catch_up_ms, open_ms, first_ms, second_ms, save_ms, rebuild_ms
    );
    row
}

fn print_table(rows: &[Row]) {
    // The first search of the run with nothing to replay is the load alone.
    let load_ms = rows.iter().find(|r| r.entries == 0).map(|r| r.first_ms);
    println!();
    println!(
        "| unsaved docs | entries replayed | open ms | first search ms (load + replay) | second search ms | \
         replay rate (entries/s) | ms per 10k entries | live catch-up ms | save after ms | full rebuild ms |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let replay_ms = r.first_ms - load_ms.unwrap_or(0.0);
        let (rate, per_10k) = if r.entries == 0 || replay_ms <= 0.0 {
            ("—".to_owned(), "—".to_owned())
        } else {
            (
                format!("{:.0}", r.entries as f64 / (replay_ms / 1000.0)),
                format!("{:.0}", replay_ms / r.entries as f64 * 10_000.0),
            )
        };
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.1} | {rate} | {per_10k} | {:.0} | {:.0} | {:.0} |",
            r.unsaved_docs, r.entries, r.open_ms, r.first_ms, r.second_ms, r.live_catch_up_ms, r.save_ms, r.rebuild_ms
        );
    }
    match load_ms {
        Some(l) => println!("replay rate = entries / (first search − first search with nothing to replay, {l:.0} ms)"),
        None => println!("replay rate = entries / first search (no run without unsaved entries to subtract)"),
    }
}

/// An engine on `dir` whose background workers never run during the
/// measurement (the indexer would otherwise save on its own).
fn open(dir: &Path) -> Engine {
    let mut config = EngineConfig::dir(dir);
    config.index_interval = Duration::from_secs(3600);
    config.index_save_interval = Duration::from_secs(3600);
    config.purge_interval = Duration::from_secs(3600);
    Engine::open(config).expect("open engine")
}

fn spec() -> CollectionSpec {
    CollectionSpec {
        search: Some(SearchSpec {
            text: vec![TextFieldSpec { path: "text".into(), boost: 1.0 }],
            vectors: vec![VectorFieldSpec {
                name: "v".into(),
                path: None,
                dims: 384,
                metric: VectorMetric::Cosine,
                model: EmbeddingModel { name: "all-MiniLM-L6-v2".into(), version: "1".into() },
                hnsw: HnswSpec::default(),
                embed: None,
                generation: 0,
                next: None,
                backfilling: false,
            }],
            default_vector: None,
        }),
        ..CollectionSpec::default()
    }
}

fn write(space: &Space, corpus: &Corpus, range: std::ops::Range<usize>, batch: usize) {
    let docs: Vec<(String, Value)> = range.map(|i| corpus.doc(i)).collect();
    for chunk in docs.chunks(batch) {
        space.bulk_put(COLL, chunk.to_vec(), None).expect("bulk put");
    }
}

/// A hybrid query: a few words of a sentence and another row's vector.
fn request(corpus: &Corpus) -> SearchRequest {
    let row = corpus.text.len() - 1;
    let words: Vec<&str> = corpus.text[row].split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 3).collect();
    SearchRequest {
        text: Some(if words.is_empty() { "the".into() } else { words.join(" ") }),
        vector: Some(corpus.vectors[row].clone()),
        k: Some(10),
        ..SearchRequest::default()
    }
}

fn ids(r: &engram::SearchResults) -> Vec<String> {
    r.hits.iter().map(|h| h.id.clone()).collect()
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn index_bytes(data_dir: &Path) -> u64 {
    std::fs::read_dir(data_dir.join("search"))
        .map(|d| d.flatten().map(|e| e.metadata().map_or(0, |m| m.len())).sum())
        .unwrap_or(0)
}

/// Copies a data directory file by file; `crash` leaves out SQLite's
/// shared-memory index (rebuilt by the first connection, as after a crash).
fn copy_dir(from: &Path, to: &Path, crash: bool) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("read the data directory").flatten() {
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&src, &dst, crash);
        } else if !(crash && entry.file_name().to_string_lossy().ends_with("-shm")) {
            std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
        }
    }
}

/// `n` rows of MiniLM sentences and embeddings (repeating when there are
/// fewer), or synthetic ones when the files are missing.
fn corpus(args: &ReplayArgs, n: usize) -> Corpus {
    match (std::fs::read(&args.embeddings), std::fs::read_to_string(&args.sentences)) {
        (Ok(npy), Ok(sentences)) => {
            let text: Vec<String> = serde_json::from_str(&sentences).expect("sentences.json is a JSON array");
            let vectors = npy_f16_rows(&npy, 384);
            assert_eq!(text.len(), vectors.len(), "one sentence per embedding");
            let rows = n.min(text.len());
            println!("data: MiniLM, {} sentences and 384-dim embeddings ({} distinct rows used)", text.len(), rows);
            Corpus { text: text[..rows].to_vec(), vectors: vectors[..rows].to_vec() }
        }
        _ => {
            println!("data: synthetic (MiniLM files not found): random unit vectors, generated text");
            let mut rng = StdRng::seed_from_u64(12);
            let words = ["alpha", "river", "stone", "engine", "quiet", "orbit", "maple", "signal", "harbor", "lantern"];
            let text = (0..n)
                .map(|i| {
                    let w: Vec<&str> = (0..8).map(|_| words[rng.random_range(0..words.len())]).collect();
                    format!("{} {i}", w.join(" "))
                })
                .collect();
            let vectors = (0..n)
                .map(|_| {
                    let v: Vec<f32> = (0..384).map(|_| rng.random_range(-1.0f32..1.0)).collect();
                    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    v.iter().map(|x| x / norm).collect()
                })
                .collect();
            Corpus { text, vectors }
        }
    }
}

/// Rows of a little-endian float16 `.npy` matrix of `dims` columns, as
/// re-normalized f32 vectors.
fn npy_f16_rows(bytes: &[u8], dims: usize) -> Vec<Vec<f32>> {
    assert!(bytes.len() > 10 && &bytes[..6] == b"\x93NUMPY", "not a .npy file");
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
    };
    let header = std::str::from_utf8(&bytes[start..start + len]).expect("npy header");
    assert!(header.contains("'<f2'") && header.contains(&format!(", {dims})")), "float16 rows of {dims}: {header}");
    bytes[start + len..]
        .chunks_exact(dims * 2)
        .map(|row| {
            let v: Vec<f32> = row.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / norm).collect()
        })
        .collect()
}

/// IEEE half to single precision.
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            let shift = frac.leading_zeros() - 21;
            sign | ((127 - 15 + 1 - shift) << 23) | (((frac << shift) & 0x3ff) << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}
