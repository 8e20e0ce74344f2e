//! Data directories written by released formats keep opening.
//!
//! `fixtures/format-v1/` was written by this test when format 1 shipped
//! (it creates a missing fixture outside CI; in CI a missing one fails).
//! Every later build must open a copy of it and read back the same data,
//! and answer indexed queries exactly (format 2 re-keyed numbers).

use engram::{CollectionSpec, Engine, EngineConfig, IndexSpec, Query, WriteOptions};
use engram_sqlite::{SqliteBackend, SqliteOptions};
use engram_testkit::ManualClock;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const SPACE: &str = "fixture";
const DOCS: usize = 200;

fn fixture_dir(format: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/format-v{format}"))
}

fn doc(i: usize) -> Value {
    let kind = ["a", "b", "c", "d"][i % 4];
    json!({"i": i, "kind": kind, "title": format!("document {i}"), "nested": {"x": i * 3}})
}

/// Writes the fixture: a space with an indexed, schema-checked collection,
/// documents written, patched and deleted, an idempotent write.
fn write_fixture(dir: &Path) {
    let engine = Engine::open(EngineConfig::dir(dir)).expect("open fixture dir");
    engine.create_space(SPACE).expect("space");
    let s = engine.space(SPACE).expect("space handle");
    let spec = CollectionSpec {
        schema: Some(json!({"type": "object", "required": ["i"]})),
        indexes: vec![IndexSpec { id: 0, name: "by_kind".into(), paths: vec!["kind".into(), "i".into()] }],
        ..CollectionSpec::default()
    };
    s.create_collection("items", spec).expect("collection");
    let docs = (0..DOCS).map(|i| (format!("item-{i:04}"), doc(i))).collect();
    s.bulk_put("items", docs, None).expect("bulk put");
    s.patch("items", "item-0001", json!({"patched": true}), WriteOptions::default()).expect("patch");
    s.delete("items", "item-0002", WriteOptions::default()).expect("delete");
    s.put("notes", "n1", json!({"text": "kept"}), WriteOptions::idempotent("fixture-key")).expect("idempotent put");
    engine.close();
    std::fs::remove_file(dir.join("LOCK")).expect("remove lock file");
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy fixture file");
    }
}

/// Opens a copy of a fixture at the wall time it was written (its space's
/// creation time plus a minute), so records with a lifetime (idempotency
/// keys, 24 hours) are checked as live whatever day the test runs.
fn open_at_fixture_time(dir: &Path) -> Engine {
    let engine = Engine::open(EngineConfig::dir(dir)).expect("a released format opens");
    let created =
        engine.spaces().expect("spaces").iter().find(|s| s.name == SPACE).expect("fixture space").created_at_ms;
    engine.close();
    let backend = SqliteBackend::open(&dir.join("engram.db"), SqliteOptions::default()).expect("open the database");
    let clock = Arc::new(ManualClock::new(created + 60_000));
    Engine::with_backend(Arc::new(backend), clock, EngineConfig::dir(dir)).expect("a released format opens")
}

fn check(dir: &Path) {
    let engine = open_at_fixture_time(dir);
    let s = engine.space(SPACE).expect("space");
    assert_eq!(s.get("items", "item-0001").expect("patched").body["patched"], true);
    assert_eq!(s.get("items", "item-0007").expect("doc").body, doc(7));
    assert!(s.get("items", "item-0002").is_err(), "deleted stays deleted");
    let q = Query {
        filter: json!({"kind": "b"}),
        sort: vec![engram::SortField::parse("i")],
        limit: Some(1000),
        ..Query::default()
    };
    let page = s.query("items", &q).expect("indexed query");
    let want: Vec<String> = (0..DOCS).filter(|i| i % 4 == 1).map(|i| format!("item-{i:04}")).collect();
    assert_eq!(page.documents.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), want);
    // Format 1 keyed numbers differently; its entries are rebuilt at open
    // (format 2), so indexed equality and ranges on a number still answer.
    let ids = |filter: Value| {
        let q = Query { filter, sort: vec![engram::SortField::parse("-i")], limit: Some(1000), ..Query::default() };
        s.query("items", &q).expect("indexed query").documents.into_iter().map(|d| d.id).collect::<Vec<_>>()
    };
    assert_eq!(ids(json!({"kind": "b", "i": 5})), ["item-0005"], "indexed equality on a number");
    assert_eq!(ids(json!({"kind": "b", "i": 5.0})), ["item-0005"], "5.0 is 5");
    assert_eq!(
        ids(json!({"kind": "d", "i": {"$gte": 100, "$lt": 120}})),
        ["item-0119", "item-0115", "item-0111", "item-0107", "item-0103"],
        "indexed range on a number"
    );
    let report = s.verify_changes().expect("chain verifies");
    assert_eq!(
        report.head_position,
        1 + 1 + DOCS as u64 + 2 + 2,
        "space, collection, docs, patch, delete, notes collection + put"
    );
    let replay =
        s.put("notes", "n1", json!({"text": "kept"}), WriteOptions::idempotent("fixture-key")).expect("replay");
    assert!(replay.replayed, "idempotency records survive");
    let next = s.put("items", "new", json!({"i": 1}), WriteOptions::default()).expect("writable");
    assert_eq!(next.position, report.head_position + 1);
    engine.close();
}

#[test]
fn format_v1_opens() {
    let fixture = fixture_dir(1);
    if !fixture.join("engram.db").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "fixture {} is missing in CI: generate it locally and commit it",
            fixture.display()
        );
        std::fs::create_dir_all(&fixture).expect("fixture dir");
        write_fixture(&fixture);
        eprintln!("created {}: commit it", fixture.display());
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(&fixture, tmp.path());
    check(tmp.path());
}
