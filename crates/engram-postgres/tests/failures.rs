//! Failures of the server surfaced as clear errors: connections terminated
//! by the server (mid-transaction and while idle) and statement timeouts.

mod common;

use common::{database, open, options, raw, space_name};
use engram_core::ErrorKind;
use engram_core::backend::{Backend, BackendExt};
use engram_postgres::PostgresBackend;
use engram_testkit::TestDatabase;
use std::sync::mpsc;
use std::time::Duration;

/// Terminates the backend's sessions on the test database in `state`
/// (`None`: every session but the caller's); returns how many.
fn terminate(db: &TestDatabase, state: Option<&str>) -> i64 {
    let sql = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
               WHERE datname = current_database() AND pid <> pg_backend_pid() \
               AND application_name = 'engram' AND ($1::text IS NULL OR state = $1)";
    raw(db).query_one(sql, &[&state]).expect("terminate").get(0)
}

#[test]
fn a_connection_lost_mid_transaction_fails_the_write_clearly_and_the_next_write_reconnects() {
    let Some(db) = database() else { return };
    let backend = open(&db);
    let (inside, inside_rx) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    let e = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            backend.write_with(move |tx| {
                tx.insert_space(&space_name("doomed"), 1)?;
                inside.send(()).expect("signal");
                go_rx.recv().expect("wait");
                tx.spaces().map(drop) // the connection is gone by now
            })
        });
        inside_rx.recv().expect("the write is inside its transaction");
        assert_eq!(terminate(&db, Some("idle in transaction")), 1);
        go.send(()).expect("go");
        writer.join().expect("writer thread").expect_err("the write cannot commit")
    });
    assert_eq!(e.kind(), ErrorKind::Contention, "{e}");
    assert!(e.message().contains("lost before it committed"), "{e}");
    assert!(e.message().contains("can be retried"), "{e}");
    assert_eq!(backend.stats().retryable_failures, 1);

    backend.write_with(|tx| tx.insert_space(&space_name("after"), 2)).expect("a new connection serves the next write");
    let names: Vec<String> =
        backend.reader().expect("reader").spaces().expect("spaces").into_iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["after"], "nothing of the lost transaction committed");
}

#[test]
fn idle_connections_killed_by_the_server_are_replaced_transparently() {
    let Some(db) = database() else { return };
    let backend = open(&db);
    backend.write_with(|tx| tx.insert_space(&space_name("one"), 1)).expect("write");
    assert_eq!(backend.reader().expect("reader").spaces().expect("spaces").len(), 1);
    let coll = engram_core::backend::CollectionId(1);
    assert!(backend.read_doc(coll, "x").expect("single read").is_none());
    // Writers, pooled readers: every one of our sessions goes.
    assert!(terminate(&db, None) >= 2, "the writer and a reader");
    std::thread::sleep(Duration::from_millis(100));
    backend.write_with(|tx| tx.insert_space(&space_name("two"), 2)).expect("write after the kill");
    assert!(backend.read_doc(coll, "x").expect("single read after the kill").is_none());
    assert_eq!(backend.reader().expect("reader after the kill").spaces().expect("spaces").len(), 2);
}

#[test]
fn a_statement_past_the_timeout_is_cancelled_with_a_clear_error() {
    let Some(db) = database() else { return };
    let opts = engram_postgres::PostgresOptions { statement_timeout: Duration::from_millis(300), ..options(&db) };
    let backend = PostgresBackend::open(opts).expect("open");
    let space = backend.write_with(|tx| tx.insert_space(&space_name("held"), 1)).expect("space");
    // Another session holds the space's lock: our write waits on it until
    // the timeout cancels the statement.
    let mut holder = raw(&db);
    holder.batch_execute("BEGIN").expect("begin");
    holder.execute("SELECT 1 FROM engram.spaces WHERE id = $1 FOR UPDATE", &[&space.0]).expect("hold the lock");
    let started = std::time::Instant::now();
    let e = backend.write_with(move |tx| tx.change_head(space).map(drop)).expect_err("timed out");
    assert!(started.elapsed() < Duration::from_secs(5), "cancelled by the timeout, not by luck");
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.message().contains("timed out"), "{e}");
    holder.batch_execute("ROLLBACK").expect("release");
    backend.write_with(move |tx| tx.change_head(space).map(drop)).expect("the same write once the lock is free");
}

