//! The SQLite backend end to end: migrations at open, group commit, durability
//! across reopen, and conformance of its reads with the in-memory reference.

use engram_core::backend::{
    Backend, BackendExt, CollectionId, CollectionSpec, IdempotencyRecord, IndexEntry, IndexScan, SpaceId, StoredDoc,
    WriteTx,
};
use engram_core::changelog::{ChangeDraft, ChangeEntry, ChangeHead, ChangeOp, verify_run};
use engram_core::keys::{KeyRange, encode_value, string_prefix};
use engram_core::memory::MemoryBackend;
use engram_core::names::{CollectionName, SpaceName};
use engram_core::{Error, ErrorKind, Result};
use engram_sqlite::{FORMAT_VERSION, SqliteBackend, SqliteOptions, Synchronous};
use serde_json::json;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

/// One write's work, boxed so that different closures share a list.
type Job<T> = Box<dyn FnMut(&mut dyn WriteTx) -> Result<T> + Send>;

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("engram.db")
}

fn open(path: &Path) -> SqliteBackend {
    SqliteBackend::open(path, SqliteOptions::default()).expect("open backend")
}

fn open_err(path: &Path) -> Error {
    SqliteBackend::open(path, SqliteOptions::default()).expect_err("open must be refused")
}

fn space_name(s: &str) -> SpaceName {
    SpaceName::new(s).expect("valid space name")
}

fn coll_name(s: &str) -> CollectionName {
    CollectionName::new(s).expect("valid collection name")
}

fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("raw connection")
}

/// Seals and appends one change to `space`'s log inside `tx`.
fn log_change(tx: &mut dyn WriteTx, space: SpaceId, doc_id: &str, hlc: u64) -> Result<ChangeEntry> {
    let head = tx.change_head(space)?;
    let draft = ChangeDraft {
        hlc,
        op: ChangeOp::Put,
        collection: "c".into(),
        doc_id: doc_id.into(),
        version: 1,
        content_hash: *blake3::hash(doc_id.as_bytes()).as_bytes(),
        actor: "local".into(),
        request_id: String::new(),
    };
    let entry = draft.seal(&head);
    tx.append_change(space, &entry)?;
    Ok(entry)
}

/// Creates a space with one collection; returns their ids.
fn space_with_collection(b: &dyn Backend, space: &str) -> (SpaceId, CollectionId) {
    let (s, c) = (space_name(space), coll_name("c"));
    b.write_with(move |tx| {
        let sid = tx.insert_space(&s, 1)?;
        let cid = tx.insert_collection(sid, &c, &CollectionSpec::default())?;
        Ok((sid, cid))
    })
    .expect("create space and collection")
}

/// Occupies the writer with a job that waits for `release`, so that writes
/// submitted meanwhile queue up and are committed together as one batch.
fn hold_writer(b: &Arc<SqliteBackend>) -> (mpsc::Sender<()>, thread::JoinHandle<()>) {
    let (release, wait) = mpsc::channel::<()>();
    let (started, is_started) = mpsc::channel::<()>();
    let b = Arc::clone(b);
    let handle = thread::spawn(move || {
        b.write_with(move |_tx| {
            started.send(()).expect("test is waiting");
            wait.recv().expect("released by the test");
            Ok(())
        })
        .expect("holding job commits");
    });
    is_started.recv().expect("holding job started");
    (release, handle)
}

