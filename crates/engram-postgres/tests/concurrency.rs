//! Many writers, one database: two backends (two "servers") appending to
//! the same space at once leave one gapless, verified chain; group commit
//! batches concurrent callers; readers keep one snapshot.

mod common;

use common::{database, log_change, open, options, space_name};
use engram_core::backend::{Backend, BackendExt, SpaceId, WriteTx};
use engram_core::changelog::{ChangeHead, verify_run};
use engram_core::{Error, Result};
use engram_postgres::PostgresBackend;
use std::sync::{Arc, Barrier};

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
