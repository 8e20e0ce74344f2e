//! HTTP request bodies: bytes → every body type the server accepts → a real in-memory engine; any `Err` is fine, a panic is a bug.
//!
//! The same bytes are tried as each body: `Op`, `Vec<Op>` and `{"ops": [...]}`
//! (transactions), `Query` (plus `Filter::parse` and `SortField::parse`),
//! `CollectionSpec`, `{"filter": ...}` (count, exists) and the bulk put /
//! delete bodies; whatever deserializes is run against the engine.
//!
//! An input that is not JSON also drives a structural generator
//! (`arbitrary::Unstructured`) that builds up to four well-formed bodies
//! (transactions, queries, specs, bulk writes) on a few collections, ids and
//! fields, so that the engine sees coherent histories, not only parse errors.
//!
//! The engine is created once per process. Each input gets a fresh space
//! (created, seeded with an indexed collection `c`, and deleted at the end),
//! so an input's outcome does not depend on the inputs before it (a crash
//! reproduces from its file alone) and the in-memory backend's state, which it
//! copies on every write, stays small.
//!
//! Besides "no panic", it checks what must hold whatever the input: a replayed
//! idempotent transaction returns the first result, a `next_cursor` is
//! accepted back, and the space's change log verifies at the end.

#![no_main]

use arbitrary::{Result as ArbResult, Unstructured};
use engram::{CollectionSpec, Engine, Op, Query, SortField, SortOrder, Space, WriteOptions};
use engram_core::filter::Filter;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Larger inputs are skipped: per-input work stays bounded.
const INPUT_BYTES_MAX: usize = 64 * 1024;
const SPACE: &str = "fuzz";

/// Body of `POST /v1/spaces/{s}/transactions` (as in engram-server).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Transaction {
    ops: Vec<Op>,
}

/// Body of `POST …/count` and `…/exists` (as in engram-server).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterBody {
    #[serde(default)]
    filter: Value,
}

/// Body of `POST …/bulk/put` (as in engram-server).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkPut {
    documents: Vec<BulkDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkDoc {
    id: String,
    body: Value,
}

/// Body of `POST …/bulk/delete` (as in engram-server).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkDelete {
    ids: Vec<String>,
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(Engine::in_memory)
}

fuzz_target!(|data: &[u8]| {
    if data.len() > INPUT_BYTES_MAX {
        return;
    }
    let engine = engine();
    engine.create_space(SPACE).expect("create the space");
    let space = engine.space(SPACE).expect("open the space");
    seed(&space);
    run(&space, data);
    if serde_json::from_slice::<serde::de::IgnoredAny>(data).is_err() {
        // Not JSON: build a short sequence of well-formed bodies from the bytes.
        let mut u = Unstructured::new(data);
        for _ in 0..4 {
            let Ok(body) = generate::body(&mut u) else { break };
            run(&space, &serde_json::to_vec(&body).expect("JSON serializes"));
        }
    }
    let report = space.verify_changes().expect("the change log verifies whatever the requests were");
    assert!(report.entries > 0);
    engine.delete_space(SPACE).expect("delete the space");
});

/// Collection `c` with indexes (single, compound, on an array field) and a few documents.
fn seed(space: &Space) {
    let spec: CollectionSpec = serde_json::from_value(json!({
        "indexes": [
            {"name": "by_status", "paths": ["status"]},
            {"name": "by_group_score", "paths": ["group", "score"]},
            {"name": "by_tags", "paths": ["tags"]}
        ]
    }))
    .expect("seed spec");
    space.create_collection("c", spec).expect("create the seed collection");
    let docs = vec![
        ("n1".to_owned(), json!({"status": "open", "group": "red", "score": 10, "tags": ["x"], "name": "n1"})),
        ("n2".to_owned(), json!({"status": "done", "group": "blue", "score": 40.5, "tags": [], "age": 18})),
        ("n3".to_owned(), json!({"status": null, "group": "red", "score": "high", "o": {"p": [1, {"q": "z"}]}})),
        ("n4".to_owned(), json!({"group": "red", "score": -3, "name": "\u{0}x"})),
    ];
    space.bulk_put("c", docs, None).expect("seed documents");
}