/// Runs each closure as its own write from its own thread while the writer is
/// held, so all of them land in one batch; returns their results in order.
fn one_batch<T: Send + 'static>(b: &Arc<SqliteBackend>, jobs: Vec<Job<T>>) -> Vec<Result<T>> {
    let before = b.stats();
    let (release, holder) = hold_writer(b);
    let gate = Arc::new(Barrier::new(jobs.len() + 1));
    let threads: Vec<_> = jobs
        .into_iter()
        .enumerate()
        .map(|(i, job)| {
            let (b, gate) = (Arc::clone(b), Arc::clone(&gate));
            thread::spawn(move || {
                gate.wait();
                // Stagger submissions so the batch keeps the given order.
                thread::sleep(Duration::from_millis(40 * i as u64));
                b.write_with(job)
            })
        })
        .collect();
    gate.wait();
    thread::sleep(Duration::from_millis(40 * threads.len() as u64 + 300));
    release.send(()).expect("holder waits");
    holder.join().expect("holder thread");
    let results: Vec<Result<T>> = threads.into_iter().map(|t| t.join().expect("job thread")).collect();
    let after = b.stats();
    // The holder's batch plus exactly one batch for all the jobs.
    assert_eq!(after.commits - before.commits, 2, "jobs were not committed as one batch");
    results
}

// ---------------------------------------------------------------- migrations

#[test]
fn fresh_file_records_format_version_and_checksum() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(&db_path(&dir)));
    let conn = raw(&db_path(&dir));
    let mut stmt = conn.prepare("SELECT version, name, checksum FROM schema_migrations ORDER BY version").expect("sql");
    let rows: Vec<(i64, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    let sum = |sql: &[u8]| blake3::hash(sql).to_hex().to_string();
    let want = vec![
        (1, "0001_initial".to_owned(), sum(include_bytes!("../src/migrations/0001_initial.sql"))),
        (2, "0002_exact_number_keys".to_owned(), sum(include_bytes!("../src/migrations/0002_exact_number_keys.sql"))),
        (3, "0003_change_actors".to_owned(), sum(include_bytes!("../src/migrations/0003_change_actors.sql"))),
    ];
    assert_eq!(rows, want);
    let user_version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("pragma");
    assert_eq!(user_version, FORMAT_VERSION);
    let app_id: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0)).expect("pragma");
    assert_eq!(app_id, engram_sqlite::APPLICATION_ID);
}

#[test]
fn reopening_is_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    for _ in 0..3 {
        drop(open(&db_path(&dir)));
    }
    let n: i64 =
        raw(&db_path(&dir)).query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0)).expect("count");
    assert_eq!(n, i64::from(FORMAT_VERSION));
}

#[test]
fn newer_format_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(&db_path(&dir)));
    raw(&db_path(&dir)).execute("INSERT INTO schema_migrations VALUES (4, '0004_future', 'abc', 0)", []).expect("bump");
    let e = open_err(&db_path(&dir));
    assert_eq!(e.kind(), ErrorKind::UnsupportedFormat, "{e}");
    assert!(
        e.message().contains("data directory was written by a newer Engram (format v4; this build reads up to v3)"),
        "{e}"
    );

    // The header's format version alone is enough to refuse.
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(&db_path(&dir)));
    raw(&db_path(&dir)).pragma_update(None, "user_version", 5).expect("bump user_version");
    let e = open_err(&db_path(&dir));
    assert_eq!(e.kind(), ErrorKind::UnsupportedFormat, "{e}");
    assert!(e.message().contains("format v5"), "{e}");
}

#[test]
fn tampered_migration_checksum_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(&db_path(&dir)));
    raw(&db_path(&dir))
        .execute("UPDATE schema_migrations SET checksum = 'deadbeef' WHERE version = 1", [])
        .expect("tamper");
    let e = open_err(&db_path(&dir));
    assert_eq!(e.kind(), ErrorKind::Corrupted, "{e}");
    assert!(e.message().contains("0001_initial"), "{e}");
}

#[test]
fn foreign_sqlite_files_are_refused_and_left_untouched() {
    for app_id in [0, 42] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = db_path(&dir);
        {
            let conn = raw(&path);
            conn.execute_batch("CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('x');")
                .expect("foreign");
            conn.pragma_update(None, "application_id", app_id).expect("app id");
        }
        let e = open_err(&path);
        assert_eq!(e.kind(), ErrorKind::UnsupportedFormat, "app id {app_id}: {e}");
        assert!(e.message().contains("not an Engram data file"), "{e}");
        let conn = raw(&path);
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).expect("pragma");
        assert_eq!(mode, "delete", "the foreign file was switched to WAL");
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).expect("count");
        assert_eq!(tables, 1, "the foreign file was migrated");
    }
}

