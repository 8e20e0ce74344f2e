//! The conformance cases. Each takes a fixture factory and panics on the
//! first behaviour that differs from the documented contract.

pub use crate::audit_conformance::*;
pub use crate::embed_conformance::*;
pub use crate::feed_conformance::*;
pub use crate::memory_conformance::*;
pub use crate::number_conformance::*;
pub use crate::queue_conformance::*;
pub use crate::search_conformance::*;
use crate::{Fixture, ManualClock};
use engram::{CollectionSpec, ErrorKind, Expect, IndexSpec, Op, Query, SortField, SortOrder, Space, WriteOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A fixture factory.
pub type Make = dyn Fn(Arc<ManualClock>) -> Fixture;

/// A fresh fixture with one space, `s1`.
pub(crate) fn setup(make: &Make) -> (Fixture, Space) {
    let fx = make(Arc::new(ManualClock::default()));
    fx.engine.create_space("s1").expect("create space");
    let space = fx.engine.space("s1").expect("space handle");
    (fx, space)
}

pub(crate) fn kind<T: std::fmt::Debug>(r: engram::Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

fn ids(page: &engram::Page) -> Vec<String> {
    page.documents.iter().map(|d| d.id.clone()).collect()
}

fn head(space: &Space) -> u64 {
    space.verify_changes().expect("chain verifies").head_position
}

pub fn spaces_lifecycle(make: &Make) {
    let fx = make(Arc::new(ManualClock::default()));
    let e = &fx.engine;
    e.create_space("b").expect("create b");
    e.create_space("a").expect("create a");
    assert_eq!(kind(e.create_space("a")), ErrorKind::AlreadyExists);
    assert_eq!(kind(e.create_space("bad name")), ErrorKind::InvalidInput);
    let names: Vec<String> = e.spaces().expect("list").into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(kind(e.space("missing")), ErrorKind::NotFound);
    let a = e.space("a").expect("handle");
    a.put("c", "1", json!({"x": 1}), WriteOptions::default()).expect("put");
    e.delete_space("a").expect("delete");
    assert_eq!(kind(e.space("a")), ErrorKind::NotFound);
    assert_eq!(kind(a.get("c", "1")), ErrorKind::NotFound, "a stale handle reads nothing");
    assert_eq!(
        kind(a.put("c", "2", json!({}), WriteOptions::default())),
        ErrorKind::NotFound,
        "a stale handle writes nothing"
    );
    e.create_space("a").expect("recreate");
    let a2 = e.space("a").expect("handle");
    assert_eq!(kind(a2.get("c", "1")), ErrorKind::NotFound, "a recreated space starts empty");
    assert_eq!(a2.changes(0, 10).expect("changes").len(), 1, "only its creation is logged");
    // The deletion is logged in the system space, by name and internal id.
    let deleted = e.deleted_spaces().expect("deleted spaces");
    assert!(deleted.iter().any(|(name, id, _)| name == "a" && *id != a2.id()), "{deleted:?}");
    let system = e.system_space().expect("system space");
    let log = system.changes(0, 1_000).expect("system log");
    assert!(log.iter().any(|c| c.collection == "_spaces_deleted"), "the system log records the deletion");
    system.verify_changes().expect("the system log's chain holds");
}

pub fn space_isolation(make: &Make) {
    let fx = make(Arc::new(ManualClock::default()));
    let e = &fx.engine;
    for s in ["a", "b"] {
        e.create_space(s).expect("create");
    }
    let (a, b) = (e.space("a").expect("a"), e.space("b").expect("b"));
    a.put("notes", "n1", json!({"owner": "a"}), WriteOptions::default()).expect("put a");
    assert_eq!(kind(b.get("notes", "n1")), ErrorKind::NotFound);
    b.put("notes", "n1", json!({"owner": "b"}), WriteOptions::default()).expect("put b");
    assert_eq!(a.get("notes", "n1").expect("get").body["owner"], "a");
    assert_eq!(b.get("notes", "n1").expect("get").body["owner"], "b");
    b.delete("notes", "n1", WriteOptions::default()).expect("delete b");
    assert_eq!(a.get("notes", "n1").expect("a untouched").version, 1);
    assert_eq!(a.count("notes", &Value::Null).expect("count"), 1);
    assert_eq!(b.count("notes", &Value::Null).expect("count"), 0);
    let key = Some("same-key");
    a.commit(vec![put_op("notes", "k", json!({"v": 1}))], key).expect("idempotent a");
    let rb = b.commit(vec![put_op("notes", "k", json!({"v": 2}))], key).expect("same key, other space");
    assert!(!rb.replayed, "idempotency keys are per space");
    e.delete_space("b").expect("delete b");
    assert_eq!(a.get("notes", "k").expect("a keeps its data").body["v"], 1);
}

fn put_op(coll: &str, id: &str, body: Value) -> Op {
    Op::Put { collection: coll.into(), id: id.into(), body, expect: Expect::Any, ttl_seconds: None }
}

pub fn put_get_versions(make: &Make) {
    let (_fx, s) = setup(make);
    let r1 = s.put("c", "d", json!({"a": 1}), WriteOptions::default()).expect("create");
    assert_eq!((r1.version, r1.id.as_str()), (1, "d"));
    let r2 = s.put("c", "d", json!({"a": 2}), WriteOptions::default()).expect("replace");
    assert_eq!(r2.version, 2);
    assert!(r2.position > r1.position);
    let doc = s.get("c", "d").expect("get");
    assert_eq!((doc.version, doc.body.clone()), (2, json!({"a": 2})));
    let ins = s.insert("c", json!({"z": true}), WriteOptions::default()).expect("insert");
    assert_eq!(s.get("c", &ins.id).expect("inserted").body, json!({"z": true}));
    assert_eq!(kind(s.get("c", "nope")), ErrorKind::NotFound);
    assert_eq!(kind(s.get("nocoll", "d")), ErrorKind::NotFound);
}

pub fn conditional_writes(make: &Make) {
    let (_fx, s) = setup(make);
    let w = |e| WriteOptions::expect(e);
    s.put("c", "d", json!({"n": 1}), w(Expect::Absent)).expect("create if absent");
    let before = head(&s);
    assert_eq!(kind(s.put("c", "d", json!({"n": 9}), w(Expect::Absent))), ErrorKind::Conflict);
    assert_eq!(kind(s.put("c", "d", json!({"n": 9}), w(Expect::Version(2)))), ErrorKind::Conflict);
    assert_eq!(kind(s.put("c", "x", json!({"n": 9}), w(Expect::Exists))), ErrorKind::Conflict);
    assert_eq!(kind(s.delete("c", "d", w(Expect::Version(5)))), ErrorKind::Conflict);
    assert_eq!(kind(s.patch("c", "d", json!({"n": 9}), w(Expect::Version(3)))), ErrorKind::Conflict);
    assert_eq!(head(&s), before, "failed conditions write nothing");
    assert_eq!(s.get("c", "d").expect("get").body["n"], 1);
    s.put("c", "d", json!({"n": 2}), w(Expect::Version(1))).expect("matching version");
    s.put("c", "d", json!({"n": 3}), w(Expect::Exists)).expect("exists");
    s.delete("c", "d", w(Expect::Version(3))).expect("delete at version");
}

pub fn merge_patch(make: &Make) {
    let (_fx, s) = setup(make);
    s.put("c", "d", json!({"a": 1, "b": {"x": 1, "y": 2}, "keep": true}), WriteOptions::default()).expect("put");
    let r = s
        .patch("c", "d", json!({"a": null, "b": {"y": null, "z": 3}, "c": [1]}), WriteOptions::default())
        .expect("patch");
    assert_eq!(r.version, 2);
    assert_eq!(s.get("c", "d").expect("get").body, json!({"b": {"x": 1, "z": 3}, "c": [1], "keep": true}));
    assert_eq!(kind(s.patch("c", "missing", json!({"a": 1}), WriteOptions::default())), ErrorKind::NotFound);
    assert_eq!(
        kind(s.patch("c", "d", json!([1]), WriteOptions::default())),
        ErrorKind::InvalidInput,
        "a patch that makes a non-object is refused"
    );
}

pub fn deletes(make: &Make) {
    let (_fx, s) = setup(make);
    s.put("c", "d", json!({}), WriteOptions::default()).expect("put");
    let r = s.delete("c", "d", WriteOptions::default()).expect("delete");
    assert_eq!(r.version, 0);
    assert_eq!(kind(s.get("c", "d")), ErrorKind::NotFound);
    assert_eq!(kind(s.delete("c", "d", WriteOptions::default())), ErrorKind::NotFound);
    let again = s.put("c", "d", json!({}), WriteOptions::expect(Expect::Absent)).expect("recreate");
    assert_eq!(again.version, 1);
}

pub fn bulk_is_atomic(make: &Make) {
    let (_fx, s) = setup(make);
    let docs: Vec<(String, Value)> = (0..50).map(|i| (format!("d{i:02}"), json!({"i": i}))).collect();
    let r = s.bulk_put("c", docs, None).expect("bulk put");
    assert_eq!(r.results.len(), 50);
    assert_eq!(s.count("c", &Value::Null).expect("count"), 50);
    let before = head(&s);
    let mut bad: Vec<(String, Value)> = (50..60).map(|i| (format!("d{i}"), json!({"i": i}))).collect();
    bad.push(("bad".into(), json!("not an object")));
    let err = s.bulk_put("c", bad, None).expect_err("one bad document fails the batch");
    assert!(err.message().contains("ops[10]"), "{}", err.message());
    assert_eq!(s.count("c", &Value::Null).expect("count"), 50, "nothing of the failed batch is visible");
    assert_eq!(head(&s), before);
    assert_eq!(kind(s.bulk_delete("c", vec!["d00".into(), "zz".into()], None)), ErrorKind::NotFound);
    assert_eq!(s.count("c", &Value::Null).expect("count"), 50);
    s.bulk_delete("c", (0..10).map(|i| format!("d{i:02}")).collect(), None).expect("bulk delete");
    assert_eq!(s.count("c", &Value::Null).expect("count"), 40);
    assert_eq!(kind(s.commit(vec![], None)), ErrorKind::InvalidInput);
    let too_many: Vec<Op> =
        (0..engram::limits::BATCH_OPS_MAX + 1).map(|i| put_op("c", &format!("x{i}"), json!({}))).collect();
    assert_eq!(kind(s.commit(too_many, None)), ErrorKind::TooLarge);
}

/// A commit mixing runs of plain puts (written together by some backends)
/// with a repeated id, a precondition, another collection and an indexed
/// collection gives the versions, positions and log entries of the same
/// puts applied one by one.
pub fn bulk_puts_match_one_by_one(make: &Make) {
    let (_fx, s) = setup(make);
    let by_n = IndexSpec { id: 0, name: "n".into(), paths: vec!["n".into()] };
    s.create_collection("ix", CollectionSpec { indexes: vec![by_n], ..CollectionSpec::default() }).expect("ix");
    s.put("c", "b", json!({"n": 0}), WriteOptions::default()).expect("put");
    let start = head(&s);
    let absent = Op::Put {
        collection: "c".into(),
        id: "e".into(),
        body: json!({"n": 4}),
        expect: Expect::Absent,
        ttl_seconds: None,
    };
    let ops = vec![
        put_op("c", "a", json!({"n": 1})),
        put_op("c", "b", json!({"n": 2})),
        put_op("c", "a", json!({"n": 3})),
        absent,
        put_op("d", "a", json!({"n": 5})),
        put_op("ix", "x", json!({"n": 6})),
        put_op("ix", "y", json!({"n": 6})),
    ];
    let r = s.commit(ops, None).expect("commit");
    let versions: Vec<u64> = r.results.iter().map(|r| r.version).collect();
    assert_eq!(versions, [1, 2, 2, 1, 1, 1, 1]);
    let positions: Vec<u64> = r.results.iter().map(|r| r.position).collect();
    // Creating collection d logs an entry just before its first put.
    assert_eq!(positions, [start + 1, start + 2, start + 3, start + 4, start + 6, start + 7, start + 8]);
    let entries = s.changes(start, 100).expect("changes");
    let logged: Vec<(&str, &str, u64)> =
        entries.iter().map(|e| (e.collection.as_str(), e.doc_id.as_str(), e.version)).collect();
    let want = [("c", "a", 1), ("c", "b", 2), ("c", "a", 2), ("c", "e", 1), ("d", "", 0), ("d", "a", 1)];
    assert_eq!(logged[..6], want);
    assert!(entries.windows(2).all(|w| w[1].hlc > w[0].hlc), "HLC increases with position");
    assert_eq!(s.get("c", "a").expect("get").body, json!({"n": 3}));
    let q = Query { filter: json!({"n": 6}), ..Query::default() };
    assert_eq!(s.query("ix", &q).expect("indexed query").documents.len(), 2);
    let bad = vec![put_op("c", "p", json!({})), put_op("c", "q\n", json!({})), put_op("c", "r", json!({}))];
    let err = s.commit(bad, None).expect_err("a bad id fails the commit");
    assert!(err.message().contains("ops[1]"), "{}", err.message());
    assert_eq!(head(&s), start + 8, "nothing of the failed commit was logged");
    s.verify_changes().expect("the chain verifies");
}

pub fn transactions_span_collections(make: &Make) {
    let (_fx, s) = setup(make);
    s.put("accounts", "a", json!({"balance": 10}), WriteOptions::default()).expect("seed");
    for c in ["ledger", "audit"] {
        s.create_collection(c, CollectionSpec::default()).expect("create");
    }
    let r = s
        .transaction(|tx| {
            tx.patch("accounts", "a", json!({"balance": 5}));
            tx.put("ledger", "t1", json!({"amount": -5}));
            tx.put_if("audit", "t1", json!({"ok": true}), Expect::Absent);
            Ok(())
        })
        .expect("transaction");
    assert_eq!(r.results.len(), 3);
    let positions: Vec<u64> = r.results.iter().map(|x| x.position).collect();
    assert!(positions.windows(2).all(|w| w[1] == w[0] + 1), "one transaction's entries are contiguous");
    let failed = s.transaction(|tx| {
        tx.patch("accounts", "a", json!({"balance": 0}));
        tx.put("ledger", "t2", json!({"amount": -5}));
        tx.put_if("audit", "t1", json!({}), Expect::Absent); // conflicts
        Ok(())
    });
    assert_eq!(kind(failed), ErrorKind::Conflict);
    assert_eq!(s.get("accounts", "a").expect("a").body["balance"], 5, "rolled back");
    assert_eq!(kind(s.get("ledger", "t2")), ErrorKind::NotFound, "rolled back");
}

pub fn ttl_hides_and_purges(make: &Make) {
    let (fx, s) = setup(make);
    let opts = WriteOptions { ttl_seconds: Some(10), ..WriteOptions::default() };
    let put = s.put("c", "t", json!({"k": 1}), opts).expect("put with ttl");
    s.put("c", "keep", json!({"k": 1}), WriteOptions::default()).expect("put");
    assert!(s.get("c", "t").expect("live").expires_at_ms.is_some());
    fx.clock.advance_ms(10_001);
    assert_eq!(kind(s.get("c", "t")), ErrorKind::NotFound, "expired is invisible at once");
    assert_eq!(s.count("c", &json!({"k": 1})).expect("count"), 1);
    assert_eq!(ids(&s.query("c", &Query::default()).expect("query")), ["keep"]);
    assert_eq!(kind(s.patch("c", "t", json!({}), WriteOptions::default())), ErrorKind::NotFound);
    assert_eq!(fx.engine.purge_expired().expect("purge"), 1);
    let last = s.changes(put.position, 100).expect("changes");
    assert!(last.iter().any(|e| e.op == engram::ChangeOp::Expire && e.doc_id == "t"), "purge is logged");
    assert_eq!(fx.engine.purge_expired().expect("purge again"), 0);
    assert_eq!(
        kind(s.put("c", "t", json!({}), WriteOptions { ttl_seconds: Some(0), ..WriteOptions::default() })),
        ErrorKind::InvalidInput
    );
}

pub fn default_ttl(make: &Make) {
    let (fx, s) = setup(make);
    let spec = CollectionSpec { default_ttl_seconds: Some(60), ..CollectionSpec::default() };
    s.create_collection("sessions", spec).expect("create");
    s.put("sessions", "a", json!({}), WriteOptions::default()).expect("default ttl");
    s.put("sessions", "b", json!({}), WriteOptions { ttl_seconds: Some(600), ..WriteOptions::default() })
        .expect("own ttl");
    fx.clock.advance_ms(61_000);
    assert_eq!(kind(s.get("sessions", "a")), ErrorKind::NotFound);
    s.get("sessions", "b").expect("own ttl outlives the default");
    s.put("sessions", "a", json!({"new": true}), WriteOptions::expect(Expect::Absent))
        .expect("expired counts as absent");
}

pub fn schema_validation(make: &Make) {
    let (_fx, s) = setup(make);
    let schema = json!({"type": "object", "required": ["title"], "properties": {"title": {"type": "string"}, "n": {"type": "integer", "minimum": 0}}});
    s.create_collection("docs", CollectionSpec { schema: Some(schema), ..CollectionSpec::default() }).expect("create");
    s.put("docs", "ok", json!({"title": "t", "n": 1}), WriteOptions::default()).expect("valid");
    let before = head(&s);
    let err = s.put("docs", "bad", json!({"title": "t", "n": -1}), WriteOptions::default()).expect_err("invalid");
    assert_eq!(err.kind(), ErrorKind::SchemaViolation);
    assert!(err.message().contains("/n"), "error names the field: {}", err.message());
    assert_eq!(kind(s.put("docs", "bad", json!({"n": 1}), WriteOptions::default())), ErrorKind::SchemaViolation);
    assert_eq!(
        kind(s.patch("docs", "ok", json!({"title": null}), WriteOptions::default())),
        ErrorKind::SchemaViolation
    );
    assert_eq!(head(&s), before, "rejected writes leave no trace");
    assert_eq!(
        kind(
            s.create_collection("x", CollectionSpec { schema: Some(json!({"type": 12})), ..CollectionSpec::default() })
        ),
        ErrorKind::InvalidInput
    );
}

/// Documents with varied shapes for query tests.
fn corpus(s: &Space, coll: &str, n: usize, seed: u64) -> Vec<(String, Value)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let docs: Vec<(String, Value)> = (0..n)
        .map(|i| {
            let group = ["red", "green", "blue"][rng.random_range(0..3)];
            let mut d = json!({"i": i, "group": group, "score": rng.random_range(0..100)});
            if rng.random_bool(0.8) {
                d["name"] = json!(format!("n{:03}", rng.random_range(0..500)));
            }
            if rng.random_bool(0.3) {
                d["score"] = json!(rng.random_range(0..100) as f64 + 0.5);
            }
            if rng.random_bool(0.1) {
                d["score"] = json!("high");
            }
            if rng.random_bool(0.5) {
                let tags = &["a", "b", "c"][..rng.random_range(0..4)];
                d["tags"] = json!(tags);
            }
            (format!("doc{i:04}"), d)
        })
        .collect();
    for chunk in docs.chunks(100) {
        s.bulk_put(coll, chunk.to_vec(), None).expect("load corpus");
    }
    docs
}

fn filters() -> Vec<Value> {
    vec![
        json!({}),
        json!({"group": "red"}),
        json!({"group": {"$ne": "red"}}),
        json!({"score": {"$gte": 50}}),
        json!({"score": {"$gt": 20, "$lte": 40}}),
        json!({"score": {"$lt": 10.5}}),
        json!({"group": "blue", "score": {"$lt": 30}}),
        json!({"name": {"$prefix": "n1"}}),
        json!({"name": {"$exists": false}}),
        json!({"tags": {"$contains": "b"}}),
        json!({"group": {"$in": ["red", "blue"]}}),
        json!({"group": {"$nin": ["red", "blue"]}}),
        json!({"$or": [{"group": "red"}, {"score": {"$gte": 90}}]}),
        json!({"$not": {"group": "green"}}),
        json!({"score": "high"}),
        json!({"score": {"$gte": "a"}}),
        json!({"name": {"$gte": "n100", "$lt": "n200"}}),
    ]
}

fn brute(docs: &[(String, Value)], filter: &Value) -> BTreeSet<String> {
    let f = engram_core::filter::Filter::parse(filter).expect("valid filter");
    docs.iter().filter(|(_, d)| f.matches(d)).map(|(id, _)| id.clone()).collect()
}

fn all_pages(s: &Space, coll: &str, mut q: Query) -> Vec<engram::Document> {
    let mut out = Vec::new();
    loop {
        let page = s.query(coll, &q).expect("query page");
        out.extend(page.documents);
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return out,
        }
    }
}

