//! Hybrid search (filter + vector + text) over 100,000 MiniLM sentences:
//! latency percentiles of whole requests, documents and snippets included.

use super::data;
use super::{SearchArgs, ingest, percentile, scratch_engine};
use engram::{
    CollectionSpec, EmbeddingModel, HnswSpec, IndexSpec, SearchRequest, SearchSpec, TextFieldSpec, VectorFieldSpec,
    VectorMetric,
};
use serde_json::{Value, json};
use std::time::Instant;

const DOCS: usize = 100_000;

pub fn run(args: &SearchArgs) -> Value {
    let set = data::load(&args.data.join("minilm"));
    let sentences: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(&args.sentences).expect("sentences.json")).expect("JSON");
    eprintln!("hybrid: {DOCS} docs");
    let (_engine, space, _dir) = scratch_engine(args, "hybrid-");
    let spec = CollectionSpec {
        indexes: vec![IndexSpec { id: 0, name: "by_attr".into(), paths: vec!["attr".into()] }],
        search: Some(SearchSpec {
            text: vec![TextFieldSpec { path: "text".into(), boost: 1.0 }],
            vectors: vec![VectorFieldSpec {
                name: "v".into(),
                path: None,
                dims: set.d as u32,
                metric: VectorMetric::Cosine,
                model: EmbeddingModel { name: "all-MiniLM-L6-v2".into(), version: "1".into() },
                hnsw: HnswSpec { m: 16, ef_construction: 200 },
                embed: None,
                generation: 0,
                next: None,
                backfilling: false,
            }],
            default_vector: None,
        }),
        ..CollectionSpec::default()
    };
    space.create_collection("s", spec).expect("collection");
    ingest(
        &space,
        "s",
        (0..DOCS).map(|i| {
            let row = i % set.n;
            (i.to_string(), json!({"text": sentences[row], "v": set.row(row), "attr": i % 1000}))
        }),
        500,
    );
    let t = Instant::now();
    space.search_index_status("s").expect("build");
    eprintln!("  index built in {:.1} s", t.elapsed().as_secs_f64());
    let nq = args.queries.min(set.nq());
    let mut lat = Vec::with_capacity(nq);
    for q in 0..nq {
        let sentence = &sentences[set.n + q];
        let mut words: Vec<&str> = sentence.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 3).collect();
        words.sort_by_key(|w| std::cmp::Reverse(w.len()));
        let text = words.iter().take(3).copied().collect::<Vec<_>>().join(" ");
        let req = SearchRequest {
            text: Some(if text.is_empty() { "the".into() } else { text }),
            vector: Some(set.query(q).to_vec()),
            filter: Some(json!({"attr": {"$lt": 500}})),
            k: Some(10),
            ..SearchRequest::default()
        };
        let t = Instant::now();
        let r = space.search("s", &req).expect("hybrid search");
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(r.hits.len() <= 10);
    }
    lat.sort_by(f64::total_cmp);
    let (p50, p95, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.95), percentile(&lat, 0.99));
    eprintln!("  p50 {p50:.2} ms, p95 {p95:.2} ms, p99 {p99:.2} ms");
    json!({"docs": DOCS, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99})
}