#[test]
fn a_file_that_is_not_sqlite_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(db_path(&dir), vec![0xAB; 8192]).expect("garbage file");
    let e = open_err(&db_path(&dir));
    assert_eq!(e.kind(), ErrorKind::Corrupted, "{e}");
}

#[test]
fn invalid_options_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = SqliteOptions { read_connections: 0, ..Default::default() };
    let e = SqliteBackend::open(&db_path(&dir), opts).expect_err("zero readers");
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

// -------------------------------------------------------------- group commit

#[test]
fn concurrent_writers_each_get_their_own_result_and_share_commits() {
    const THREADS: usize = 64;
    const WRITES: usize = 50;
    let dir = tempfile::tempdir().expect("tempdir");
    let b = Arc::new(open(&db_path(&dir)));
    let (_, coll) = space_with_collection(b.as_ref(), "base");
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                (0..WRITES)
                    .map(|w| {
                        let tag = format!("t{t}-w{w}");
                        let name = space_name(&tag);
                        let got = b
                            .write_with(move |tx| {
                                let sid = tx.insert_space(&name, 10)?;
                                let version = tx.upsert_doc(coll, &tag, &format!("{{\"t\":{t}}}"), None, 10)?;
                                Ok((tag.clone(), sid, version))
                            })
                            .expect("write succeeds");
                        assert_eq!(got.0, format!("t{t}-w{w}"), "a writer got another writer's result");
                        assert_eq!(got.2, 1);
                        (got.0, got.1)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<(String, SpaceId)> = threads.into_iter().flat_map(|t| t.join().expect("writer thread")).collect();
    assert_eq!(results.len(), THREADS * WRITES);

    let r = b.reader().expect("reader");
    for (tag, sid) in &results {
        let row = r.space(&space_name(tag)).expect("read").expect("space exists");
        assert_eq!(row.id, *sid, "{tag} returned another space's id");
        assert!(r.doc(coll, tag).expect("read").is_some(), "{tag} document missing");
    }
    drop(r);
    let stats = b.stats();
    assert_eq!(stats.jobs, (THREADS * WRITES + 1) as u64);
    assert!(stats.commits < stats.jobs, "no batching happened: {stats:?}");
}

#[test]
fn a_failing_job_is_undone_alone_within_its_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = Arc::new(open(&db_path(&dir)));
    let (_, coll) = space_with_collection(b.as_ref(), "s");
    let job = |id: &'static str, fail: bool| -> Job<u64> {
        Box::new(move |tx| {
            let v = tx.upsert_doc(coll, id, "{}", None, 5)?;
            if fail {
                return Err(Error::conflict("job b refuses"));
            }
            Ok(v)
        })
    };
    let results = one_batch(&b, vec![job("a", false), job("b", true), job("c", false)]);
    assert_eq!(results[0].as_ref().expect("a commits"), &1);
    assert_eq!(results[1].as_ref().expect_err("b fails").kind(), ErrorKind::Conflict);
    assert_eq!(results[2].as_ref().expect("c commits"), &1);
    let r = b.reader().expect("reader");
    assert!(r.doc(coll, "a").expect("read").is_some());
    assert!(r.doc(coll, "b").expect("read").is_none(), "the failed job's write was committed");
    assert!(r.doc(coll, "c").expect("read").is_some());
}

