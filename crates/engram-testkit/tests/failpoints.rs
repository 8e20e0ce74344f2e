//! The failpoint sweep: every registered failpoint fires once and
//! repeatedly, as an error and as a panic, during a workload; afterwards the
//! store reopens consistent and keeps every acknowledged write. A failpoint
//! that the workload never reaches fails the test.
//!
//! One test function: failpoints are process-global, so the sweep runs its
//! cases one after another.

use engram::{CollectionSpec, Document, Engine, Expect, IndexSpec, WriteOptions};
use engram_testkit::{ManualClock, consistency, sqlite_fixture};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Actions each failpoint is swept with.
const ACTIONS: &[&str] = &["1*return", "return", "1*panic", "panic"];

fn all_failpoints() -> Vec<&'static str> {
    engram::FAILPOINTS.iter().chain(engram_sqlite::FAILPOINTS).copied().collect()
}

/// What the workload was told succeeded: the newest acknowledged state.
type Acked = BTreeMap<(String, String), Option<(u64, Value)>>;

/// Runs one step; a panic (an injected one) counts as a failed step.
fn step<T>(f: impl FnOnce() -> engram::Result<T>) -> Option<T> {
    catch_unwind(AssertUnwindSafe(f)).ok().and_then(Result::ok)
}

fn record(acked: &mut Acked, coll: &str, id: &str, state: Option<(u64, Value)>) {
    acked.insert((coll.to_owned(), id.to_owned()), state);
}

/// A fixed mix of every kind of write, reads, and both background workers.
fn workload(engine: &Engine, clock: &ManualClock, acked: &mut Acked) {
    let Some(()) = step(|| engine.create_space("s").map(drop)) else { return };
    let Some(s) = step(|| engine.space("s")) else { return };
    let spec = CollectionSpec {
        indexes: vec![IndexSpec { id: 0, name: "by_k".into(), paths: vec!["k".into()] }],
        ..CollectionSpec::default()
    };
    step(|| s.create_collection("c", spec).map(drop));
    for i in 0..12 {
        let (id, body) = (format!("d{i}"), json!({"k": i % 3, "n": i}));
        if let Some(r) = step(|| s.put("c", &id, body.clone(), WriteOptions::default())) {
            record(acked, "c", &id, Some((r.version, body)));
        }
    }
    if let Some(r) = step(|| s.patch("c", "d1", json!({"n": 100}), WriteOptions::default())) {
        record(acked, "c", "d1", Some((r.version, json!({"k": 1, "n": 100}))));
    }
    if step(|| s.delete("c", "d2", WriteOptions::expect(Expect::Exists))).is_some() {
        record(acked, "c", "d2", None);
    }
    let tx = step(|| {
        s.transaction(|b| {
            b.put("c", "t1", json!({"k": 7}));
            b.put("other", "t2", json!({"k": 8}));
            Ok(())
        })
    });
    if let Some(r) = tx {
        record(acked, "c", "t1", Some((r.results[0].version, json!({"k": 7}))));
        record(acked, "other", "t2", Some((r.results[1].version, json!({"k": 8}))));
    }
    let idem = WriteOptions::idempotent("key-1");
    for _ in 0..2 {
        if let Some(r) = step(|| s.put("c", "i1", json!({"k": 9}), idem.clone())) {
            record(acked, "c", "i1", Some((r.version, json!({"k": 9}))));
        }
    }
    let docs: Vec<(String, Value)> = (0..5).map(|i| (format!("b{i}"), json!({"k": i}))).collect();
    if let Some(r) = step(|| s.bulk_put("c", docs.clone(), None)) {
        for ((id, body), res) in docs.into_iter().zip(r.results) {
            record(acked, "c", &id, Some((res.version, body)));
        }
    }
    step(|| s.put("c", "d0", json!({}), WriteOptions::expect(Expect::Absent))); // fails: exists
    search_work(engine, &s, acked);
    concurrent_writes(&s, acked);
    let ttl = WriteOptions { ttl_seconds: Some(1), ..WriteOptions::default() };
    step(|| s.put("c", "short", json!({"k": 5}), ttl.clone()));
    step(|| s.get("c", "d0"));
    step(|| s.count("c", &json!({"k": 1})));
    clock.advance_ms(25 * 3600 * 1000); // expire the TTL and the idempotency key
    step(|| engine.purge_expired());
}

