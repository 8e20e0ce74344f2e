//! Many writers, one database: two backends (two "servers") appending to
//! the same space at once leave one gapless, verified chain; group commit
//! batches concurrent callers; readers keep one snapshot.

mod common;

use common::{database, log_change, open, options, space_name};
use engram_core::backend::{Backend, BackendExt, SpaceId, WriteTx};
use engram_core::changelog::{ChangeHead, verify_run};
use engram_core::{Error, Result};
use engram_postgres::PostgresBackend;
use std::sync::{Arc, Barrier, Mutex, mpsc};

const THREADS_PER_SERVER: usize = 4;
const WRITES_PER_THREAD: usize = 40;

/// A "server" with two writer threads, so its own batches contend too
/// (every job here touches one space, so they cannot deadlock).
fn server(db: &engram_testkit::TestDatabase) -> Arc<PostgresBackend> {
    Arc::new(
        PostgresBackend::open(engram_postgres::PostgresOptions { write_connections: 2, ..options(db) }).expect("open"),
    )
}

#[test]
fn two_servers_writing_one_space_keep_the_chain_gapless() {
    let Some(db) = database() else { return };
    let servers = [server(&db), server(&db)];
    let space = servers[0].write_with(|tx| tx.insert_space(&space_name("shared"), 1)).expect("space");
    let barrier = Arc::new(Barrier::new(2 * THREADS_PER_SERVER));
    let mut handles = Vec::new();
    for (s, server) in servers.iter().enumerate() {
        for t in 0..THREADS_PER_SERVER {
            let (server, barrier) = (Arc::clone(server), Arc::clone(&barrier));
            handles.push(std::thread::spawn(move || {
                barrier.wait();
                for i in 0..WRITES_PER_THREAD {
                    let id = format!("s{s}-t{t}-{i}");
                    server.write_with(move |tx| log_change(tx, space, &id).map(drop)).expect("append");
                }
            }));
        }
    }
    handles.into_iter().for_each(|h| h.join().expect("writer thread"));
    let total = 2 * THREADS_PER_SERVER * WRITES_PER_THREAD;
    for server in &servers {
        let entries = server.reader().expect("reader").changes(space, 0, usize::MAX).expect("changes");
        assert_eq!(entries.len(), total);
        let head = verify_run(ChangeHead::default(), &entries).expect("a gapless, linked chain");
        assert_eq!(head.position, total as u64);
        assert_eq!(server.reader().expect("reader").change_head(space).expect("head"), head);
    }
}

/// A read-check-write that would lose updates without the space lock: each
/// job reads a counter document and writes it back incremented.
fn increment(tx: &mut dyn WriteTx, space: SpaceId, coll: engram_core::backend::CollectionId) -> Result<()> {
    let current = tx.doc(coll, "counter")?.map_or(0, |d| d.body.parse::<u64>().unwrap_or(0));
    tx.upsert_doc(coll, "counter", &(current + 1).to_string(), None, 1)?;
    log_change(tx, space, "counter").map(drop)
}