#[test]
fn a_panicking_job_fails_alone_and_the_writer_survives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = Arc::new(open(&db_path(&dir)));
    let (_, coll) = space_with_collection(b.as_ref(), "s");
    let ok = |id: &'static str| -> Job<()> { Box::new(move |tx| tx.upsert_doc(coll, id, "{}", None, 5).map(drop)) };
    let panics: Job<()> = Box::new(move |tx| {
        tx.upsert_doc(coll, "p", "{}", None, 5)?;
        panic!("job bug");
    });
    let results = one_batch(&b, vec![ok("a"), panics, ok("c")]);
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert_eq!(results[1].as_ref().expect_err("panicked").kind(), ErrorKind::Internal);
    let r = b.reader().expect("reader");
    assert!(r.doc(coll, "p").expect("read").is_none(), "the panicking job's write was committed");
    assert!(r.doc(coll, "a").expect("read").is_some() && r.doc(coll, "c").expect("read").is_some());
    drop(r);
    b.write_with(move |tx| tx.upsert_doc(coll, "after", "{}", None, 6)).expect("writer still works");
}

#[test]
fn a_rolled_back_append_does_not_leave_a_stale_change_head() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = Arc::new(open(&db_path(&dir)));
    let (space, _) = space_with_collection(b.as_ref(), "s");
    b.write_with(move |tx| log_change(tx, space, "first", 7)).expect("first change");

    let appends_then_fails: Job<()> = Box::new(move |tx| {
        log_change(tx, space, "undone", 8)?;
        Err(Error::conflict("fails after appending"))
    });
    let appends: Job<()> = Box::new(move |tx| log_change(tx, space, "kept", 9).map(drop));
    let results = one_batch(&b, vec![appends_then_fails, appends]);
    assert_eq!(results[0].as_ref().expect_err("first job fails").kind(), ErrorKind::Conflict);
    results[1].as_ref().expect("second job commits");

    let r = b.reader().expect("reader");
    let log = r.changes(space, 0, 100).expect("changes");
    let docs: Vec<&str> = log.iter().map(|e| e.doc_id.as_str()).collect();
    assert_eq!(docs, ["first", "kept"]);
    let head = verify_run(ChangeHead::default(), &log).expect("the chain is intact");
    assert_eq!(head, r.change_head(space).expect("head"));
}

#[test]
fn reads_inside_a_write_see_the_write_and_readers_see_a_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = open(&db_path(&dir));
    let (_, coll) = space_with_collection(&b, "s");
    let before = b.reader().expect("reader");
    assert!(before.doc(coll, "x").expect("read").is_none());
    let seen = b
        .write_with(move |tx| {
            tx.upsert_doc(coll, "x", "{\"a\":1}", None, 3)?;
            tx.doc(coll, "x")
        })
        .expect("write");
    assert_eq!(seen.map(|d| d.body), Some("{\"a\":1}".to_owned()));
    assert!(before.doc(coll, "x").expect("read").is_none(), "an open reader's snapshot moved");
    drop(before);
    assert!(b.reader().expect("reader").doc(coll, "x").expect("read").is_some());
}

// ---------------------------------------------------------------- durability

#[test]
fn committed_data_survives_reopen_and_the_file_stands_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let idem = IdempotencyRecord { request_hash: [9; 32], response: "{\"ok\":true}".into(), expires_at_ms: 99 };
    let (space, coll, entry) = {
        let b = open(&path);
        assert_eq!(b.capabilities().name, "sqlite");
        assert!(b.capabilities().durable && b.capabilities().group_commit);
        let (space, coll) = space_with_collection(&b, "kept");
        let idem = idem.clone();
        let entry = b
            .write_with(move |tx| {
                tx.upsert_doc(coll, "d1", "{\"v\":1}", Some(1_000), 42)?;
                tx.replace_index_entries(coll, "d1", &[], &[IndexEntry { index: 1, key: vec![1, 2] }])?;
                tx.put_idempotency(space, "k", &idem)?;
                log_change(tx, space, "d1", 42)
            })
            .expect("write");
        (space, coll, entry)
    };
    let wal = dir.path().join("engram.db-wal");
    assert!(std::fs::metadata(&wal).map_or(true, |m| m.len() == 0), "WAL left behind after a clean close");

    let b = open(&path);
    let r = b.reader().expect("reader");
    let doc = r.doc(coll, "d1").expect("read").expect("document survived");
    assert_eq!((doc.version, doc.body.as_str(), doc.expires_at_ms, doc.updated_hlc), (1, "{\"v\":1}", Some(1_000), 42));
    assert_eq!(r.changes(space, 0, 10).expect("changes"), vec![entry]);
    assert_eq!(r.idempotency(space, "k").expect("read"), Some(idem));
    assert_eq!(r.max_hlc().expect("max hlc"), 42);
    assert_eq!(r.expired(1_000, 10).expect("expired"), vec![(coll, "d1".to_owned())]);
    let all = KeyRange::all();
    let scan = IndexScan { collection: coll, index: 1, range: &all, after: None, reverse: false, limit: 10 };
    assert_eq!(r.scan_index(&scan).expect("scan").len(), 1);
}