pub fn filters_match_brute_force(make: &Make) {
    let (_fx, s) = setup(make);
    let docs = corpus(&s, "c", 300, 7);
    for f in filters() {
        let want = brute(&docs, &f);
        let q = Query { filter: f.clone(), limit: Some(37), ..Query::default() };
        let got: Vec<String> = all_pages(&s, "c", q).into_iter().map(|d| d.id).collect();
        let got_set: BTreeSet<String> = got.iter().cloned().collect();
        assert_eq!(got.len(), got_set.len(), "no duplicates for {f}");
        assert_eq!(got_set, want, "filter {f}");
        assert_eq!(s.count("c", &f).expect("count"), want.len() as u64, "count {f}");
    }
}

fn sort_key(d: &Value, field: &str) -> Vec<u8> {
    engram_core::keys::encode_value(engram_core::path::JsonPath::parse(field).expect("path").lookup(d))
}

pub fn sort_and_cursor_pages(make: &Make) {
    let (_fx, s) = setup(make);
    let docs = corpus(&s, "c", 200, 11);
    for (field, desc) in [("score", false), ("score", true), ("name", false)] {
        let order = if desc { SortOrder::Desc } else { SortOrder::Asc };
        let q = Query { sort: vec![SortField { field: field.into(), order }], limit: Some(23), ..Query::default() };
        let got: Vec<String> = all_pages(&s, "c", q).into_iter().map(|d| d.id).collect();
        let mut want: Vec<(Vec<u8>, String)> = docs.iter().map(|(id, d)| (sort_key(d, field), id.clone())).collect();
        want.sort();
        if desc {
            want.reverse();
        }
        let want: Vec<String> = want.into_iter().map(|w| w.1).collect();
        assert_eq!(got, want, "sort by {field} desc={desc}");
    }
    let q = Query {
        sort: vec![SortField::parse("group"), SortField::parse("-score")],
        limit: Some(50),
        ..Query::default()
    };
    let got = all_pages(&s, "c", q);
    assert_eq!(got.len(), 200);
    for w in got.windows(2) {
        let (a, b) = (&w[0].body, &w[1].body);
        let g = sort_key(a, "group").cmp(&sort_key(b, "group"));
        assert!(g.is_lt() || (g.is_eq() && sort_key(a, "score") >= sort_key(b, "score")), "mixed-direction order");
    }
    assert_eq!(
        kind(s.query("c", &Query { cursor: Some("garbage".into()), ..Query::default() })),
        ErrorKind::InvalidInput
    );
    let first = s.query("c", &Query { limit: Some(5), ..Query::default() }).expect("page");
    let other = Query { filter: json!({"group": "red"}), cursor: first.next_cursor, ..Query::default() };
    assert_eq!(kind(s.query("c", &other)), ErrorKind::InvalidInput, "a cursor is bound to its query");
}

