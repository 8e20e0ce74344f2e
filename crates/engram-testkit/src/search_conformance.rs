//! Search conformance cases: full-text, vector k-NN, hybrid, and the search
//! index's consistency with the records (never a deleted or stale document,
//! exact plans equal brute force, survives reopen, checkable, rebuildable).

use crate::{Fixture, ManualClock};
use engram::{
    CollectionSpec, EmbeddingModel, ErrorKind, HnswSpec, IndexSpec, SearchRequest, SearchResults, SearchSpec, Space,
    TextFieldSpec, VectorFieldSpec, VectorMetric, VectorPlan, WriteOptions,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::sync::Arc;

type Make = dyn Fn(Arc<ManualClock>) -> Fixture;

const DIMS: u32 = 8;

fn setup(make: &Make) -> (Fixture, Space) {
    let fx = make(Arc::new(ManualClock::default()));
    fx.engine.create_space("s1").expect("create space");
    let space = fx.engine.space("s1").expect("space handle");
    (fx, space)
}

fn vector_field(name: &str, metric: VectorMetric) -> VectorFieldSpec {
    VectorFieldSpec {
        name: name.into(),
        path: None,
        dims: DIMS,
        metric,
        model: EmbeddingModel { name: format!("model-{name}"), version: "1".into() },
        hnsw: HnswSpec { m: 8, ef_construction: 64 },
        embed: None,
        generation: 0,
        next: None,
        backfilling: false,
    }
}

/// A collection with text fields `title` (boost 2) and `body`, a cosine
/// vector field `emb`, and an index on `label`.
fn notes_spec() -> CollectionSpec {
    CollectionSpec {
        indexes: vec![IndexSpec { id: 0, name: "by_label".into(), paths: vec!["label".into()] }],
        search: Some(SearchSpec {
            text: vec![
                TextFieldSpec { path: "title".into(), boost: 2.0 },
                TextFieldSpec { path: "body".into(), boost: 1.0 },
            ],
            vectors: vec![vector_field("emb", VectorMetric::Cosine)],
            default_vector: None,
        }),
        ..CollectionSpec::default()
    }
}

fn text(q: &str) -> SearchRequest {
    SearchRequest { text: Some(q.into()), ..SearchRequest::default() }
}

fn knn(v: &[f32], k: usize) -> SearchRequest {
    SearchRequest { vector: Some(v.to_vec()), k: Some(k), ..SearchRequest::default() }
}

fn hit_ids(r: &SearchResults) -> Vec<String> {
    r.hits.iter().map(|h| h.id.clone()).collect()
}

fn kind<T: std::fmt::Debug>(r: engram::Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

fn random_vector(rng: &mut StdRng) -> Vec<f32> {
    (0..DIMS).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn put(space: &Space, id: &str, body: Value) {
    space.put("notes", id, body, WriteOptions::default()).expect("put");
}

pub fn search_text_ranks_filters_and_highlights(make: &Make) {
    let (_fx, space) = setup(make);
    space.create_collection("notes", notes_spec()).expect("create");
    put(&space, "a", json!({"title": "rust storage engine", "body": "durable writes", "label": "x"}));
    put(&space, "b", json!({"title": "cooking", "body": "a storage jar for rust-free knives", "label": "y"}));
    put(&space, "c", json!({"title": "gardening", "body": "tomatoes", "label": "x"}));
    let r = space.search("notes", &text("storage")).expect("search");
    assert_eq!(hit_ids(&r), ["a", "b"], "the title match ranks first (boost 2)");
    assert!(r.hits[0].text_score.expect("text score") > r.hits[1].text_score.expect("text score"));
    let snip = &r.hits[0].snippets[0];
    assert_eq!(snip.field, "title");
    let (s, e) = snip.highlights[0];
    assert_eq!(&snip.text[s..e], "storage");
    let filtered = SearchRequest { filter: Some(json!({"label": "y"})), ..text("storage") };
    assert_eq!(hit_ids(&space.search("notes", &filtered).expect("search")), ["b"]);
    assert_eq!(hit_ids(&space.search("notes", &text("\"storage engine\"")).expect("phrase")), ["a"]);
    assert_eq!(hit_ids(&space.search("notes", &text("tomat*")).expect("prefix")), ["c"]);
    assert_eq!(hit_ids(&space.search("notes", &text("+storage -durable")).expect("must/not")), ["b"]);
    let boosted = SearchRequest { boosts: Some([("body".to_owned(), 10.0)].into()), ..text("storage") };
    assert_eq!(hit_ids(&space.search("notes", &boosted).expect("boosts")), ["b", "a"], "boosts override");
    let no_docs = SearchRequest { include_documents: Some(false), ..text("storage") };
    assert!(space.search("notes", &no_docs).expect("search").hits.iter().all(|h| h.document.is_none()));
}

pub fn search_never_returns_deleted_or_stale(make: &Make) {
    let (_fx, space) = setup(make);
    space.create_collection("notes", notes_spec()).expect("create");
    let mut rng = StdRng::seed_from_u64(7);
    let mut live: std::collections::BTreeMap<String, (u64, Vec<f32>)> = Default::default();
    for step in 0..300u64 {
        let id = format!("d{}", rng.random_range(0..40));
        if rng.random_bool(0.3) && live.contains_key(&id) {
            space.delete("notes", &id, WriteOptions::default()).expect("delete");
            live.remove(&id);
        } else {
            let v = random_vector(&mut rng);
            let w = space
                .put(
                    "notes",
                    &id,
                    json!({"title": format!("word{step}"), "emb": v, "label": "x"}),
                    WriteOptions::default(),
                )
                .expect("put");
            live.insert(id.clone(), (step, v));
            assert_eq!(w.version, space.get("notes", &id).expect("get").version);
        }
        // The document just written or deleted is seen at once.
        let r = space.search("notes", &text(&format!("word{step}"))).expect("text search");
        match live.get(&id) {
            Some((s, _)) if *s == step => assert_eq!(hit_ids(&r), std::slice::from_ref(&id), "step {step}"),
            _ => assert!(r.hits.is_empty(), "step {step}: a deleted document is found: {:?}", hit_ids(&r)),
        }
        if step % 25 == 0 {
            assert_every_doc_current(&space, &live);
        }
    }
    assert_every_doc_current(&space, &live);
    assert!(space.check_search_index().expect("check").ok);
}

/// Every live document is found by its own vector and word with its current
/// content; nothing else is.
fn assert_every_doc_current(space: &Space, live: &std::collections::BTreeMap<String, (u64, Vec<f32>)>) {
    for (id, (step, v)) in live {
        let r = space.search("notes", &SearchRequest { plan: VectorPlan::Exact, ..knn(v, 1) }).expect("knn");
        assert_eq!(hit_ids(&r), std::slice::from_ref(id), "its own vector finds {id}");
        let doc = r.hits[0].document.as_ref().expect("document");
        assert_eq!(doc.body["title"], format!("word{step}"), "current content");
        assert!(doc.body.get("emb").is_none(), "vectors are left out unless asked");
    }
    let all = space
        .search("notes", &SearchRequest { k: Some(1000), plan: VectorPlan::Exact, ..knn(&[1.0; DIMS as usize], 1000) });
    let mut found = hit_ids(&all.expect("all"));
    found.sort();
    assert_eq!(found, live.keys().cloned().collect::<Vec<_>>(), "exactly the live documents");
}

pub fn search_filtered_knn_equals_exact(make: &Make) {
    let (_fx, space) = setup(make);
    space.create_collection("notes", notes_spec()).expect("create");
    let mut rng = StdRng::seed_from_u64(11);
    let mut docs = Vec::new();
    let mut ops = Vec::new();
    for i in 0..600 {
        let v = random_vector(&mut rng);
        let label = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"][i % 10];
        let rare = i % 97 == 0;
        ops.push(engram::Op::Put {
            collection: "notes".into(),
            id: format!("d{i:03}"),
            body: json!({"emb": v, "label": label, "n": i, "rare": rare}),
            expect: engram::Expect::Any,
            ttl_seconds: None,
        });
        docs.push((format!("d{i:03}"), v, label, i, rare));
    }
    space.commit(ops, None).expect("bulk");
    let filters = [
        json!({"label": "c"}),
        json!({"n": {"$lt": 300}}),
        json!({"rare": true}),
        json!({"label": {"$in": ["a", "b"]}, "n": {"$gte": 100}}),
        json!({"label": "none"}),
    ];
    for (fi, filter) in filters.iter().enumerate() {
        let f = engram_core::filter::Filter::parse(filter).expect("filter");
        for q in 0..5 {
            let query = random_vector(&mut rng);
            let expected = brute_force(&docs, &query, 10, |d| f.matches(&json!({"label": d.2, "n": d.3, "rare": d.4})));
            for plan in [VectorPlan::Exact, VectorPlan::Auto] {
                let req = SearchRequest { filter: Some(filter.clone()), plan, ..knn(&query, 10) };
                let r = space.search("notes", &req).expect("search");
                let got = hit_ids(&r);
                assert_eq!(
                    got.len(),
                    expected.len(),
                    "filter {fi} query {q} {plan:?}: never fewer than k when k match"
                );
                if r.plan.vector.as_deref() == Some("exact") {
                    assert_eq!(got, expected, "filter {fi} query {q}: an exact plan equals brute force");
                } else {
                    let overlap = got.iter().filter(|g| expected.contains(g)).count();
                    assert!(overlap >= 8, "filter {fi} query {q}: HNSW recall {overlap}/10");
                }
            }
        }
    }
}

fn brute_force(
    docs: &[(String, Vec<f32>, &str, usize, bool)],
    q: &[f32],
    k: usize,
    keep: impl Fn(&(String, Vec<f32>, &str, usize, bool)) -> bool,
) -> Vec<String> {
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let mut scored: Vec<(f32, &String)> = docs
        .iter()
        .filter(|d| keep(d))
        .map(|d| {
            let dot: f32 = d.1.iter().zip(q).map(|(a, b)| a * b).sum();
            (1.0 - dot / (norm(&d.1) * norm(q)), &d.0)
        })
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(k).map(|s| s.1.clone()).collect()
}

pub fn search_hybrid_fuses_text_and_vectors(make: &Make) {
    let (_fx, space) = setup(make);
    space.create_collection("notes", notes_spec()).expect("create");
    let e = |i: usize| -> Vec<f32> { (0..DIMS as usize).map(|j| if j == i { 1.0 } else { 0.01 }).collect() };
    put(&space, "both", json!({"title": "vector search", "emb": e(0), "label": "x"}));
    put(&space, "text-only", json!({"title": "vector search engines", "emb": e(5), "label": "x"}));
    put(&space, "vec-only", json!({"title": "unrelated", "emb": e(0), "label": "y"}));
    let req = SearchRequest {
        text: Some("vector search".into()),
        vector: Some(e(0)),
        k: Some(3),
        ..SearchRequest::default()
    };
    let r = space.search("notes", &req).expect("hybrid");
    assert_eq!(r.hits[0].id, "both", "in both lists beats either one");
    assert_eq!(r.hits.len(), 3);
    let weighted = SearchRequest {
        fusion: engram::Fusion::Weighted,
        text_weight: Some(0.0),
        vector_weight: Some(1.0),
        ..req.clone()
    };
    let r = space.search("notes", &weighted).expect("weighted");
    assert!(r.hits[0].id == "both" || r.hits[0].id == "vec-only");
    assert_ne!(r.hits[2].id, "both");
    let filtered = SearchRequest { filter: Some(json!({"label": "y"})), ..req };
    assert_eq!(
        hit_ids(&space.search("notes", &filtered).expect("filtered hybrid")),
        ["vec-only"],
        "filter applies to both"
    );
}

pub fn search_rejects_bad_input(make: &Make) {
    let (_fx, space) = setup(make);
    space.create_collection("notes", notes_spec()).expect("create");
    space.create_collection("plain", CollectionSpec::default()).expect("create");
    put(&space, "a", json!({"title": "x", "emb": [1, 0, 0, 0, 0, 0, 0, 0]}));
    let bad_docs = [
        json!({"emb": [1, 2, 3]}),
        json!({"emb": [0, 0, 0, 0, 0, 0, 0, 0]}),
        json!({"emb": [1, 0, 0, 0, 0, 0, 0, "x"]}),
        json!({"title": 42}),
    ];
    for body in bad_docs {
        assert_eq!(
            kind(space.put("notes", "bad", body.clone(), WriteOptions::default())),
            ErrorKind::InvalidInput,
            "{body}"
        );
    }
    assert_eq!(kind(space.get("notes", "bad")), ErrorKind::NotFound, "nothing written");
    let one = [1.0f32, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    let bad_requests = [
        SearchRequest::default(),
        knn(&[1.0, 2.0], 10),
        knn(&[0.0; DIMS as usize], 10),
        knn(&one, 0),
        knn(&one, 1001),
        knn(&[f32::NAN; DIMS as usize], 10),
        SearchRequest { vector_field: Some("nope".into()), ..knn(&one, 1) },
        SearchRequest { ef: Some(0), ..knn(&one, 1) },
        text("\"unbalanced"),
        text(""),
        text("nofield:word"),
        SearchRequest { filter: Some(json!({"$bogus": 1})), ..text("x") },
        SearchRequest { boosts: Some([("nope".to_owned(), 1.0)].into()), ..text("x") },
        text(&"w ".repeat(5000)),
    ];
    for req in bad_requests {
        let k = kind(space.search("notes", &req));
        assert!(matches!(k, ErrorKind::InvalidInput | ErrorKind::TooLarge), "{req:?}: {k:?}");
    }
    assert_eq!(kind(space.search("plain", &text("x"))), ErrorKind::InvalidInput, "no search fields");
    assert_eq!(kind(space.search("missing", &text("x"))), ErrorKind::NotFound);
    let mut bad_spec = notes_spec();
    bad_spec.search.as_mut().expect("search").vectors[0].dims = 0;
    assert_eq!(kind(space.create_collection("bad", bad_spec)), ErrorKind::InvalidInput);
    let mut dup = notes_spec();
    let s = dup.search.as_mut().expect("search");
    s.vectors.push(s.vectors[0].clone());
    assert_eq!(kind(space.create_collection("bad", dup)), ErrorKind::InvalidInput);
}

pub fn search_switches_embedding_models(make: &Make) {
    let (_fx, space) = setup(make);
    space.create_collection("notes", notes_spec()).expect("create");
    let old = |i: usize| -> Vec<f32> { (0..DIMS as usize).map(|j| if j == i { 1.0 } else { 0.0 }).collect() };
    let new = |i: usize| -> Vec<f32> { (0..DIMS as usize).map(|j| if j == 7 - i { 1.0 } else { 0.0 }).collect() };
    for i in 0..4 {
        put(&space, &format!("d{i}"), json!({"emb": old(i)}));
    }
    // Add the new model's field beside the old one; the old one serves.
    let mut spec = notes_spec();
    spec.search.as_mut().expect("search").vectors.push(vector_field("emb2", VectorMetric::Cosine));
    space.update_collection("notes", spec.clone()).expect("add field");
    for i in 0..4 {
        space.patch("notes", &format!("d{i}"), json!({"emb2": new(i)}), WriteOptions::default()).expect("backfill");
    }
    assert_eq!(space.search("notes", &knn(&old(2), 1)).expect("old").hits[0].id, "d2", "old model serves");
    let via_new = SearchRequest { vector_field: Some("emb2".into()), ..knn(&new(3), 1) };
    assert_eq!(space.search("notes", &via_new).expect("new").hits[0].id, "d3");
    // Switch the default, then drop the old field.
    spec.search.as_mut().expect("search").default_vector = Some("emb2".into());
    space.update_collection("notes", spec.clone()).expect("switch");
    assert_eq!(space.search("notes", &knn(&new(1), 1)).expect("default").hits[0].id, "d1", "new model is the default");
    spec.search.as_mut().expect("search").vectors.remove(0);
    space.update_collection("notes", spec).expect("drop old");
    let via_old = SearchRequest { vector_field: Some("emb".into()), ..knn(&old(1), 1) };
    assert_eq!(kind(space.search("notes", &via_old)), ErrorKind::InvalidInput);
    assert!(space.check_search_index().expect("check").ok);
}

pub fn search_index_survives_reopen_check_and_rebuild(make: &Make) {
    let (fx, space) = setup(make);
    space.create_collection("notes", notes_spec()).expect("create");
    let mut rng = StdRng::seed_from_u64(3);
    for i in 0..200 {
        put(
            &space,
            &format!("d{i}"),
            json!({"title": format!("doc number{i}"), "emb": random_vector(&mut rng), "label": "x"}),
        );
    }
    space.delete("notes", "d5", WriteOptions::default()).expect("delete");
    let q = random_vector(&mut rng);
    let before = space.search("notes", &knn(&q, 10)).expect("search");
    space.save_search_index().expect("save");
    put(&space, "late", json!({"title": "written after the save", "emb": q.clone()}));
    let search_dir = fx.search_dir.clone();
    let Some(fx) = fx.reopen() else {
        assert!(space.check_search_index().expect("check").ok);
        return;
    };
    let space = fx.engine.space("s1").expect("space");
    let after = space.search("notes", &knn(&q, 10)).expect("search after reopen");
    let files = fx.engine.stats().search_files;
    assert_eq!((files.loaded, files.discarded), (1, 0), "the saved file (text and vectors) loads, not rebuilt");
    let text_after = space.search("notes", &text("number7")).expect("text after reopen");
    assert_eq!(hit_ids(&text_after), ["d7"], "the loaded text index answers");
    assert_eq!(after.hits[0].id, "late", "the write after the save is replayed from the log");
    assert_eq!(hit_ids(&after)[1..], hit_ids(&before)[..9]);
    assert!(space.search("notes", &text("number5")).expect("text").hits.is_empty(), "deleted stays deleted");
    let check = space.check_search_index().expect("check");
    assert!(check.ok, "{check:?}");
    assert_eq!(check.collections[0].documents, 200);
    let rebuilt = space.rebuild_search_index().expect("rebuild");
    assert_eq!(rebuilt.collections, 1);
    assert_eq!(hit_ids(&space.search("notes", &knn(&q, 10)).expect("after rebuild")), hit_ids(&after));
    // A damaged file is detected and rebuilt from the records.
    space.save_search_index().expect("save");
    drop(space);
    let dir = search_dir.expect("sqlite fixtures save index files");
    let file = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "idx"))
        .expect("an index file");
    let mut bytes = std::fs::read(file.path()).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    let fx = fx.reopen().expect("reopen");
    std::fs::write(file.path(), &bytes).expect("damage");
    let space = fx.engine.space("s1").expect("space");
    assert_eq!(hit_ids(&space.search("notes", &knn(&q, 10)).expect("after damage")), hit_ids(&after));
    assert_eq!(fx.engine.stats().search_files.discarded, 1, "the damaged file is discarded and rebuilt");
    assert!(space.check_search_index().expect("check").ok);
}

/// A space file holding several collections, each with a text index and
/// one with two vector indexes, loads back whole: every blob is read from
/// its own bytes, whatever follows it in the file.
pub fn search_file_with_many_indexes_loads(make: &Make) {
    let (fx, space) = setup(make);
    let mut two_vectors = notes_spec();
    let search = two_vectors.search.as_mut().expect("notes spec searches");
    search.vectors.push(vector_field("emb2", VectorMetric::L2));
    search.default_vector = Some("emb".into());
    space.create_collection("notes", two_vectors).expect("create notes");
    space.create_collection("memos", notes_spec()).expect("create memos");
    let mut rng = StdRng::seed_from_u64(11);
    for i in 0..60 {
        let body =
            json!({"title": format!("note word{i}"), "emb": random_vector(&mut rng), "emb2": random_vector(&mut rng)});
        space.put("notes", &format!("n{i}"), body, WriteOptions::default()).expect("put note");
        let memo = json!({"title": format!("memo word{i}"), "emb": random_vector(&mut rng)});
        space.put("memos", &format!("m{i}"), memo, WriteOptions::default()).expect("put memo");
    }
    let q = random_vector(&mut rng);
    let by_emb2 = SearchRequest { vector_field: Some("emb2".into()), ..knn(&q, 5) };
    let before = (
        hit_ids(&space.search("notes", &by_emb2).expect("emb2")),
        hit_ids(&space.search("memos", &knn(&q, 5)).expect("memos knn")),
    );
    space.save_search_index().expect("save");
    drop(space);
    let Some(fx) = fx.reopen() else { return };
    let space = fx.engine.space("s1").expect("space");
    assert_eq!(hit_ids(&space.search("notes", &text("word17")).expect("notes text")), ["n17"]);
    assert_eq!(hit_ids(&space.search("memos", &text("word42")).expect("memos text")), ["m42"]);
    let after = (
        hit_ids(&space.search("notes", &by_emb2).expect("emb2")),
        hit_ids(&space.search("memos", &knn(&q, 5)).expect("memos knn")),
    );
    assert_eq!(after, before);
    let files = fx.engine.stats().search_files;
    assert_eq!((files.loaded, files.discarded), (1, 0), "the whole file loads: {files:?}");
    assert!(space.check_search_index().expect("check").ok);
}

pub fn search_hides_expired_documents(make: &Make) {
    let (fx, space) = setup(make);
    space.create_collection("notes", notes_spec()).expect("create");
    let opts = WriteOptions { ttl_seconds: Some(10), ..WriteOptions::default() };
    space.put("notes", "brief", json!({"title": "ephemeral note"}), opts).expect("put");
    put(&space, "kept", json!({"title": "ephemeral but kept"}));
    assert_eq!(space.search("notes", &text("ephemeral")).expect("search").hits.len(), 2);
    fx.clock.advance_ms(11_000);
    assert_eq!(hit_ids(&space.search("notes", &text("ephemeral")).expect("search")), ["kept"]);
    fx.engine.purge_expired().expect("purge");
    assert_eq!(hit_ids(&space.search("notes", &text("ephemeral")).expect("search")), ["kept"]);
    assert!(space.check_search_index().expect("check").ok);
}
