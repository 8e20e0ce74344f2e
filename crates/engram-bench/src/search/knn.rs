//! Unfiltered k-NN (recall/QPS sweep over ef, build time) and filtered
//! k-NN at four selectivities (the planner against its two naive plans).

use super::data::{self, VectorSet, recall};
use super::{SearchArgs, ingest, scratch_engine};
use engram::{
    CollectionSpec, EmbeddingModel, HnswSpec, IndexSpec, SearchRequest, SearchSpec, Space, VectorFieldSpec,
    VectorMetric, VectorPlan,
};
use serde_json::{Value, json};
use std::time::Instant;

/// Queries run for each naive plan (they can be 100x slower than the
/// planner's, and their recall and throughput settle well before 1000).
const NAIVE_QUERIES: usize = 200;

/// ef values swept (the same list the peer script uses).
const EF_SWEEP: [usize; 10] = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256];

fn spec(d: usize, metric: VectorMetric) -> CollectionSpec {
    CollectionSpec {
        indexes: vec![
            IndexSpec { id: 0, name: "by_label".into(), paths: vec!["label".into()] },
            IndexSpec { id: 0, name: "by_attr".into(), paths: vec!["attr".into()] },
        ],
        search: Some(SearchSpec {
            vectors: vec![VectorFieldSpec {
                name: "v".into(),
                path: None,
                dims: d as u32,
                metric,
                model: EmbeddingModel { name: "bench".into(), version: "1".into() },
                hnsw: HnswSpec { m: 16, ef_construction: 200 },
                embed: None,
                generation: 0,
                next: None,
                backfilling: false,
            }],
            ..SearchSpec::default()
        }),
        ..CollectionSpec::default()
    }
}

/// Loads a set into a fresh engine and times the index build (the first
/// catch-up: parsing the stored documents and inserting into HNSW).
fn load(
    args: &SearchArgs,
    set: &VectorSet,
    metric: VectorMetric,
    extra: impl Fn(usize) -> Value,
) -> (engram::Engine, Space, tempfile::TempDir, f64) {
    let (engine, space, dir) = scratch_engine(args, "knn-");
    space.create_collection("v", spec(set.d, metric)).expect("collection");
    let t = Instant::now();
    ingest(
        &space,
        "v",
        (0..set.n).map(|i| {
            let mut body = extra(i);
            body["v"] = json!(set.row(i));
            (i.to_string(), body)
        }),
        500,
    );
    eprintln!("  ingested {} docs in {:.1} s", set.n, t.elapsed().as_secs_f64());
    let t = Instant::now();
    space.search_index_status("v").expect("build");
    let build_s = t.elapsed().as_secs_f64();
    eprintln!("  index built in {build_s:.1} s");
    (engine, space, dir, build_s)
}

fn ids(r: &engram::SearchResults) -> Vec<usize> {
    r.hits.iter().map(|h| h.id.parse().expect("numeric ids")).collect()
}

/// Runs `req_of(q)` for each query; returns (mean recall, QPS), best of two passes.
fn measure(space: &Space, nq: usize, gt: &[i32], req_of: &dyn Fn(usize) -> SearchRequest) -> (f64, f64) {
    let mut best_qps: f64 = 0.0;
    let mut rec = 0.0;
    for _ in 0..2 {
        let reqs: Vec<SearchRequest> = (0..nq).map(req_of).collect();
        let t = Instant::now();
        let results: Vec<_> = reqs.iter().map(|r| space.search("v", r).expect("search")).collect();
        let secs = t.elapsed().as_secs_f64();
        best_qps = best_qps.max(nq as f64 / secs);
        rec =
            results.iter().enumerate().map(|(q, r)| recall(&ids(r), &gt[q * 10..q * 10 + 10])).sum::<f64>() / nq as f64;
    }
    (rec, best_qps)
}

fn knn_req(v: &[f32], ef: usize, plan: VectorPlan, filter: Option<Value>) -> SearchRequest {
    SearchRequest {
        vector: Some(v.to_vec()),
        k: Some(10),
        ef: Some(ef),
        plan,
        filter,
        include_documents: Some(false),
        ..SearchRequest::default()
    }
}

fn sweep(space: &Space, set: &VectorSet, nq: usize) -> (Vec<Value>, usize) {
    let mut out = Vec::new();
    let mut ef95 = None;
    for ef in EF_SWEEP {
        let (rec, qps) = measure(space, nq, &set.gt, &|q| knn_req(set.query(q), ef, VectorPlan::Auto, None));
        eprintln!("  ef {ef:>3}: recall {rec:.4}, {qps:.0} QPS");
        if rec >= 0.95 && ef95.is_none() {
            ef95 = Some(ef);
        }
        out.push(json!({"ef": ef, "recall": rec, "qps": qps}));
    }
    (out, ef95.unwrap_or(64))
}