pub fn cursor_stable_under_inserts(make: &Make) {
    let (_fx, s) = setup(make);
    let spec = CollectionSpec {
        indexes: vec![IndexSpec { id: 0, name: "by_score".into(), paths: vec!["score".into()] }],
        ..CollectionSpec::default()
    };
    s.create_collection("c", spec).expect("create");
    let docs = corpus(&s, "c", 150, 3);
    for sort in [vec![], vec![SortField::parse("score")], vec![SortField::parse("name")]] {
        let mut q = Query { sort: sort.clone(), limit: Some(10), ..Query::default() };
        let mut seen = Vec::new();
        let mut extra = 0;
        loop {
            let page = s.query("c", &q).expect("page");
            seen.extend(ids(&page));
            let fresh = format!("new{extra:03}-{}", sort.len());
            s.put("c", &fresh, json!({"score": extra % 100, "name": format!("n{extra:03}")}), WriteOptions::default())
                .expect("concurrent insert");
            extra += 1;
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "no document twice (sort {sort:?})");
        for (id, _) in &docs {
            assert!(unique.contains(id), "pre-existing {id} was skipped (sort {sort:?})");
        }
    }
}

pub fn indexes_agree_with_scans(make: &Make) {
    let (_fx, s) = setup(make);
    let idx = |name: &str, paths: &[&str]| IndexSpec {
        id: 0,
        name: name.into(),
        paths: paths.iter().map(|p| p.to_string()).collect(),
    };
    let spec = CollectionSpec {
        indexes: vec![idx("g_s", &["group", "score"]), idx("name", &["name"]), idx("score", &["score"])],
        ..CollectionSpec::default()
    };
    s.create_collection("indexed", spec).expect("create indexed");
    let a = corpus(&s, "plain", 250, 5);
    let b = corpus(&s, "indexed", 250, 5);
    assert_eq!(a, b);
    let sorts =
        [vec![], vec![SortField::parse("score")], vec![SortField::parse("-score")], vec![SortField::parse("name")]];
    for f in filters() {
        for sort in &sorts {
            let q = Query { filter: f.clone(), sort: sort.clone(), limit: Some(31), ..Query::default() };
            let plain: Vec<String> = all_pages(&s, "plain", q.clone()).into_iter().map(|d| d.id).collect();
            let indexed: Vec<String> = all_pages(&s, "indexed", q).into_iter().map(|d| d.id).collect();
            if sort.is_empty() {
                let (p, i): (BTreeSet<_>, BTreeSet<_>) = (plain.iter().collect(), indexed.iter().collect());
                assert_eq!(p, i, "filter {f}");
            } else {
                assert_eq!(plain, indexed, "filter {f} sort {sort:?}");
            }
        }
    }
    // Updates and deletes must move and remove index entries.
    s.put("indexed", "doc0001", json!({"group": "zzz", "score": 1000}), WriteOptions::default()).expect("update");
    s.delete("indexed", "doc0002", WriteOptions::default()).expect("delete");
    s.patch("indexed", "doc0003", json!({"score": 1001}), WriteOptions::default()).expect("patch");
    let hits = s.query("indexed", &Query::filter(json!({"score": {"$gte": 1000}}))).expect("query");
    assert_eq!(ids(&hits), ["doc0001", "doc0003"]);
    assert_eq!(s.count("indexed", &json!({"group": "zzz"})).expect("count"), 1);
    assert_eq!(s.count("indexed", &json!({"i": 2})).expect("count"), 0);
}