/// Deserializes one body as the server does: the whole input, nothing after it.
fn body<T: DeserializeOwned>(data: &[u8]) -> Option<T> {
    let mut de = serde_json::Deserializer::from_slice(data);
    let value = T::deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(value)
}

fn run(space: &Space, data: &[u8]) {
    if let Some(op) = body::<Op>(data) {
        let _ = space.commit(vec![op], None);
    }
    if let Some(ops) = body::<Vec<Op>>(data) {
        let _ = space.commit(ops, None);
    }
    if let Some(t) = body::<Transaction>(data) {
        idempotent_commit(space, t.ops);
    }
    if let Some(q) = body::<Query>(data) {
        query(space, q);
    }
    // Every object deserializes as a (default) spec; only run the ones that
    // say something, as building indexes on each input is the slow part.
    let is_spec = |v: &Value| ["schema", "default_ttl_seconds", "indexes"].iter().any(|k| v.get(k).is_some());
    if let Some(spec) = body::<CollectionSpec>(data).filter(|_| body::<Value>(data).is_some_and(|v| is_spec(&v))) {
        collection_spec(space, spec);
    }
    if let Some(b) = body::<FilterBody>(data) {
        let count = space.count("c", &b.filter);
        let exists = space.exists("c", &b.filter);
        if let (Ok(n), Ok(e)) = (count, exists) {
            assert_eq!(n > 0, e, "count {n} and exists {e} disagree for {}", b.filter);
        }
    }
    if let Some(b) = body::<BulkPut>(data) {
        let docs = b.documents.into_iter().map(|d| (d.id, d.body)).collect();
        let _ = space.bulk_put("c", docs, None);
    }
    if let Some(b) = body::<BulkDelete>(data) {
        let _ = space.bulk_delete("c", b.ids, None);
    }
    // A document body as such (PUT …/docs/{id}, PATCH …/docs/{id}).
    if let Some(doc) = body::<Value>(data) {
        let _ = space.put("c", "d", doc.clone(), WriteOptions::default());
        let _ = space.patch("c", "n1", doc, WriteOptions::default());
    }
}

/// A transaction with an idempotency key, then its repeat: the repeat
/// writes nothing and returns the first result.
fn idempotent_commit(space: &Space, ops: Vec<Op>) {
    // A key of its own: an input may hold several transactions.
    static KEYS: AtomicU64 = AtomicU64::new(0);
    let key = format!("fuzz-key-{}", KEYS.fetch_add(1, Ordering::Relaxed));
    let Ok(first) = space.commit(ops.clone(), Some(&key)) else { return };
    assert!(!first.replayed, "a new key was replayed");
    let again = space.commit(ops, Some(&key)).expect("a repeated idempotent request succeeds");
    assert!(again.replayed, "repeat not marked replayed");
    assert_eq!(again.results, first.results, "replay returned another result");
    assert_eq!(again.position, first.position, "replay returned another position");
}

fn query(space: &Space, mut q: Query) {
    let _ = Filter::parse(&q.filter);
    for s in &q.sort {
        // The `?sort=a,-b` form of the same fields.
        let asc = SortField::parse(&s.field);
        let desc = SortField::parse(&format!("-{}", s.field));
        if !s.field.starts_with('-') {
            assert_eq!(asc, SortField { field: s.field.clone(), order: SortOrder::Asc });
        }
        assert_eq!(desc, SortField { field: s.field.clone(), order: SortOrder::Desc });
    }
    let Ok(page) = space.query("c", &q) else { return };
    if let Some(limit) = q.limit {
        assert!(page.documents.len() <= limit, "page longer than its limit");
    }
    // A next_cursor is accepted back by the same query (a few pages at most).
    q.offset = None;
    let mut next = page.next_cursor;
    for _ in 0..3 {
        let Some(cursor) = next.take() else { break };
        q.cursor = Some(cursor.clone());
        match space.query("c", &q) {
            Ok(p) => next = p.next_cursor,
            Err(e) => panic!("next_cursor {cursor:?} refused by its own query: {}", e.message()),
        }
    }
}