/// A searchable collection: writes, searches (each catches the index up),
/// a save of the index file, and the background indexer's pass.
fn search_work(engine: &Engine, s: &engram::Space, acked: &mut Acked) {
    let spec: CollectionSpec = serde_json::from_value(json!({"search": {
        "text": [{"path": "t"}],
        "vectors": [{"name": "v", "dims": 2, "metric": "l2", "model": {"name": "m", "version": "1"}}]
    }}))
    .expect("search spec");
    step(|| s.create_collection("n", spec).map(drop));
    for i in 0..6 {
        let (id, body) = (format!("n{i}"), json!({"t": format!("note {i}"), "v": [i, 1]}));
        if let Some(r) = step(|| s.put("n", &id, body.clone(), WriteOptions::default())) {
            record(acked, "n", &id, Some((r.version, body)));
        }
        let req =
            engram::SearchRequest { text: Some("note".into()), vector: Some(vec![0.0, 1.0]), ..Default::default() };
        step(|| s.search("n", &req));
    }
    step(|| s.save_search_index());
    if step(|| s.delete("n", "n0", WriteOptions::default())).is_some() {
        record(acked, "n", "n0", None);
    }
    step(|| engine.index_now());
}

/// Writers enough to share commits (savepoints), some of them failing.
fn concurrent_writes(s: &engram::Space, acked: &mut Acked) {
    let shared = std::sync::Mutex::new(std::mem::take(acked));
    std::thread::scope(|scope| {
        for t in 0..16 {
            let (s, shared) = (s.clone(), &shared);
            scope.spawn(move || {
                for i in 0..20 {
                    let (id, body) = (format!("w{t}-{i}"), json!({"k": i % 4}));
                    let expect = if i % 7 == 6 { Expect::Exists } else { Expect::Any }; // some conflict
                    if let Some(r) = step(|| s.put("c", &id, body.clone(), WriteOptions::expect(expect))) {
                        let mut a = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        record(&mut a, "c", &id, Some((r.version, body)));
                    }
                }
            });
        }
    });
    *acked = shared.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
}

/// After reopening: the store is consistent and every acknowledged state is
/// there (at that version, or a later one from an unacknowledged write).
fn verify(engine: &Engine, acked: &Acked) -> Result<(), String> {
    consistency::check(engine)?;
    let Ok(s) = engine.space("s") else {
        return if acked.is_empty() { Ok(()) } else { Err("acknowledged writes but the space is gone".into()) };
    };
    match s.check_search_index() {
        Ok(c) if c.ok => {}
        Ok(c) => return Err(format!("search index diverges from the records: {c:?}")),
        Err(e) => return Err(format!("search index check failed: {e}")),
    }
    for ((coll, id), want) in acked {
        let got: Option<Document> = s.get(coll, id).ok();
        match (want, got) {
            (Some((v, body)), Some(d)) if d.version > *v || (d.version == *v && d.body == *body) => {}
            (None, None) => {}
            (want, got) => return Err(format!("{coll}/{id}: acknowledged {want:?}, found {got:?}")),
        }
    }
    Ok(())
}

fn run_case(failpoint: &str, action: &str) -> Result<(), String> {
    let clock = Arc::new(ManualClock::default());
    let fx = sqlite_fixture(clock.clone());
    fail::cfg(failpoint, action).map_err(|e| format!("configuring {failpoint}: {e}"))?;
    let mut acked = Acked::new();
    workload(&fx.engine, &clock, &mut acked);
    fail::remove(failpoint);
    let fx = fx.reopen().ok_or("the SQLite fixture reopens")?;
    verify(&fx.engine, &acked).map_err(|e| format!("{failpoint}={action}: {e}"))
}

#[test]
fn every_failpoint_fires_and_the_store_reopens_consistent() {
    let scenario = fail::FailScenario::setup();
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // injected panics are expected
    let mut failures = Vec::new();
    for fp in all_failpoints() {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        fail::cfg_callback(fp, move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .expect("callback");
        let clock = Arc::new(ManualClock::default());
        let fx = sqlite_fixture(clock.clone());
        workload(&fx.engine, &clock, &mut Acked::new());
        fail::remove(fp);
        drop(fx);
        if hits.load(Ordering::SeqCst) == 0 {
            failures.push(format!("{fp}: never exercised by the workload"));
        }
        for action in ACTIONS {
            if let Err(e) = run_case(fp, action) {
                failures.push(e);
            }
        }
    }
    std::panic::set_hook(quiet);
    scenario.teardown();
    let cases = all_failpoints().len() * ACTIONS.len();
    println!("failpoints: {} registered, {cases} cases, {} inconsistent", all_failpoints().len(), failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