pub fn offset_pages(make: &Make) {
    let (_fx, s) = setup(make);
    corpus(&s, "c", 60, 1);
    let all = ids(&s.query("c", &Query { limit: Some(60), ..Query::default() }).expect("all"));
    let page = s.query("c", &Query { offset: Some(20), limit: Some(10), ..Query::default() }).expect("offset");
    assert_eq!(ids(&page), all[20..30]);
    let q = Query { sort: vec![SortField::parse("i")], offset: Some(55), limit: Some(10), ..Query::default() };
    assert_eq!(s.query("c", &q).expect("sorted offset").documents.len(), 5);
    let bad = Query { offset: Some(engram::limits::OFFSET_MAX + 1), ..Query::default() };
    assert_eq!(kind(s.query("c", &bad)), ErrorKind::InvalidInput);
    assert_eq!(kind(s.query("c", &Query { limit: Some(0), ..Query::default() })), ErrorKind::InvalidInput);
    assert_eq!(
        kind(s.query("c", &Query { limit: Some(engram::limits::PAGE_LIMIT_MAX + 1), ..Query::default() })),
        ErrorKind::InvalidInput
    );
}

pub fn count_and_exists(make: &Make) {
    let (_fx, s) = setup(make);
    let docs = corpus(&s, "c", 120, 9);
    assert_eq!(
        s.count("c", &json!({"group": "red"})).expect("count"),
        brute(&docs, &json!({"group": "red"})).len() as u64
    );
    assert!(s.exists("c", &json!({"group": "red"})).expect("exists"));
    assert!(!s.exists("c", &json!({"group": "purple"})).expect("exists"));
    assert_eq!(kind(s.count("missing", &Value::Null)), ErrorKind::NotFound);
}

