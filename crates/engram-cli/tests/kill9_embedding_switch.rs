//! A model switch survives SIGKILL: `engram serve` is killed while the
//! background backfill is re-embedding a collection for a new model,
//! restarted (twice over), and the switch completes with every document
//! holding a vector of the new model computed from its current text:
//! 0 missing, 0 stale (each checked against a fresh embedding).
//!
//! Needs all-MiniLM-L6-v2 (`ENGRAM_MINILM_DIR`, set by `.ci/run` from
//! `scripts/ensure-minilm`); the two "models" are that one directory under
//! two names, which the engine treats as different models.

mod common;

use common::{DatabaseServer, agent, serve_with_admin};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ADMIN: &str = "embedding-switch-admin-key-0123456789";
const DOCS: usize = 240;

fn model_dir() -> Option<PathBuf> {
    match std::env::var_os("ENGRAM_MINILM_DIR") {
        Some(d) => Some(PathBuf::from(d)),
        None if std::env::var_os("CI").is_some() => panic!("ENGRAM_MINILM_DIR is not set (scripts/ensure-minilm)"),
        None => {
            eprintln!("SKIPPED: set ENGRAM_MINILM_DIR to all-MiniLM-L6-v2's directory (scripts/ensure-minilm)");
            None
        }
    }
}

fn serve(dir: &Path, model: &Path) -> DatabaseServer {
    let a = format!("minilm=local:{},threads=1", model.display());
    let b = format!("minilm2=local:{},threads=1", model.display());
    serve_with_admin(dir, None, ADMIN, &["--rate-limit-per-key", "0", "--embedder", &a, "--embedder", &b])
}

fn call(base: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-type", "application/json");
    let res = match body {
        Some(b) => agent(Duration::from_secs(120)).run(req.body(serde_json::to_vec(&b).expect("json")).expect("req")),
        None => agent(Duration::from_secs(120)).run(req.body(()).expect("request")),
    }
    .expect("the server answers");
    let status = res.status().as_u16();
    let text = res.into_body().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn ok(base: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, v) = call(base, method, path, body);
    assert!((200..300).contains(&status), "{method} {path}: {status} {v}");
    v
}

fn spec(model: &str) -> Value {
    json!({"search": {"vectors": [{"name": "emb", "metric": "cosine", "embed": {"from": ["text"], "model": model}}]}})
}

fn sentences() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../engram-embed/tests/data/minilm-5000.json");
    let all: Vec<String> = serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("json");
    all.into_iter().take(DOCS).collect()
}

fn status(base: &str) -> Value {
    ok(base, "GET", "/v1/spaces/s/collections/notes/embeddings", None)["fields"][0].clone()
}

#[test]
fn a_model_switch_killed_mid_backfill_completes_with_no_stale_vector() {
    let Some(model) = model_dir() else { return };
    let dir = tempfile::tempdir().expect("temporary directory");
    let texts = sentences();
    let server = serve(dir.path(), &model);
    ok(&server.base, "POST", "/v1/spaces", Some(json!({"name": "s"})));
    ok(&server.base, "PUT", "/v1/spaces/s/collections/notes", Some(spec("minilm")));
    for (chunk_no, chunk) in texts.chunks(60).enumerate() {
        let docs: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"id": format!("d{:03}", chunk_no * 60 + i), "body": {"text": t}}))
            .collect();
        ok(&server.base, "POST", "/v1/spaces/s/collections/notes/bulk/put", Some(json!({"documents": docs})));
    }
    ok(&server.base, "PUT", "/v1/spaces/s/collections/notes", Some(spec("minilm2")));
    let mut server = Some(server);
    for cycle in 0..2 {
        let s = server.take().expect("running");
        // Kill once the backfill has done some but not all of the work.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let st = status(&s.base);
            let pending = st["pending"].as_u64().expect("pending");
            if pending < DOCS as u64 - 20 * (cycle as u64 + 1) || st["next"].is_null() {
                eprintln!("cycle {cycle}: killing with {pending} documents pending");
                break;
            }
            assert!(Instant::now() < deadline, "the backfill made no progress: {st}");
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(s); // SIGKILL, then reap.
        server = Some(serve(dir.path(), &model));
    }
    let s = server.expect("running");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let st = status(&s.base);
        if st["next"].is_null() && st["backfilling"] == false {
            assert_eq!((st["model"]["name"].as_str(), st["pending"].as_u64()), (Some("minilm2"), Some(0)), "{st}");
            break;
        }
        assert!(Instant::now() < deadline, "the switch did not complete after restarts: {st}");
        std::thread::sleep(Duration::from_millis(250));
    }
    // Every document: a vector of the new model, from its current text.
    let (_, fresh) = engram_embed::parse(&format!("x=local:{}", model.display())).expect("model");
    let expected: Vec<Vec<f32>> = texts.chunks(64).flat_map(|c| fresh.embed(c.to_vec()).expect("embeds")).collect();
    let mut checked = 0;
    for (i, text) in texts.iter().enumerate() {
        let doc = ok(&s.base, "GET", &format!("/v1/spaces/s/collections/notes/docs/d{i:03}"), None);
        let entry = &doc["body"]["emb"]["g2"];
        assert_eq!(entry["model"], "minilm2", "document d{i:03}: {entry}");
        let source = format!("blake3:{}", &blake3::hash(text.as_bytes()).to_hex()[..32]);
        assert_eq!(entry["source"], source, "document d{i:03}: stale source");
        let got: Vec<f32> =
            entry["vector"].as_array().expect("vector").iter().map(|x| x.as_f64().expect("number") as f32).collect();
        let cos: f32 = got.iter().zip(&expected[i]).map(|(a, b)| a * b).sum();
        assert!(cos > 0.9999, "document d{i:03}: vector at cosine {cos} from a fresh embedding");
        checked += 1;
    }
    assert_eq!(checked, DOCS);
    // The embedders' work shows in the metrics (labels name the model,
    // never a key).
    let req = ureq::http::Request::builder()
        .uri(format!("{}/metrics", s.base))
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(())
        .expect("request");
    let metrics = agent(Duration::from_secs(30)).run(req).expect("metrics").into_body().read_to_string().expect("text");
    let embedded = metrics
        .lines()
        .find(|l| l.starts_with("engram_embed_texts_total{embedder=\"minilm2\""))
        .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no embedder metrics: {metrics}"));
    assert!(embedded > 0, "the restarted server embedded the rest of the documents");
    // Searches read the new model.
    let hits =
        ok(&s.base, "POST", "/v1/spaces/s/collections/notes/search", Some(json!({"vector_text": texts[7], "k": 1})));
    assert_eq!(hits["hits"][0]["id"], "d007");
}