#[test]
fn read_modify_write_across_servers_loses_no_update() {
    let Some(db) = database() else { return };
    let servers = [server(&db), server(&db)];
    let (space, coll) = servers[0]
        .write_with(|tx| {
            let space = tx.insert_space(&space_name("counting"), 1)?;
            let coll =
                tx.insert_collection(space, &engram_core::names::CollectionName::new("c")?, &Default::default())?;
            Ok((space, coll))
        })
        .expect("setup");
    let barrier = Arc::new(Barrier::new(2 * THREADS_PER_SERVER));
    let handles: Vec<_> = (0..2 * THREADS_PER_SERVER)
        .map(|i| {
            let (server, barrier) = (Arc::clone(&servers[i % 2]), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..WRITES_PER_THREAD {
                    server.write_with(move |tx| increment(tx, space, coll)).expect("increment");
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().expect("writer thread"));
    let doc = servers[1].read_doc(coll, "counter").expect("read").expect("present");
    let total = (2 * THREADS_PER_SERVER * WRITES_PER_THREAD) as u64;
    assert_eq!(doc.body, total.to_string(), "every increment saw the one before it");
    assert_eq!(doc.version, total);
}

#[test]
fn concurrent_callers_share_commits_and_fail_alone() {
    let Some(db) = database() else { return };
    let backend = Arc::new(open(&db));
    let space = backend.write_with(|tx| tx.insert_space(&space_name("batched"), 1)).expect("space");
    let barrier = Arc::new(Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|t| {
            let (backend, barrier) = (Arc::clone(&backend), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let mut failed = 0;
                for i in 0..25 {
                    let id = format!("t{t}-{i}");
                    // Every fifth job appends, then fails: its append must vanish alone.
                    let fail = i % 5 == 0;
                    let out = backend.write_with(move |tx| {
                        log_change(tx, space, &id)?;
                        if fail { Err(Error::conflict("this job fails")) } else { Ok(()) }
                    });
                    failed += usize::from(out.is_err());
                }
                failed
            })
        })
        .collect();
    let failed: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    assert_eq!(failed, 16 * 5);
    let entries = backend.reader().expect("reader").changes(space, 0, usize::MAX).expect("changes");
    assert_eq!(entries.len(), 16 * 20, "only the successful jobs' appends remain");
    verify_run(ChangeHead::default(), &entries).expect("gapless despite rolled-back savepoints");
    let stats = backend.stats();
    assert_eq!(stats.jobs, 16 * 25 + 1);
    assert!(stats.commits < stats.jobs, "concurrent callers shared commits: {stats:?}");
    assert!(stats.max_batch > 1, "{stats:?}");
}

#[test]
fn a_reader_keeps_its_snapshot_while_writes_commit() {
    let Some(db) = database() else { return };
    let backend = open(&db);
    backend.write_with(|tx| tx.insert_space(&space_name("before"), 1)).expect("space");
    let reader = backend.reader().expect("reader");
    assert_eq!(reader.spaces().expect("spaces").len(), 1);
    backend.write_with(|tx| tx.insert_space(&space_name("after"), 2)).expect("space");
    assert_eq!(reader.spaces().expect("spaces").len(), 1, "the reader's snapshot predates the write");
    drop(reader);
    assert_eq!(backend.reader().expect("reader").spaces().expect("spaces").len(), 2);
}

#[test]
fn a_lease_is_held_by_one_backend_at_a_time_and_freed_when_it_goes() {
    let Some(db) = database() else { return };
    let (a, b) = (open(&db), open(&db));
    assert!(a.try_lease("purge").expect("a takes it"));
    assert!(a.try_lease("purge").expect("a still holds it"), "taking a held lease again succeeds");
    assert!(!b.try_lease("purge").expect("b asks"), "one holder at a time");
    assert!(b.try_lease("other").expect("b takes another name"));
    drop(a);
    assert!(b.try_lease("purge").expect("b asks again"), "a closed backend's lease is free");
}

/// Writes `doc_id`'s entry, then fails: with an error of its own, or by
/// swallowing a failed statement (a NUL byte PostgreSQL refuses in text).
fn failing_job(tx: &mut dyn WriteTx, space: SpaceId, doc_id: &str, swallow: bool) -> Result<()> {
    log_change(tx, space, doc_id)?;
    if swallow {
        let coll = engram_core::backend::CollectionId(i64::MAX);
        let _ignored = tx.upsert_doc(coll, "nul", "a\0b", None, 1);
        return Ok(());
    }
    Err(Error::conflict("this job fails"))
}

#[test]
fn a_batch_with_a_failing_job_runs_again_in_savepoints_and_the_others_commit_once() {
    let Some(db) = database() else { return };
    let backend = Arc::new(open(&db));
    let space = backend.write_with(|tx| tx.insert_space(&space_name("rerun"), 1)).expect("space");
    // A job that holds the writer until released, so the next ones queue
    // up and run as one batch.
    let (entered, wait_entered) = mpsc::channel();
    let (release, wait_release) = mpsc::channel::<()>();
    let wait_release = Arc::new(Mutex::new(wait_release));
    let blocker = {
        let backend = Arc::clone(&backend);
        std::thread::spawn(move || {
            backend.write_with(move |tx| {
                // A second run finds both channels closed and goes on.
                let _ = entered.send(());
                let _ = wait_release.lock().expect("release channel").recv();
                log_change(tx, space, "blocker").map(drop)
            })
        })
    };
    wait_entered.recv().expect("the blocker runs");
    let jobs: Vec<_> = (0..6)
        .map(|i| {
            let backend = Arc::clone(&backend);
            std::thread::spawn(move || {
                let id = format!("j{i}");
                backend.write_with(move |tx| match i {
                    2 => failing_job(tx, space, &id, false),
                    4 => failing_job(tx, space, &id, true),
                    _ => log_change(tx, space, &id).map(drop),
                })
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Dropped rather than sent to: the blocker's work may run again (the
    // queued jobs can join its batch), and must not wait a second time.
    drop(release);
    blocker.join().expect("blocker thread").expect("the blocker commits");
    let outcomes: Vec<bool> = jobs.into_iter().map(|h| h.join().expect("job thread").is_ok()).collect();
    assert_eq!(outcomes, [true, true, false, true, false, true]);
    let entries = backend.reader().expect("reader").changes(space, 0, usize::MAX).expect("changes");
    let mut ids: Vec<&str> = entries.iter().map(|e| e.doc_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["blocker", "j0", "j1", "j3", "j5"], "each successful job committed once");
    verify_run(ChangeHead::default(), &entries).expect("gapless");
    let stats = backend.stats();
    assert!(stats.isolated_reruns >= 1, "the queued jobs formed a batch: {stats:?}");
    assert_eq!(stats.failed_batches, 0, "{stats:?}");
}

#[test]
fn buffered_change_rows_are_read_back_and_survive_mid_job_flushes() {
    let Some(db) = database() else { return };
    let backend = open(&db);
    let space = backend.write_with(|tx| tx.insert_space(&space_name("many"), 1)).expect("space");
    // More rows than the writer buffers, then reads of them in the same job.
    let n = 5_000;
    let seen = backend
        .write_with(move |tx| {
            for i in 0..n {
                log_change(tx, space, &format!("d{i}"))?;
            }
            Ok((tx.changes(space, n as u64 - 2, 10)?.len(), tx.change_head(space)?.position))
        })
        .expect("one job");
    assert_eq!(seen, (2, n as u64));
    let entries = backend.reader().expect("reader").changes(space, 0, usize::MAX).expect("changes");
    assert_eq!(entries.len(), n);
    verify_run(ChangeHead::default(), &entries).expect("gapless");
}

/// `lock_space` reads the head and the reserved collections in the same
/// round trip as the lock, yet after it is granted: a server whose lock
/// waited for another's commit sees what that commit wrote.
#[test]
fn a_lock_granted_after_another_servers_commit_reads_what_it_wrote() {
    let Some(db) = database() else { return };
    let (a, b) = (Arc::new(open(&db)), Arc::new(open(&db)));
    let space = a.write_with(|tx| tx.insert_space(&space_name("locked"), 1)).expect("space");
    let (locked_tx, locked) = mpsc::channel();
    let holder = {
        let a = Arc::clone(&a);
        std::thread::spawn(move || {
            a.write_with(move |tx| {
                tx.lock_space(space)?;
                let _ = locked_tx.send(());
                std::thread::sleep(std::time::Duration::from_millis(300));
                let name = engram_core::names::CollectionName::stored("_later").expect("name");
                tx.insert_collection(space, &name, &engram_core::backend::CollectionSpec::default())?;
                log_change(tx, space, "from-a")
            })
            .expect("holder")
        })
    };
    locked.recv().expect("the holder locked the space");
    let seen = b
        .write_with(move |tx| {
            let head = tx.lock_space(space)?;
            let name = engram_core::names::CollectionName::stored("_later").expect("name");
            let absent = engram_core::names::CollectionName::stored("_never").expect("name");
            Ok((head, tx.collection(space, &name)?.is_some(), tx.collection(space, &absent)?.is_some()))
        })
        .expect("waiter");
    let written = holder.join().expect("holder thread");
    assert_eq!(seen.0, ChangeHead::of(&written), "the head the holder's commit left");
    assert!(seen.1, "the reserved collection the holder created");
    assert!(!seen.2, "a reserved collection nobody created");
}
