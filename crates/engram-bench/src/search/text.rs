//! Full-text on GCIDE known-item queries: indexing rate (documents written
//! through the engine and indexed), top-10 OR query throughput, MRR@10.

use super::data;
use super::{SearchArgs, ingest, scratch_engine};
use engram::{CollectionSpec, SearchRequest, SearchSpec, TextFieldSpec};
use serde_json::{Value, json};
use std::time::Instant;

pub fn run(args: &SearchArgs) -> Value {
    let dir = args.data.join("gcide");
    let docs = data::jsonl(&dir.join("docs.jsonl"));
    let queries = data::jsonl(&dir.join("queries.jsonl"));
    eprintln!("gcide: {} docs, {} queries", docs.len(), queries.len());
    let (_engine, space, _dir) = scratch_engine(args, "text-");
    let spec = CollectionSpec {
        search: Some(SearchSpec {
            text: vec![TextFieldSpec { path: "text".into(), boost: 1.0 }],
            ..SearchSpec::default()
        }),
        ..CollectionSpec::default()
    };
    space.create_collection("dict", spec).expect("collection");
    let t = Instant::now();
    let n = docs.len();
    ingest(&space, "dict", docs.into_iter().map(|d| (d["id"].to_string(), json!({"text": d["text"]}))), 1_000);
    let ingest_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    space.search_index_status("dict").expect("build");
    let index_s = t.elapsed().as_secs_f64();
    eprintln!("  ingest {ingest_s:.1} s, index {index_s:.1} s");
    let nq = args.queries.min(queries.len());
    let reqs: Vec<SearchRequest> = queries[..nq]
        .iter()
        .map(|q| SearchRequest {
            text: Some(q["q"].as_str().expect("q").to_owned()),
            k: Some(10),
            include_documents: Some(false),
            snippets: Some(false),
            ..SearchRequest::default()
        })
        .collect();
    let mut best_qps: f64 = 0.0;
    let mut mrr = 0.0;
    for _ in 0..3 {
        let t = Instant::now();
        let results: Vec<_> = reqs.iter().map(|r| space.search("dict", r).expect("search")).collect();
        best_qps = best_qps.max(nq as f64 / t.elapsed().as_secs_f64());
        mrr = results
            .iter()
            .zip(&queries)
            .map(|(r, q)| {
                let answer = q["answer"].to_string();
                r.hits.iter().position(|h| h.id == answer).map_or(0.0, |p| 1.0 / (p as f64 + 1.0))
            })
            .sum::<f64>()
            / nq as f64;
    }
    eprintln!("  {best_qps:.0} QPS, MRR@10 {mrr:.4}");
    json!({
        "docs": n,
        "index_docs_per_s": n as f64 / (ingest_s + index_s),
        "ingest_s": ingest_s,
        "index_s": index_s,
        "qps": best_qps,
        "mrr10": mrr,
    })
}
