//! Embedding conformance cases: vectors the engine computes from the
//! documents' text, kept in step with it on every write, searched by text,
//! and carried through a model switch by the backfill.

use crate::{Fixture, ManualClock};
use engram::{
    CollectionSpec, EmbedSpec, EmbeddingModel, ErrorKind, HnswSpec, SearchRequest, SearchSpec, Space, TextFieldSpec,
    VectorFieldSpec, VectorMetric, WriteOptions,
};
use serde_json::{Value, json};
use std::sync::Arc;

type Make = dyn Fn(Arc<ManualClock>) -> Fixture;

fn setup(make: &Make) -> (Fixture, Space) {
    let fx = make(Arc::new(ManualClock::default()));
    fx.engine.create_space("s1").expect("create space");
    let space = fx.engine.space("s1").expect("space handle");
    (fx, space)
}

fn embedded(model: &str) -> VectorFieldSpec {
    VectorFieldSpec {
        name: "emb".into(),
        path: None,
        dims: 0,
        metric: VectorMetric::Cosine,
        model: EmbeddingModel::default(),
        hnsw: HnswSpec { m: 8, ef_construction: 64 },
        embed: Some(EmbedSpec { from: vec!["title".into(), "body".into()], model: model.into() }),
        generation: 0,
        next: None,
        backfilling: false,
    }
}

fn spec(model: &str) -> CollectionSpec {
    CollectionSpec {
        search: Some(SearchSpec {
            text: vec![TextFieldSpec { path: "body".into(), boost: 1.0 }],
            vectors: vec![embedded(model)],
            default_vector: None,
        }),
        ..CollectionSpec::default()
    }
}

fn put(space: &Space, id: &str, body: Value) {
    space.put("notes", id, body, WriteOptions::default()).expect("put");
}

/// The entry of generation `g` in a document's `emb` field.
fn entry(space: &Space, id: &str, g: u32) -> Option<Value> {
    let doc = space.get("notes", id).expect("get");
    doc.body.get("emb").and_then(|e| e.get(format!("g{g}"))).cloned()
}

fn top(space: &Space, req: SearchRequest) -> Vec<String> {
    space.search("notes", &req).expect("search").hits.into_iter().map(|h| h.id).collect()
}

fn vector_text(t: &str) -> SearchRequest {
    SearchRequest { vector_text: Some(t.into()), k: Some(3), ..SearchRequest::default() }
}

pub fn embeddings_follow_the_text(make: &Make) {
    let (_fx, space) = setup(make);
    let info = space.create_collection("notes", spec("words")).expect("create");
    let v = &info.spec.search.as_ref().expect("search").vectors[0];
    assert_eq!((v.dims, v.generation, v.model.name.as_str()), (16, 1, "words"), "the embedder fills the spec in");

    put(&space, "a", json!({"title": "red apples", "body": "fresh fruit from the orchard"}));
    put(&space, "b", json!({"title": "engines", "body": "storage engines write ahead logs"}));
    put(&space, "c", json!({"title": "no text here", "n": 1}));
    put(&space, "d", json!({"n": 2}));
    let a = entry(&space, "a", 1).expect("a has a vector");
    assert_eq!(a["model"], "words");
    assert_eq!(a["vector"].as_array().map(Vec::len), Some(16));
    assert!(a["source"].as_str().is_some_and(|s| s.starts_with("blake3:")));
    assert!(space.get("notes", "d").expect("d").body.get("emb").is_none(), "no text, no vector");

    // Searching by text through the embedder, and hybrid from one string.
    assert_eq!(top(&space, vector_text("storage engines logs")).first().map(String::as_str), Some("b"));
    let hybrid = SearchRequest { query: Some("orchard fruit".into()), k: Some(2), ..SearchRequest::default() };
    assert_eq!(top(&space, hybrid).first().map(String::as_str), Some("a"));
    // A question's punctuation is not query syntax.
    let question = SearchRequest { query: Some("fruit: \"orchard\" -apples?".into()), ..SearchRequest::default() };
    assert_eq!(top(&space, question).first().map(String::as_str), Some("a"));

    // A patch of the text re-embeds; a patch of something else keeps it.
    space.patch("notes", "a", json!({"n": 5}), WriteOptions::default()).expect("patch");
    assert_eq!(entry(&space, "a", 1), Some(a.clone()), "unrelated patch keeps the vector");
    space
        .patch("notes", "a", json!({"body": "storage engines and write ahead logs"}), WriteOptions::default())
        .expect("patch");
    let a2 = entry(&space, "a", 1).expect("still embedded");
    assert_ne!(a2["source"], a["source"]);
    assert_ne!(a2["vector"], a["vector"]);
    // Removing the text removes the vector.
    space.patch("notes", "c", json!({"title": null}), WriteOptions::default()).expect("patch");
    assert!(space.get("notes", "c").expect("c").body.get("emb").is_none());

    // What a caller writes in the field is replaced by the engine's own.
    put(&space, "e", json!({"title": "pears", "emb": {"g1": {"vector": [1, 2]}}}));
    assert_eq!(entry(&space, "e", 1).expect("e")["model"], "words");
    put(&space, "f", json!({"title": "plums", "emb": [0.5, 0.5]}));
    assert!(entry(&space, "f", 1).is_some());

    // Transactions embed every document they write.
    let res = space
        .transaction(|b| {
            b.put("notes", "t1", json!({"title": "one"}));
            b.put("notes", "t2", json!({"body": "two"}));
            Ok(())
        })
        .expect("transaction");
    assert_eq!(res.results.len(), 2);
    assert!(entry(&space, "t1", 1).is_some() && entry(&space, "t2", 1).is_some());

    // Bad input is named.
    let err = space.put("notes", "x", json!({"title": 5}), WriteOptions::default()).expect_err("not text");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("title"), "{err}");
    let err = space.create_collection("other", spec("nope")).expect_err("unknown embedder");
    assert!(err.to_string().contains("nope"), "{err}");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "naming a missing embedder in a spec is the caller's mistake");
    let mut wrong = spec("words");
    if let Some(s) = wrong.search.as_mut() {
        s.vectors[0].dims = 3;
    }
    let err = space.create_collection("other", wrong).expect_err("wrong dims");
    assert!(err.to_string().contains("16"), "{err}");
    let plain = SearchRequest { vector_text: Some("x".into()), ..SearchRequest::default() };
    assert!(space.search("notes", &SearchRequest { vector: Some(vec![1.0; 16]), ..plain.clone() }).is_err());
    let status = space.embedding_status("notes").expect("status");
    assert_eq!((status.fields[0].pending, status.fields[0].unembeddable), (0, 0));
}