#[test]
fn explicit_checkpoint_and_non_durable_modes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = SqliteOptions { synchronous: Synchronous::Normal, ..Default::default() };
    let b = SqliteBackend::open(&db_path(&dir), opts).expect("open");
    assert!(!b.capabilities().durable);
    space_with_collection(&b, "s");
    b.checkpoint().expect("checkpoint with no readers");
    let wal = std::fs::metadata(dir.path().join("engram.db-wal")).expect("WAL exists while open");
    assert_eq!(wal.len(), 0, "TRUNCATE checkpoint leaves an empty WAL");
}

#[test]
fn deleted_ids_are_never_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = open(&db_path(&dir));
    let (s1, c1) = space_with_collection(&b, "a");
    b.write_with(move |tx| tx.delete_space(s1)).expect("delete");
    let (s2, c2) = space_with_collection(&b, "a");
    assert!(s2.0 > s1.0 && c2.0 > c1.0, "ids reused: {s1:?}/{s2:?} {c1:?}/{c2:?}");
    drop(b);
    let b = open(&db_path(&dir));
    let (s3, _) = space_with_collection(&b, "b");
    assert!(s3.0 > s2.0);
}

// --------------------------------------------------- conformance with memory

/// Index keys of the fixture: a few values shared by several documents, so
/// that document ids break ties.
fn fixture_key(i: usize) -> Vec<u8> {
    match i % 6 {
        0 => encode_value(None),
        1 => encode_value(Some(&json!(null))),
        2 => encode_value(Some(&json!(i % 4))),
        3 => encode_value(Some(&json!(-1.5))),
        4 => encode_value(Some(&json!(format!("ab{}", i % 3)))),
        _ => encode_value(Some(&json!("b\u{0}x"))),
    }
}

/// The same writes on any backend; returns the main collection's id and space.
fn populate(b: &dyn Backend) -> (SpaceId, CollectionId) {
    let (space, coll) = space_with_collection(b, "main");
    let (_, other) = space_with_collection(b, "other");
    b.write_with(move |tx| {
        for i in 0..40 {
            let id = format!("d{:02}", (i * 7) % 40);
            let expires = (i % 5 == 0).then_some(100 + i as u64);
            tx.upsert_doc(coll, &id, &format!("{{\"i\":{i}}}"), expires, 10 + i as u64)?;
            let entries = [IndexEntry { index: 1, key: fixture_key(i) }, IndexEntry { index: 2, key: vec![i as u8] }];
            tx.replace_index_entries(coll, &id, &[], &entries)?;
            // Same keys in another collection must not leak into scans.
            tx.upsert_doc(other, &id, "{}", None, 1)?;
            tx.replace_index_entries(other, &id, &[], &entries)?;
            log_change(tx, space, &id, 10 + i as u64)?;
        }
        // Updates, deletes, an index change that keeps one entry, a stored row.
        tx.upsert_doc(coll, "d07", "{\"i\":\"again\"}", None, 60)?;
        let old = [IndexEntry { index: 1, key: fixture_key(1) }, IndexEntry { index: 2, key: vec![1] }];
        let new = [IndexEntry { index: 1, key: fixture_key(4) }, IndexEntry { index: 2, key: vec![1] }];
        tx.replace_index_entries(coll, "d07", &old, &new)?;
        tx.replace_index_entries(coll, "d14", &[IndexEntry { index: 1, key: fixture_key(2) }], &[])?;
        let stored =
            StoredDoc { id: "d99".into(), version: 7, body: "{}".into(), expires_at_ms: Some(5), updated_hlc: 61 };
        tx.put_doc(coll, &stored)?;
        tx.replace_index_entries(coll, "d99", &[], &[IndexEntry { index: 1, key: fixture_key(3) }])?;
        tx.delete_doc(other, "d00")?;
        let record = IdempotencyRecord { request_hash: [1; 32], response: "{}".into(), expires_at_ms: 50 };
        tx.put_idempotency(space, "idem-1", &record)?;
        Ok(())
    })
    .expect("populate");
    (space, coll)
}

