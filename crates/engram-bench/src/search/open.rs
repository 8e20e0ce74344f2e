//! Opening a data directory holding many vectors: the saved search index
//! is loaded (not rebuilt) and the first search answers.

use super::{SearchArgs, ingest};
use engram::{
    CollectionSpec, EmbeddingModel, Engine, EngineConfig, HnswSpec, SearchRequest, SearchSpec, VectorFieldSpec,
    VectorMetric,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub fn run(args: &SearchArgs) -> Value {
    let (n, d) = (args.open_vectors, args.open_dims);
    eprintln!("open: {n} vectors x {d}");
    let dir = tempfile::Builder::new().prefix("open-").tempdir_in(&args.dir).expect("scratch");
    let config = || {
        let mut c = EngineConfig::dir(dir.path());
        c.index_interval = Duration::from_secs(3600);
        c
    };
    let engine = Engine::open(config()).expect("open");
    engine.create_space("bench").expect("space");
    let space = engine.space("bench").expect("space");
    let spec = CollectionSpec {
        search: Some(SearchSpec {
            vectors: vec![VectorFieldSpec {
                name: "v".into(),
                path: None,
                dims: d as u32,
                metric: VectorMetric::L2,
                model: EmbeddingModel { name: "random".into(), version: "1".into() },
                // A cheaper graph keeps building a million vectors short;
                // loading does not depend on it.
                hnsw: HnswSpec { m: 16, ef_construction: 40 },
                embed: None,
                generation: 0,
                next: None,
                backfilling: false,
            }],
            ..SearchSpec::default()
        }),
        ..CollectionSpec::default()
    };
    space.create_collection("v", spec).expect("collection");
    let mut rng = StdRng::seed_from_u64(5);
    let t = Instant::now();
    ingest(
        &space,
        "v",
        (0..n).map(|i| {
            let v: Vec<f32> = (0..d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            (i.to_string(), json!({"v": v}))
        }),
        1_000,
    );
    eprintln!("  ingested in {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    space.search_index_status("v").expect("build");
    let build_s = t.elapsed().as_secs_f64();
    eprintln!("  built in {build_s:.1} s");
    let q: Vec<f32> = (0..d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let req = SearchRequest { vector: Some(q), k: Some(10), ..SearchRequest::default() };
    let before = space.search("v", &req).expect("search");
    drop(space);
    engine.close();
    let file_bytes: u64 = std::fs::read_dir(dir.path().join("search"))
        .expect("index dir")
        .flatten()
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum();
    let t = Instant::now();
    let engine = Engine::open(config()).expect("reopen");
    let space = engine.space("bench").expect("space");
    let after = space.search("v", &req).expect("first search");
    let open_s = t.elapsed().as_secs_f64();
    assert_eq!(
        before.hits.iter().map(|h| &h.id).collect::<Vec<_>>(),
        after.hits.iter().map(|h| &h.id).collect::<Vec<_>>(),
        "the loaded index answers as before"
    );
    eprintln!("  reopened and searched in {open_s:.2} s (index files {:.0} MB)", file_bytes as f64 / 1e6);
    json!({"vectors": n, "dims": d, "open_s": open_s, "build_s": build_s, "index_file_bytes": file_bytes})
}