pub fn change_log_records_every_mutation(make: &Make) {
    let (_fx, s) = setup(make);
    s.put("c", "a", json!({"v": 1}), WriteOptions::default()).expect("put");
    s.patch("c", "a", json!({"v": 2}), WriteOptions::default()).expect("patch");
    s.delete("c", "a", WriteOptions::default()).expect("delete");
    let entries = s.changes(0, 100).expect("changes");
    let ops: Vec<(engram::ChangeOp, &str)> = entries.iter().map(|e| (e.op, e.doc_id.as_str())).collect();
    use engram::ChangeOp::*;
    assert_eq!(ops, [(SpaceCreate, ""), (CollectionCreate, ""), (Put, "a"), (Patch, "a"), (Delete, "a")]);
    assert!(entries.iter().enumerate().all(|(i, e)| e.position == i as u64 + 1));
    assert!(entries.windows(2).all(|w| w[1].hlc > w[0].hlc), "HLC increases with position");
    let body_hash = engram_core::json::content_hash(br#"{"v":2}"#);
    assert_eq!(entries[3].content_hash, body_hash, "content hash is of the canonical body");
    assert_eq!(s.changes(3, 1).expect("after 3")[0].position, 4);
    let report = s.verify_changes().expect("verify");
    assert_eq!((report.entries, report.head_position), (5, 5));
    assert_eq!(kind(s.changes(0, 0)), ErrorKind::InvalidInput);
}

pub fn idempotency_keys(make: &Make) {
    let (fx, s) = setup(make);
    let opts = WriteOptions::idempotent("req-1");
    let first = s.put("c", "a", json!({"v": 1}), opts.clone()).expect("first");
    let before = head(&s);
    let again = s.put("c", "a", json!({"v": 1}), opts.clone()).expect("repeat");
    assert!(again.replayed && !first.replayed);
    assert_eq!((again.version, again.position), (first.version, first.position));
    assert_eq!(head(&s), before, "a repeat writes nothing");
    assert_eq!(kind(s.put("c", "a", json!({"v": 2}), opts.clone())), ErrorKind::IdempotencyMismatch);
    assert_eq!(kind(s.put("c", "a", json!({}), WriteOptions::idempotent("bad key"))), ErrorKind::InvalidInput);
    fx.clock.advance_ms(25 * 3600 * 1000);
    let later = s.put("c", "a", json!({"v": 2}), opts).expect("key expired");
    assert!(!later.replayed && later.version == 2);
}

pub fn bad_input_is_rejected_cleanly(make: &Make) {
    let (_fx, s) = setup(make);
    let o = WriteOptions::default;
    assert_eq!(kind(s.put("bad/name", "a", json!({}), o())), ErrorKind::InvalidInput);
    assert_eq!(kind(s.put("c", "", json!({}), o())), ErrorKind::InvalidInput);
    assert_eq!(kind(s.put("c", "a", json!([1, 2]), o())), ErrorKind::InvalidInput);
    assert_eq!(kind(s.put("c", "a", json!("x"), o())), ErrorKind::InvalidInput);
    let big = json!({"x": "y".repeat(engram::limits::DOC_BYTES_MAX)});
    assert_eq!(kind(s.put("c", "a", big, o())), ErrorKind::TooLarge);
    s.put("c", "ok", json!({"n": 1}), o()).expect("valid write");
    for (f, part) in [
        (json!({"n": {"$gt": [1]}}), "filter.n.$gt"),
        (json!({"n": {"$in": "x"}}), "filter.n.$in"),
        (json!({"$or": {}}), "filter.$or"),
        (json!({"n": {"$bogus": 1}}), "filter.n.$bogus"),
        (json!("text"), "filter"),
    ] {
        let err = s.query("c", &Query::filter(f.clone())).expect_err("bad filter");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains(part), "{f}: {}", err.message());
    }
    let bad_sort = Query { sort: vec![SortField::parse("a..b")], ..Query::default() };
    assert_eq!(kind(s.query("c", &bad_sort)), ErrorKind::InvalidInput);
    assert_eq!(s.count("c", &Value::Null).expect("count"), 1, "nothing written by bad input");
}