pub fn embedding_model_switch_backfills_then_promotes(make: &Make) {
    let (_fx, space) = setup(make);
    space.create_collection("notes", spec("words")).expect("create");
    for i in 0..40 {
        put(&space, &format!("d{i:02}"), json!({"title": format!("note {i}"), "body": format!("word{i} common")}));
    }
    let info = space.update_collection("notes", spec("words2")).expect("switch");
    let v = &info.spec.search.as_ref().expect("search").vectors[0];
    assert_eq!(v.model.name, "words", "searches keep the current model during the switch");
    let next = v.next.as_ref().expect("a switch in progress");
    assert_eq!((next.model.name.as_str(), next.dims, next.generation, v.backfilling), ("words2", 8, 2, true));
    let status = space.embedding_status("notes").expect("status");
    assert_eq!((status.fields[0].documents, status.fields[0].pending), (40, 40));

    // Searches still use the current model; new writes carry both.
    assert_eq!(top(&space, vector_text("note 7\nword7 common")).first().map(String::as_str), Some("d07"));
    put(&space, "new", json!({"title": "fresh", "body": "written during the switch"}));
    assert!(entry(&space, "new", 1).is_some() && entry(&space, "new", 2).is_some());

    let done = space.backfill_embeddings("notes").expect("backfill");
    assert_eq!(done.fields[0].pending, 0);
    assert!(done.fields[0].next.is_none() && !done.fields[0].backfilling, "promoted: {done:?}");
    assert_eq!((done.fields[0].model.name.as_str(), done.fields[0].generation), ("words2", 2));
    let info = space.collection("notes").expect("collection");
    assert_eq!(info.spec.search.as_ref().expect("search").vectors[0].dims, 8);
    for i in 0..40 {
        let e = entry(&space, &format!("d{i:02}"), 2).expect("every document has the new generation");
        assert_eq!(e["vector"].as_array().map(Vec::len), Some(8));
    }
    // Searches now read the new model's vectors.
    assert_eq!(top(&space, vector_text("note 13\nword13 common")).first().map(String::as_str), Some("d13"));
    // A write drops the old generation.
    space.patch("notes", "d05", json!({"n": 1}), WriteOptions::default()).expect("patch");
    assert!(entry(&space, "d05", 1).is_none() && entry(&space, "d05", 2).is_some());
}

pub fn embedded_field_added_later_is_backfilled(make: &Make) {
    let (_fx, space) = setup(make);
    let mut plain = spec("words");
    if let Some(s) = plain.search.as_mut() {
        s.vectors.clear();
    }
    space.create_collection("notes", plain).expect("create");
    for i in 0..10 {
        put(&space, &format!("d{i}"), json!({"body": format!("text {i}")}));
    }
    // A document whose source is not text cannot be embedded: reported,
    // and not waited for.
    put(&space, "odd", json!({"title": 5}));
    let info = space.update_collection("notes", spec("words")).expect("add the field");
    assert!(info.spec.search.as_ref().expect("search").vectors[0].backfilling);
    let status = space.embedding_status("notes").expect("status");
    assert_eq!((status.fields[0].pending, status.fields[0].unembeddable), (10, 1));
    let done = space.backfill_embeddings("notes").expect("backfill");
    assert_eq!((done.fields[0].pending, done.fields[0].unembeddable, done.fields[0].backfilling), (0, 1, false));
    assert!((0..10).all(|i| entry(&space, &format!("d{i}"), 1).is_some()));
    let err = space.patch("notes", "odd", json!({"n": 1}), WriteOptions::default()).expect_err("still not text");
    assert!(err.to_string().contains("title"), "{err}");

    // Spec mistakes are named: text read from a vector, a moved field.
    let mut from_vector = spec("words");
    if let Some(s) = from_vector.search.as_mut() {
        s.vectors[0].embed.as_mut().expect("embed").from = vec!["emb.g1".into()];
    }
    let err = space.update_collection("notes", from_vector).expect_err("text from a vector");
    assert!(err.to_string().contains("overlaps"), "{err}");
    let mut moved = spec("words");
    if let Some(s) = moved.search.as_mut() {
        s.vectors[0].path = Some("elsewhere".into());
    }
    let err = space.update_collection("notes", moved).expect_err("moved");
    assert!(err.to_string().contains("path cannot change"), "{err}");
}
