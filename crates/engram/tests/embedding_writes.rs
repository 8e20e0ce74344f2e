//! The write path's embedding: entries reused while the text is unchanged,
//! and a write whose text changed while its vector was computed is
//! embedded again, never committed with a stale vector.
#![allow(clippy::unwrap_used)]

use engram::embed::{Embedder, EmbedderInfo, Embedders};
use engram::{
    CollectionSpec, EmbedSpec, EmbeddingModel, Engine, EngineConfig, HnswSpec, SearchSpec, Space, VectorFieldSpec,
    VectorMetric, WriteOptions,
};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Embeds a text as [its length, 1]; on the call numbered `race_on`, first
/// rewrites document `a`'s title through `space` (a concurrent writer).
struct Racy {
    info: EmbedderInfo,
    calls: AtomicUsize,
    race_on: usize,
    space: Mutex<Option<Space>>,
}

impl Embedder for Racy {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }
    fn embed(&self, texts: Vec<String>) -> engram::Result<Vec<Vec<f32>>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.race_on
            && let Some(space) = self.space.lock().unwrap().as_ref()
        {
            space.patch("notes", "a", json!({"title": "changed meanwhile"}), WriteOptions::default()).unwrap();
        }
        Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
    }
}

fn open(race_on: usize) -> (Engine, Space, Arc<Racy>) {
    let model = EmbeddingModel { name: "racy".into(), version: "1".into() };
    let racy = Arc::new(Racy {
        info: EmbedderInfo { model, dims: 2 },
        calls: AtomicUsize::new(0),
        race_on,
        space: Mutex::new(None),
    });
    let mut embedders = Embedders::default();
    embedders.add("racy", racy.clone()).unwrap();
    let engine = Engine::open(EngineConfig { embedders, ..EngineConfig::memory() }).unwrap();
    engine.create_space("s").unwrap();
    let space = engine.space("s").unwrap();
    let field = VectorFieldSpec {
        name: "emb".into(),
        path: None,
        dims: 2,
        metric: VectorMetric::Cosine,
        model: EmbeddingModel::default(),
        hnsw: HnswSpec::default(),
        embed: Some(EmbedSpec { from: vec!["title".into(), "body".into()], model: "racy".into() }),
        generation: 0,
        next: None,
        backfilling: false,
    };
    let search = SearchSpec { text: vec![], vectors: vec![field], default_vector: None };
    space.create_collection("notes", CollectionSpec { search: Some(search), ..CollectionSpec::default() }).unwrap();
    (engine, space, racy)
}

fn vector(space: &Space, id: &str) -> Vec<f64> {
    let doc = space.get("notes", id).unwrap();
    doc.body["emb"]["g1"]["vector"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn unchanged_text_is_not_embedded_again() {
    let (_engine, space, racy) = open(0);
    space.put("notes", "a", json!({"title": "hello", "body": "world"}), WriteOptions::default()).unwrap();
    assert_eq!(racy.calls.load(Ordering::SeqCst), 1);
    space.patch("notes", "a", json!({"n": 1}), WriteOptions::default()).unwrap();
    let doc = space.get("notes", "a").unwrap();
    space.put("notes", "a", doc.body, WriteOptions::default()).unwrap();
    assert_eq!(racy.calls.load(Ordering::SeqCst), 1, "a patch of other fields and a read-modify-write reuse it");
    space.patch("notes", "a", json!({"body": "there"}), WriteOptions::default()).unwrap();
    assert_eq!(racy.calls.load(Ordering::SeqCst), 2);
    assert_eq!(vector(&space, "a"), vec![11.0, 1.0], "hello\\nthere");
}

#[test]
fn text_changed_while_embedding_is_embedded_again() {
    let (_engine, space, racy) = open(2);
    space.put("notes", "a", json!({"title": "first", "body": "body"}), WriteOptions::default()).unwrap();
    *racy.space.lock().unwrap() = Some(space.clone());
    // Call 2 embeds "first\nnew body", and meanwhile the title changes: the
    // commit finds a vector of other text, so the write embeds again.
    space.patch("notes", "a", json!({"body": "new body"}), WriteOptions::default()).unwrap();
    let doc = space.get("notes", "a").unwrap();
    assert_eq!(doc.body["title"], "changed meanwhile");
    assert_eq!(doc.body["body"], "new body");
    let text = "changed meanwhile\nnew body";
    assert_eq!(vector(&space, "a"), vec![text.len() as f64, 1.0]);
    assert!(racy.calls.load(Ordering::SeqCst) >= 4, "the title change and the retry each embedded");
    let status = space.embedding_status("notes").unwrap();
    assert_eq!(status.fields[0].pending, 0);
}

#[test]
fn a_callers_entry_is_never_trusted() {
    let (_engine, space, _racy) = open(0);
    let text = "hello";
    let forged = json!({"g1": {"model": "racy", "version": "1",
        "source": format!("blake3:{}", &blake3::hash(text.as_bytes()).to_hex()[..32]), "vector": [9.0, 9.0]}});
    space.put("notes", "a", json!({"title": text, "emb": forged.clone()}), WriteOptions::default()).unwrap();
    assert_eq!(vector(&space, "a"), vec![5.0, 1.0], "the engine's own vector, not the caller's");
    space.patch("notes", "a", json!({"emb": forged}), WriteOptions::default()).unwrap();
    assert_eq!(vector(&space, "a"), vec![5.0, 1.0]);
}

#[test]
fn one_transaction_may_write_a_document_twice() {
    let (_engine, space, _racy) = open(0);
    space.put("notes", "a", json!({"title": "old"}), WriteOptions::default()).unwrap();
    space
        .transaction(|b| {
            b.patch("notes", "a", json!({"title": "newer"}));
            b.patch("notes", "a", json!({"n": 1}));
            b.put("notes", "b", json!({"title": "x"}));
            b.patch("notes", "b", json!({"title": "longer"}));
            Ok(())
        })
        .unwrap();
    assert_eq!(vector(&space, "a"), vec![5.0, 1.0], "newer");
    assert_eq!(vector(&space, "b"), vec![6.0, 1.0], "longer");
}