fn ranges() -> Vec<KeyRange> {
    let k = |i: usize| fixture_key(i);
    let mut out = vec![KeyRange::all(), KeyRange::prefixed(string_prefix("ab")), KeyRange::prefixed(vec![0x05])];
    let bounds = |key: Vec<u8>| [Bound::Included(key.clone()), Bound::Excluded(key), Bound::Unbounded];
    for start in bounds(k(2)) {
        for end in bounds(k(4)) {
            out.push(KeyRange { start: start.clone(), end });
        }
    }
    out.push(KeyRange { start: Bound::Included(k(4)), end: Bound::Included(k(4)) });
    out.push(KeyRange { start: Bound::Excluded(k(5)), end: Bound::Excluded(k(0)) }); // empty
    out
}

fn afters() -> Vec<Option<(Vec<u8>, String)>> {
    vec![
        None,
        Some((fixture_key(2), "d10".into())),
        Some((fixture_key(4), "d00".into())),
        Some((fixture_key(1), "zz".into())),
        Some((vec![], String::new())),
    ]
}

#[test]
fn scans_match_the_memory_backend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = open(&db_path(&dir));
    let memory = MemoryBackend::new();
    let (s_space, s_coll) = populate(&sqlite);
    let (m_space, m_coll) = populate(&memory);
    let (s, m) = (sqlite.reader().expect("reader"), memory.reader().expect("reader"));

    let mut compared = 0;
    for range in ranges() {
        for after in afters() {
            for reverse in [false, true] {
                for limit in [0, 1, 3, 1000] {
                    for index in [1, 2, 3] {
                        let after = after.as_ref().map(|(k, id)| (k.as_slice(), id.as_str()));
                        let scan = |collection| IndexScan { collection, index, range: &range, after, reverse, limit };
                        let got = s.scan_index(&scan(s_coll)).expect("sqlite scan");
                        let want = m.scan_index(&scan(m_coll)).expect("memory scan");
                        assert_eq!(
                            got, want,
                            "index {index} range {range:?} after {after:?} reverse {reverse} limit {limit}"
                        );
                        compared += usize::from(!want.is_empty());
                    }
                }
            }
        }
    }
    assert!(compared > 100, "the fixture exercised too few non-empty scans ({compared})");

    for after in [None, Some(""), Some("d07"), Some("d5"), Some("zz")] {
        for reverse in [false, true] {
            for limit in [0, 2, 1000] {
                let got = s.scan_docs(s_coll, after, reverse, limit).expect("sqlite scan");
                assert_eq!(
                    got,
                    m.scan_docs(m_coll, after, reverse, limit).expect("memory scan"),
                    "{after:?} {reverse} {limit}"
                );
            }
        }
    }

    for after in [0, 1, 17, 39, 40, u64::MAX] {
        for limit in [0, 5, 1000] {
            assert_eq!(
                s.changes(s_space, after, limit).expect("sqlite"),
                m.changes(m_space, after, limit).expect("memory")
            );
        }
    }
    assert_eq!(s.change_head(s_space).expect("sqlite"), m.change_head(m_space).expect("memory"));
    // The newest change-log entry (49); the raw put_doc at 61 is not an
    // entry (the engine never stores a stamp newer than its entry's).
    assert_eq!(m.max_hlc().expect("memory"), 49);
    assert_eq!(s.max_hlc().expect("sqlite"), 49);
    assert_eq!(s.idempotency(s_space, "idem-1").expect("sqlite"), m.idempotency(m_space, "idem-1").expect("memory"));
    let names = |rows: Vec<engram_core::backend::SpaceRow>| rows.into_iter().map(|r| r.name).collect::<Vec<_>>();
    assert_eq!(names(s.spaces().expect("sqlite")), names(m.spaces().expect("memory")));
    for now in [0, 5, 120, 1_000] {
        // The trait leaves the order of expired documents open: compare as sets.
        let sorted = |mut v: Vec<(CollectionId, String)>| {
            v.sort_by(|a, b| a.1.cmp(&b.1));
            v.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
        };
        assert_eq!(
            sorted(s.expired(now, 1000).expect("sqlite")),
            sorted(m.expired(now, 1000).expect("memory")),
            "now {now}"
        );
    }
}