/// A filtered regime: its name, its ground-truth file, the filter per query.
type Regime<'a> = (&'a str, &'a str, Box<dyn Fn(usize) -> Value + 'a>);

/// Fashion-MNIST: unfiltered sweep, then the four filtered regimes.
pub fn fashion(args: &SearchArgs) -> (Value, Value) {
    let dir = args.data.join("fashion");
    eprintln!("fashion-mnist:");
    let set = data::load(&dir);
    let labels = std::fs::read(dir.join("labels.u8")).expect("labels");
    let qlabels = std::fs::read(dir.join("query_labels.u8")).expect("query labels");
    let attr = data::u16s(&dir.join("attr.u16"));
    let (_engine, space, _dir, build_s) =
        load(args, &set, VectorMetric::L2, |i| json!({"label": labels[i], "attr": attr[i]}));
    let nq = args.queries.min(set.nq());
    let (points, ef95) = sweep(&space, &set, nq);
    let unfiltered = json!({"build_s": build_s, "n": set.n, "d": set.d, "sweep": points});
    let regimes: [Regime; 4] = [
        ("50%", "gt_f50.i32", Box::new(|_| json!({"attr": {"$lt": 500}}))),
        ("10%", "gt_f10.i32", Box::new(|q| json!({"label": (qlabels[q] + 5) % 10}))),
        ("1%", "gt_f1.i32", Box::new(|_| json!({"attr": {"$lt": 10}}))),
        ("0.1%", "gt_f01.i32", Box::new(|_| json!({"attr": {"$lt": 1}}))),
    ];
    let mut filtered = Vec::new();
    for (name, gt_file, filter) in regimes {
        let gt = data::i32s(&dir.join(gt_file));
        let run = |plan: VectorPlan, ef: usize| {
            let n = if plan == VectorPlan::Auto { nq } else { nq.min(NAIVE_QUERIES) };
            measure(&space, n, &gt, &|q| knn_req(set.query(q), ef, plan, Some(filter(q))))
        };
        let planner = run(VectorPlan::Auto, ef95);
        let plan_used = space
            .search("v", &knn_req(set.query(0), ef95, VectorPlan::Auto, Some(filter(0))))
            .expect("search")
            .plan
            .vector
            .unwrap_or_default();
        let exact = run(VectorPlan::Exact, ef95);
        let mut hnsw_points = Vec::new();
        for ef in [ef95, ef95 * 2, ef95 * 4] {
            let (rec, qps) = run(VectorPlan::Hnsw, ef);
            hnsw_points.push(json!({"ef": ef, "recall": rec, "qps": qps}));
            if rec >= 0.95 {
                break;
            }
        }
        let best_hnsw = hnsw_points
            .iter()
            .filter(|p| p["recall"].as_f64().unwrap_or(0.0) >= 0.95)
            .max_by(|a, b| a["qps"].as_f64().unwrap_or(0.0).total_cmp(&b["qps"].as_f64().unwrap_or(0.0)))
            .or(hnsw_points.last())
            .cloned()
            .unwrap_or(Value::Null);
        eprintln!(
            "  filter {name}: planner ({plan_used}) recall {:.4} {:.0} QPS; exact {:.4} {:.0} QPS; hnsw {best_hnsw}",
            planner.0, planner.1, exact.0, exact.1
        );
        filtered.push(json!({
            "name": name, "gt": gt_file,
            "planner": {"recall": planner.0, "qps": planner.1, "plan": plan_used, "ef": ef95},
            "exact_subset": {"recall": exact.0, "qps": exact.1},
            "hnsw_filter": best_hnsw,
            "hnsw_points": hnsw_points,
        }));
    }
    (unfiltered, Value::Array(filtered))
}

/// MiniLM sentence embeddings (cosine).
pub fn minilm(args: &SearchArgs) -> Value {
    eprintln!("minilm:");
    let set = data::load(&args.data.join("minilm"));
    let (_engine, space, _dir, build_s) = load(args, &set, VectorMetric::Cosine, |_| json!({}));
    let nq = args.queries.min(set.nq());
    let (points, _) = sweep(&space, &set, nq);
    json!({"build_s": build_s, "n": set.n, "d": set.d, "sweep": points})
}