pub fn collection_ddl(make: &Make) {
    let (_fx, s) = setup(make);
    s.create_collection("c", CollectionSpec::default()).expect("create");
    assert_eq!(kind(s.create_collection("c", CollectionSpec::default())), ErrorKind::AlreadyExists);
    corpus(&s, "c", 80, 2);
    let spec = CollectionSpec {
        indexes: vec![IndexSpec { id: 0, name: "g".into(), paths: vec!["group".into()] }],
        ..CollectionSpec::default()
    };
    let info = s.update_collection("c", spec.clone()).expect("add index");
    assert_eq!(info.spec.indexes[0].id, 1);
    assert!(info.generation > 1);
    let reds = s.count("c", &json!({"group": "red"})).expect("count via new index");
    let brute_reds = s
        .query("c", &Query { filter: json!({"group": "red"}), limit: Some(1000), ..Query::default() })
        .expect("q")
        .documents
        .len();
    assert_eq!(reds, brute_reds as u64);
    assert!(reds > 0);
    let dup =
        CollectionSpec { indexes: vec![spec.indexes[0].clone(), spec.indexes[0].clone()], ..CollectionSpec::default() };
    assert_eq!(kind(s.update_collection("c", dup)), ErrorKind::InvalidInput);
    let names: Vec<String> = s.collections().expect("list").into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["c"]);
    s.drop_collection("c").expect("drop");
    assert_eq!(kind(s.collection("c")), ErrorKind::NotFound);
    assert_eq!(kind(s.drop_collection("c")), ErrorKind::NotFound);
    s.put("c", "fresh", json!({}), WriteOptions::default()).expect("auto-create");
    assert_eq!(s.count("c", &Value::Null).expect("count"), 1, "a recreated collection starts empty");
    s.verify_changes().expect("chain verifies");
}

