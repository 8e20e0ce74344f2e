//! Read-replica routing against a real streaming replica: a disposable
//! PostgreSQL primary, a hot standby made from it with `pg_basebackup`,
//! and an engine configured with both. Reads that accept staleness see the
//! primary's writes once replicated, keep answering from the replica while
//! the primary is down (when ordinary reads fail), and fall back to the
//! primary while the replica is down.

use engram::{Engine, EngineConfig, ErrorKind, Query, SystemClock, WriteOptions};
use engram_postgres::{PostgresBackend, PostgresOptions};
use engram_testkit::disposable::DisposablePostgres;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn stale_reads_go_to_the_replica() {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let Some(primary) = DisposablePostgres::start(base) else { return };
    let replica = primary.start_replica(base);
    let mut opts = PostgresOptions::new(primary.url());
    opts.replica_url = Some(replica.url());
    opts.connect_timeout = Duration::from_secs(2);
    let backend = PostgresBackend::open(opts).expect("backend on the primary");
    let engine =
        Engine::with_backend(Arc::new(backend), Arc::new(SystemClock), EngineConfig::memory()).expect("engine");
    engine.create_space("s").expect("space");
    let space = engine.space("s").expect("space");
    space.put("notes", "n1", json!({"text": "hello"}), WriteOptions::default()).expect("put");
    let stale = space.replica_reads();
    wait_until("the write replicated", || stale.get("notes", "n1").is_ok());
    let q = Query { filter: json!({"text": "hello"}), ..Query::default() };
    assert_eq!(stale.query("notes", &q).expect("stale query").documents.len(), 1);
    // The primary down: ordinary reads fail, reads from the replica answer.
    primary.stop_immediately();
    assert!(space.get("notes", "n1").is_err(), "the primary is down");
    assert_eq!(stale.get("notes", "n1").expect("from the replica").body["text"], "hello");
    assert_eq!(kind_of(stale.get("notes", "missing")), ErrorKind::NotFound);
    // The replica down, the primary back: stale reads fall back to it.
    primary.start_again();
    replica.stop_immediately();
    wait_until("the primary answering", || space.get("notes", "n1").is_ok());
    space.put("notes", "n2", json!({"text": "later"}), WriteOptions::default()).expect("put after the restart");
    assert_eq!(stale.get("notes", "n2").expect("from the primary").body["text"], "later");
    engine.close();
}

fn kind_of<T: std::fmt::Debug>(r: engram::Result<T>) -> ErrorKind {
    r.expect_err("an error").kind()
}