#[test]
fn an_unreachable_server_fails_open_clearly() {
    // A port nothing listens on (connection refused at once).
    let opts = engram_postgres::PostgresOptions {
        connect_timeout: Duration::from_secs(2),
        ..engram_postgres::PostgresOptions::new("postgres://postgres@127.0.0.1:1/postgres")
    };
    let e = PostgresBackend::open(opts).expect_err("nothing there");
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.message().contains("connecting to PostgreSQL"), "{e}");
}

#[test]
fn a_deadlock_between_servers_fails_one_write_retryably_and_commits_the_other() {
    let Some(db) = database() else { return };
    let (a, b) = (open(&db), open(&db));
    let x = a.write_with(|tx| tx.insert_space(&space_name("x"), 1)).expect("space x");
    let y = a.write_with(|tx| tx.insert_space(&space_name("y"), 1)).expect("space y");
    let both = std::sync::Arc::new(std::sync::Barrier::new(2));
    // Each write locks one space, waits until the other holds its own, then
    // reaches for the other's: a cycle PostgreSQL must break.
    let crossing = |first, second, barrier: std::sync::Arc<std::sync::Barrier>| {
        move |tx: &mut dyn engram_core::backend::WriteTx| {
            common::log_change(tx, first, "a")?;
            barrier.wait();
            common::log_change(tx, second, "b").map(drop)
        }
    };
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| a.write_with(crossing(x, y, both.clone())));
        let hb = s.spawn(|| b.write_with(crossing(y, x, both.clone())));
        (ha.join().expect("a"), hb.join().expect("b"))
    });
    let (ok, failed): (Vec<_>, Vec<_>) = [ra, rb].into_iter().partition(Result::is_ok);
    assert_eq!((ok.len(), failed.len()), (1, 1), "exactly one victim");
    let e = failed.into_iter().next().and_then(Result::err).expect("the victim's error");
    assert_eq!(e.kind(), ErrorKind::Contention, "{e}");
    assert!(e.message().contains("SQLSTATE 40P01") && e.message().contains("can be retried"), "{e}");
    for space in [x, y] {
        let entries = a.reader().expect("reader").changes(space, 0, 100).expect("changes");
        assert_eq!(entries.len(), 1, "only the surviving write's entry");
    }
}

/// Makes COMMIT fail for any transaction that inserted a space named
/// "boom": a deferred constraint trigger runs at COMMIT and raises.
fn trap_commits(db: &TestDatabase) {
    raw(db)
        .batch_execute(
            "CREATE FUNCTION engram.boom() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.name LIKE 'boom%' THEN RAISE EXCEPTION 'trapped'; END IF; RETURN NULL; END $$; \
             CREATE CONSTRAINT TRIGGER boom AFTER INSERT ON engram.spaces DEFERRABLE INITIALLY DEFERRED \
             FOR EACH ROW EXECUTE FUNCTION engram.boom();",
        )
        .expect("trap");
}

#[test]
fn a_failed_commit_fails_every_job_of_its_batch_and_acknowledges_nothing_it_lost() {
    let Some(db) = database() else { return };
    let backend = open(&db);
    trap_commits(&db);
    let e = backend.write_with(|tx| tx.insert_space(&space_name("boom-alone"), 1)).expect_err("commit fails");
    assert!(e.message().contains("committing a write transaction"), "{e}");

    // Many callers at once, some of them trapped: whatever the batches were,
    // a write is acknowledged exactly when its row is there afterwards.
    let barrier = std::sync::Barrier::new(12);
    let outcomes: Vec<(String, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|t| {
                let (backend, barrier) = (&backend, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    (0..10)
                        .map(|i| {
                            let name = if (t + i) % 7 == 0 { format!("boom-{t}-{i}") } else { format!("ok-{t}-{i}") };
                            let n = name.clone();
                            (name, backend.write_with(move |tx| tx.insert_space(&space_name(&n), 1)).is_ok())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("thread")).collect()
    });
    let stored: std::collections::BTreeSet<String> =
        backend.reader().expect("reader").spaces().expect("spaces").into_iter().map(|s| s.name.to_string()).collect();
    for (name, acknowledged) in &outcomes {
        assert_eq!(stored.contains(name), *acknowledged, "{name}: acknowledged iff committed");
        if name.starts_with("boom") {
            assert!(!acknowledged, "{name} cannot commit");
        }
    }
    let stats = backend.stats();
    assert!(stats.failed_batches >= 2, "{stats:?}");
    assert_eq!(stats.retryable_failures, 0, "a trapped commit is not a transient failure: {stats:?}");
    backend.write_with(|tx| tx.insert_space(&space_name("later"), 1)).expect("the writer goes on");
}