pub fn optimistic_concurrency(make: &Make) {
    let (_fx, s) = setup(make);
    s.put("c", "counter", json!({"n": 0}), WriteOptions::default()).expect("seed");
    let wins: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                scope.spawn(move || {
                    let mut wins = 0;
                    for _ in 0..25 {
                        let d = s.get("c", "counter").expect("get");
                        let n = d.body["n"].as_u64().expect("n");
                        let r = s.put(
                            "c",
                            "counter",
                            json!({"n": n + 1}),
                            WriteOptions::expect(Expect::Version(d.version)),
                        );
                        match r {
                            Ok(_) => wins += 1,
                            Err(e) => assert_eq!(e.kind(), ErrorKind::Conflict),
                        }
                    }
                    wins
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    });
    let doc = s.get("c", "counter").expect("get");
    assert_eq!(doc.body["n"].as_u64(), Some(wins as u64), "every successful increment counted once");
    assert_eq!(doc.version, wins as u64 + 1);
}

pub fn reopen_keeps_everything(make: &Make) {
    let (fx, s) = setup(make);
    let spec = CollectionSpec {
        indexes: vec![IndexSpec { id: 0, name: "g".into(), paths: vec!["group".into()] }],
        ..CollectionSpec::default()
    };
    s.create_collection("c", spec).expect("create");
    let docs = corpus(&s, "c", 50, 4);
    s.put("c", "k", json!({"v": 1}), WriteOptions::idempotent("key")).expect("idempotent");
    let report = s.verify_changes().expect("verify");
    let max_hlc = s.changes(0, 1000).expect("changes").last().map(|e| e.hlc).expect("entries");
    drop(s);
    let Some(fx) = fx.reopen() else { return }; // nothing persists in memory
    let s = fx.engine.space("s1").expect("space survives");
    assert_eq!(s.verify_changes().expect("verify"), report);
    assert_eq!(
        s.count("c", &json!({"group": "red"})).expect("count"),
        brute(&docs, &json!({"group": "red"})).len() as u64
    );
    assert!(s.put("c", "k", json!({"v": 1}), WriteOptions::idempotent("key")).expect("replay").replayed);
    let next = s.put("c", "z", json!({}), WriteOptions::default()).expect("write after reopen");
    let entry = s.changes(next.position - 1, 1).expect("entry");
    assert!(entry[0].hlc > max_hlc, "the clock never goes back across a reopen");
}

/// Regression (found by the model-based test): a transaction that
/// auto-created a collection and then failed left a compiled spec cached
/// under the collection's id; the backend reused the id for the next
/// collection, which was then served with the rolled-back one's name and spec.
pub fn rolled_back_collection_leaves_no_stale_spec(make: &Make) {
    let (_fx, s) = setup(make);
    let failed = s.transaction(|tx| {
        tx.put("ghost", "a", json!({"x": 1}));
        tx.put_if("ghost", "b", json!({"x": 2}), Expect::Exists);
        Ok(())
    });
    assert_eq!(kind(failed), ErrorKind::Conflict);
    let schema = json!({"type": "object", "required": ["must"]});
    s.create_collection("real", CollectionSpec { schema: Some(schema), ..CollectionSpec::default() }).expect("create");
    assert_eq!(s.collection("real").expect("info").name, "real");
    let err = s.put("real", "d", json!({"x": 1}), WriteOptions::default()).expect_err("the real schema applies");
    assert_eq!(err.kind(), ErrorKind::SchemaViolation);
    assert_eq!(kind(s.collection("ghost")), ErrorKind::NotFound);
}
