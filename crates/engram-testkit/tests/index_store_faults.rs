//! The storage fault sweep of the search index files, after SQLite's I/O
//! error loop: a workload runs with the index files' store failing every
//! operation from the N-th on, for every N the workload reaches, each time
//! with and without a power loss afterwards (only synced bytes survive).
//! Reopened, the search index must agree with the records every time: a
//! failed save may cost a replay or a rebuild, never a wrong answer.
//!
//! The SQLite file itself is not wrapped here (that needs a custom VFS).

use engram::{Engine, EngineConfig, SearchRequest, WriteOptions};
use engram_sqlite::{SqliteBackend, SqliteOptions};
use engram_testkit::{FaultyStore, ManualClock};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn open(db: &Path, store: &FaultyStore) -> Engine {
    let backend = SqliteBackend::open(db, SqliteOptions::default()).expect("open sqlite");
    let config = EngineConfig {
        search_index_store: Some(Arc::new(store.clone())),
        purge_interval: Duration::from_secs(3600),
        index_interval: Duration::from_secs(3600),
        ..EngineConfig::memory()
    };
    Engine::with_backend(Arc::new(backend), Arc::new(ManualClock::default()), config).expect("engine")
}

/// Writes, searches and saves; index failures are tolerated (they surface
/// as errors of `save_search_index` or of a search that loads the file).
fn workload(engine: &Engine) {
    engine.create_space("s").expect("space");
    let s = engine.space("s").expect("space");
    let spec = serde_json::from_value(json!({"search": {
        "text": [{"path": "t"}],
        "vectors": [{"name": "v", "dims": 2, "metric": "l2", "model": {"name": "m", "version": "1"}}]
    }}))
    .expect("spec");
    s.create_collection("n", spec).expect("collection");
    for round in 0..3 {
        for i in 0..8 {
            let body = json!({"t": format!("note {i} round{round}"), "v": [i, round]});
            s.put("n", &format!("d{i}"), body, WriteOptions::default()).expect("put");
        }
        s.delete("n", &format!("d{round}"), WriteOptions::default()).expect("delete");
        let _ = s.search("n", &SearchRequest { text: Some("note".into()), ..Default::default() });
        let _ = s.save_search_index();
    }
    s.put("n", "late", json!({"t": "written after the last save", "v": [9, 9]}), WriteOptions::default()).expect("put");
}

/// Runs the workload with failures from operation `fail_at`, optionally
/// loses power, reopens and checks. Returns the operations the run used.
fn run(fail_at: Option<usize>, power_loss: bool) -> Result<usize, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("engram.db");
    let store = FaultyStore::new();
    let engine = open(&db, &store);
    if let Some(n) = fail_at {
        store.fail_from(n);
    }
    workload(&engine);
    engine.close(); // saves at close; a failure there is logged, not fatal
    let used = store.ops();
    store.heal();
    if power_loss {
        store.power_loss();
    }
    let engine = open(&db, &store);
    let s = engine.space("s").map_err(|e| e.to_string())?;
    let what = format!("failing from op {fail_at:?}, power loss {power_loss}");
    let check = s.check_search_index().map_err(|e| format!("{what}: check failed: {e}"))?;
    if !check.ok {
        return Err(format!("{what}: index diverges: {check:?}"));
    }
    let r = s.search("n", &SearchRequest { text: Some("round2".into()), k: Some(20), ..Default::default() });
    let hits = r.map_err(|e| format!("{what}: search failed: {e}"))?.hits.len();
    if hits != 7 {
        return Err(format!("{what}: {hits} documents of the last round found, expected 7"));
    }
    engine.close();
    Ok(used)
}

#[test]
fn every_failing_index_file_operation_and_power_loss_leave_a_correct_index() {
    let clean = run(None, false).expect("a clean run");
    run(None, true).expect("a power loss after a clean run");
    let mut failures = Vec::new();
    for n in 1..=clean + 1 {
        for power_loss in [false, true] {
            if let Err(e) = run(Some(n), power_loss) {
                failures.push(e);
            }
        }
    }
    println!("index store faults: {clean} operations, {} cases, {} failed", 2 * (clean + 1) + 2, failures.len());
    assert!(clean >= 8, "the workload saves the index several times ({clean} store operations)");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