fn collection_spec(space: &Space, spec: CollectionSpec) {
    // PUT …/collections/{c}: create, or update the spec of an existing one
    // (indexes are then built from its documents).
    if space.create_collection("c2", spec.clone()).is_ok() {
        let _ = space.put("c2", "d1", json!({"status": "open", "group": "red", "score": 1}), WriteOptions::default());
        let _ = space.query("c2", &Query { sort: vec![SortField::parse("-score")], ..Query::default() });
    }
    if space.update_collection("c", spec).is_ok() {
        let _ = space.put("c", "n5", json!({"status": "open", "tags": ["x", "y"]}), WriteOptions::default());
        let q = Query { filter: json!({"status": "open"}), limit: Some(1), ..Query::default() };
        let _ = space.query("c", &q);
    }
}

mod generate {
    use super::*;
    use serde_json::Map;

    const COLLECTIONS: &[&str] = &["c", "c", "c2", "d", "", "Bad Name"];
    const IDS: &[&str] = &["n1", "n2", "n3", "n4", "d", "x", "", "\u{0}"];
    const FIELDS: &[&str] = &["status", "group", "score", "tags", "name", "o.p", "age", "$bad", "a..b"];
    const STRINGS: &[&str] = &["open", "done", "red", "blue", "x", "", "n1", "\u{0}x"];

    /// One request body.
    pub fn body(u: &mut Unstructured<'_>) -> ArbResult<Value> {
        Ok(match u.int_in_range(0..=6)? {
            0 | 1 => {
                let n = u.int_in_range(0..=5)?;
                json!({ "ops": (0..n).map(|_| op(u)).collect::<ArbResult<Vec<_>>>()? })
            }
            2 | 3 => query(u)?,
            4 => spec(u)?,
            5 => {
                json!({ "documents": (0..u.int_in_range(0..=4)?).map(|_| Ok(json!({"id": pick(u, IDS)?, "body": doc(u)?}))).collect::<ArbResult<Vec<_>>>()? })
            }
            _ => json!({ "ids": (0..u.int_in_range(0..=3)?).map(|_| pick(u, IDS)).collect::<ArbResult<Vec<_>>>()? }),
        })
    }

    fn op(u: &mut Unstructured<'_>) -> ArbResult<Value> {
        let mut m = Map::new();
        let kind = *u.choose(&["put", "put", "patch", "delete"])?;
        m.insert("op".into(), json!(kind));
        m.insert("collection".into(), json!(pick(u, COLLECTIONS)?));
        m.insert("id".into(), json!(pick(u, IDS)?));
        match kind {
            "put" => m.insert("body".into(), doc(u)?),
            "patch" => m.insert("patch".into(), if u.ratio(1, 8)? { scalar(u)? } else { doc(u)? }),
            _ => None,
        };
        if u.ratio(1, 3)? {
            let expect = match u.int_in_range(0..=3)? {
                0 => json!("any"),
                1 => json!("absent"),
                2 => json!("exists"),
                _ => json!({"version": u.int_in_range(0..=3u64)?}),
            };
            m.insert("expect".into(), expect);
        }
        if kind != "delete" && u.ratio(1, 6)? {
            m.insert("ttl_seconds".into(), json!(*u.choose(&[0u64, 1, 3600, 3_153_600_000, 3_153_600_001, u64::MAX])?));
        }
        Ok(Value::Object(m))
    }

    /// A document (or patch) over the shared fields; nulls delete in a patch.
    fn doc(u: &mut Unstructured<'_>) -> ArbResult<Value> {
        let mut m = Map::new();
        for _ in 0..u.int_in_range(0..=4)? {
            let f = pick(u, FIELDS)?;
            let v = if f == "tags" && u.arbitrary()? {
                json!((0..u.int_in_range(0..=3)?).map(|_| pick(u, STRINGS)).collect::<ArbResult<Vec<_>>>()?)
            } else if f == "o.p" {
                json!({"p": scalar(u)?})
            } else {
                scalar(u)?
            };
            m.insert(f.split('.').next().unwrap_or(f).to_owned(), v);
        }
        Ok(Value::Object(m))
    }

    fn scalar(u: &mut Unstructured<'_>) -> ArbResult<Value> {
        Ok(match u.int_in_range(0..=5)? {
            0 => Value::Null,
            1 => json!(u.arbitrary::<bool>()?),
            2 => json!(u.int_in_range(-2i64..=50)?),
            3 => json!(f64::from(u.int_in_range(-8i32..=8)?) / 4.0),
            4 => json!(*u.choose(&[i64::MIN, i64::MAX])?),
            _ => json!(pick(u, STRINGS)?),
        })
    }