#[test]
fn deletes_and_purges_match_the_memory_backend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = open(&db_path(&dir));
    let memory = MemoryBackend::new();
    for b in [&sqlite as &dyn Backend, &memory] {
        let (space, coll) = populate(b);
        let purged = b
            .write_with(move |tx| {
                tx.clear_index(coll, 2)?;
                let n = tx.purge_idempotency(50, 10)?;
                let spec = CollectionSpec { default_ttl_seconds: Some(5), ..Default::default() };
                tx.update_collection(coll, &spec, 2)?;
                Ok(n)
            })
            .expect("write");
        assert_eq!(purged, 1);
        let r = b.reader().expect("reader");
        let all = KeyRange::all();
        let scan = IndexScan { collection: coll, index: 2, range: &all, after: None, reverse: false, limit: 100 };
        assert!(r.scan_index(&scan).expect("scan").is_empty());
        assert_eq!(r.idempotency(space, "idem-1").expect("read"), None);
        let row = r.collection(space, &coll_name("c")).expect("read").expect("collection");
        assert_eq!((row.generation, row.spec.default_ttl_seconds), (2, Some(5)));
        drop(r);
        let e = b
            .write_with(|tx| tx.update_collection(CollectionId(9_999), &CollectionSpec::default(), 2))
            .expect_err("missing collection");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        b.write_with(move |tx| tx.delete_space(space)).expect("delete space");
        let r = b.reader().expect("reader");
        assert!(r.space(&space_name("main")).expect("read").is_none());
        assert!(r.collection_by_id(coll).expect("read").is_none());
        assert!(r.doc(coll, "d01").expect("read").is_none());
        assert!(r.changes(space, 0, 10).expect("read").is_empty());
        assert_eq!(r.change_head(space).expect("read"), ChangeHead::default());
        assert_eq!(r.spaces().expect("read").len(), 1);
    }
}

/// `index_rebuilds` (filled by migration 0002 from format-1 entries) is
/// read through `stale_indexes` and emptied by `mark_indexes_rebuilt`, in
/// the write's transaction.
#[test]
fn stale_indexes_are_listed_until_marked_rebuilt() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(&db_path(&dir)));
    raw(&db_path(&dir)).execute_batch("INSERT INTO index_rebuilds VALUES (4), (9)").expect("list two");
    let b = open(&db_path(&dir));
    assert_eq!(b.reader().expect("reader").stale_indexes().expect("stale"), [CollectionId(4), CollectionId(9)]);
    let failed = b.write_with(|tx| {
        tx.mark_indexes_rebuilt(CollectionId(4))?;
        Err::<(), _>(Error::invalid("roll back"))
    });
    assert!(failed.is_err());
    assert_eq!(b.reader().expect("reader").stale_indexes().expect("stale").len(), 2, "a rolled-back mark is undone");
    b.write_with(|tx| tx.mark_indexes_rebuilt(CollectionId(4))).expect("mark");
    assert_eq!(b.reader().expect("reader").stale_indexes().expect("stale"), [CollectionId(9)]);
}
