//! Index entries listed as stale (an older key encoding) are rebuilt when
//! the engine opens, before any query, without touching documents or the
//! change log; a listed collection that no longer exists is just unlisted.

use engram::{CollectionSpec, Engine, EngineConfig, IndexSpec, Query, SortField, WriteOptions};
use serde_json::{Value, json};
use std::path::Path;

const P53: u64 = 1 << 53;

fn ids(engine: &Engine, filter: Value, sort: &str) -> Vec<String> {
    let s = engine.space("s").expect("space");
    let q = Query { filter, sort: vec![SortField::parse(sort)], limit: Some(100), ..Query::default() };
    s.query("n", &q).expect("query").documents.into_iter().map(|d| d.id).collect()
}

fn raw(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("engram.db")).expect("open the data file")
}

#[test]
fn stale_index_entries_are_rebuilt_at_open() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let engine = Engine::open(EngineConfig::dir(dir)).expect("open");
    engine.create_space("s").expect("space");
    let s = engine.space("s").expect("space handle");
    let spec = CollectionSpec {
        indexes: vec![IndexSpec { id: 0, name: "by_v".into(), paths: vec!["v".into()] }],
        ..CollectionSpec::default()
    };
    s.create_collection("n", spec).expect("collection");
    for (id, v) in
        [("b", json!(P53)), ("c", json!(P53 + 1)), ("a", json!(P53 - 1)), ("e", json!(9.007_199_254_740_992e15))]
    {
        s.put("n", id, json!({"v": v}), WriteOptions::default()).expect("put");
    }
    let head = s.verify_changes().expect("chain").head_position;
    drop(s); // a space handle keeps the engine, and its directory lock, alive
    engine.close();

    // Stand in for format-1 entries: keys of another shape, which equality
    // lookups miss; list the collection, and one that no longer exists.
    let db = raw(dir);
    let coll: i64 = db.query_row("SELECT id FROM collections WHERE name = 'n'", [], |r| r.get(0)).expect("id");
    db.execute_batch("UPDATE index_entries SET key = substr(key, 1, 9)").expect("old-shaped keys");
    db.execute("INSERT INTO index_rebuilds VALUES (?1), (999)", [coll]).expect("list");
    drop(db);

    let engine = Engine::open(EngineConfig::dir(dir)).expect("reopen");
    assert_eq!(ids(&engine, json!({"v": P53 + 1}), "v"), ["c"], "indexed equality");
    assert_eq!(ids(&engine, json!({"v": 9.007_199_254_740_992e15}), "v"), ["b", "e"]);
    assert_eq!(ids(&engine, json!({"v": {"$gte": 0}}), "-v"), ["c", "e", "b", "a"], "indexed range and sort");
    let s = engine.space("s").expect("space");
    assert_eq!(s.verify_changes().expect("chain").head_position, head, "no change-log entry");
    drop(s);
    engine.close();
    let left: i64 = raw(dir).query_row("SELECT count(*) FROM index_rebuilds", [], |r| r.get(0)).expect("count");
    assert_eq!(left, 0, "every listed collection is unlisted");
}