    fn condition(u: &mut Unstructured<'_>) -> ArbResult<Value> {
        let f = pick(u, FIELDS)?;
        let c = match u.int_in_range(0..=7)? {
            0 => scalar(u)?,
            1 => json!({"$in": [scalar(u)?, scalar(u)?]}),
            2 => json!({"$prefix": pick(u, STRINGS)?}),
            3 => json!({"$exists": u.arbitrary::<bool>()?}),
            4 => json!({"$contains": scalar(u)?}),
            5 => json!({"$gte": scalar(u)?, "$lt": scalar(u)?}),
            6 => json!({ *u.choose(&["$ne", "$gt", "$lte", "$nin"])?: scalar(u)? }),
            _ => json!({"$eq": scalar(u)?}),
        };
        Ok(json!({ f: c }))
    }

    fn filter(u: &mut Unstructured<'_>) -> ArbResult<Value> {
        Ok(match u.int_in_range(0..=5)? {
            0 => json!({}),
            1 => json!({"$or": [condition(u)?, condition(u)?]}),
            2 => json!({"$not": condition(u)?}),
            3 => {
                let mut m = Map::new();
                for _ in 0..u.int_in_range(1..=3)? {
                    if let Value::Object(c) = condition(u)? {
                        m.extend(c);
                    }
                }
                Value::Object(m)
            }
            _ => condition(u)?,
        })
    }

    fn query(u: &mut Unstructured<'_>) -> ArbResult<Value> {
        let mut m = Map::new();
        if u.ratio(3, 4)? {
            m.insert("filter".into(), filter(u)?);
        }
        if u.arbitrary()? {
            let sort = (0..u.int_in_range(1..=5)?)
                .map(|_| Ok(json!({"field": pick(u, FIELDS)?, "order": *u.choose(&["asc", "desc"])?})))
                .collect::<ArbResult<Vec<_>>>()?;
            m.insert("sort".into(), json!(sort));
        }
        if u.arbitrary()? {
            m.insert("limit".into(), json!(*u.choose(&[0usize, 1, 1, 2, 3, 1000, 1001])?));
        }
        match u.int_in_range(0..=7)? {
            0 => {
                m.insert("offset".into(), json!(*u.choose(&[0usize, 1, 3, 10_000, 10_001])?));
            }
            1 => {
                m.insert("cursor".into(), json!(pick(u, &["", "AQ", "garbage", "AWVuZ3JhbS1mAAAAAAJuMQ"])?));
            }
            _ => {}
        }
        Ok(Value::Object(m))
    }

    fn spec(u: &mut Unstructured<'_>) -> ArbResult<Value> {
        let mut m = Map::new();
        let n = u.int_in_range(0..=3)?;
        let indexes = (0..n)
            .map(|i| {
                let paths = (0..u.int_in_range(0..=5)?).map(|_| pick(u, FIELDS)).collect::<ArbResult<Vec<_>>>()?;
                Ok(json!({"name": format!("i{}", i % 2), "paths": paths}))
            })
            .collect::<ArbResult<Vec<_>>>()?;
        m.insert("indexes".into(), json!(indexes));
        if u.ratio(1, 3)? {
            let schema = match u.int_in_range(0..=3)? {
                0 => json!({"type": "object", "required": ["status"]}),
                1 => json!({"type": "object", "properties": {"score": {"type": "number", "minimum": 0}}}),
                2 => json!({"type": "object", "properties": {"status": {"enum": ["open", "done"]}}}),
                _ => json!({"type": "array"}),
            };
            m.insert("schema".into(), schema);
        }
        if u.ratio(1, 4)? {
            m.insert("default_ttl_seconds".into(), json!(*u.choose(&[0u64, 1, 60, 3_153_600_001])?));
        }
        Ok(Value::Object(m))
    }

    fn pick<'a>(u: &mut Unstructured<'_>, from: &[&'a str]) -> ArbResult<&'a str> {
        u.choose(from).copied()
    }
}
