//! The peer: plain rusqlite doing the equivalent work on an equivalent table,
//! with the pragmas Engram's connections use (WAL, synchronous=FULL, same
//! page cache), on the same bundled SQLite library.

use crate::data::{Doc, checksum_of};
use rusqlite::{Connection, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::Duration;

/// Page cache per connection, in KiB: Engram's `CACHE_SIZE_KIB`.
const CACHE_SIZE_KIB: i64 = 16 * 1024;
/// How long a concurrent peer writer waits for the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(120);

const INSERT: &str = "INSERT INTO docs (id, body) VALUES (?1, ?2)";
const SELECT: &str = "SELECT body FROM docs WHERE id = ?1";

/// The peer's database file in a directory.
pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("peer.db")
}

/// Opens a connection with the benchmark's pragmas.
pub fn connect(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open the peer database");
    conn.busy_timeout(BUSY_TIMEOUT).expect("set the busy timeout");
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).expect("WAL");
    assert!(mode.eq_ignore_ascii_case("wal"), "the peer must run in WAL mode, got {mode}");
    conn.pragma_update(None, "synchronous", "FULL").expect("synchronous=FULL");
    conn.pragma_update(None, "cache_size", -CACHE_SIZE_KIB).expect("cache_size");
    conn
}

/// Creates the peer's database in `dir`: `docs(id TEXT PRIMARY KEY, body
/// TEXT NOT NULL)`, clustered on the id like Engram's table unless `rowid`.
pub fn create(dir: &Path, rowid: bool) -> Connection {
    let conn = connect(&db_path(dir));
    let clustering = if rowid { "" } else { " WITHOUT ROWID" };
    let ddl = format!("CREATE TABLE docs (id TEXT PRIMARY KEY, body TEXT NOT NULL){clustering}");
    conn.execute_batch(&ddl).expect("create the peer table");
    conn
}

/// Bulk insert: one transaction per chunk, one prepared INSERT per row; each
/// body is serialized here, as Engram serializes the values it is given.
pub fn bulk_insert(conn: &mut Connection, docs: &[Doc], per_tx: usize) {
    for chunk in docs.chunks(per_tx) {
        let tx = conn.transaction().expect("begin");
        {
            let mut stmt = tx.prepare_cached(INSERT).expect("prepare the insert");
            for (id, body) in chunk {
                let text = serde_json::to_string(body).expect("serialize a body");
                stmt.execute((id, text)).expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
}

/// Point gets with a cached prepared SELECT, each body parsed into a
/// `serde_json::Value` (what an Engram get returns); returns the checksum.
pub fn point_gets(conn: &Connection, ids: &[String], gets: &[usize]) -> u64 {
    let mut stmt = conn.prepare_cached(SELECT).expect("prepare the select");
    gets.iter()
        .map(|&n| {
            let body = stmt
                .query_row([&ids[n]], |r| {
                    let text = r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
                    Ok(serde_json::from_str(text).expect("a stored body is JSON"))
                })
                .expect("get a row");
            checksum_of(&body)
        })
        .sum()
}

/// Single durable writes one at a time: BEGIN IMMEDIATE, INSERT, COMMIT.
pub fn sequential_inserts(conn: &mut Connection, docs: &[Doc]) {
    for (id, body) in docs {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).expect("begin");
        let text = serde_json::to_string(body).expect("serialize a body");
        tx.prepare_cached(INSERT).expect("prepare the insert").execute((id, text)).expect("insert");
        tx.commit().expect("commit");
    }
}

/// One connection per concurrent writer, opened before the clock starts.
pub fn writer_connections(dir: &Path, writers: usize) -> Vec<Connection> {
    (0..writers).map(|_| connect(&db_path(dir))).collect()
}

/// Every writer thread commits its documents one per transaction on its own
/// connection; SQLite serializes them on its write lock (waiting threads
/// sleep in the busy handler).
pub fn concurrent_inserts(writers: Vec<(Connection, Vec<Doc>)>) {
    let start = Arc::new(Barrier::new(writers.len()));
    let threads: Vec<_> = writers
        .into_iter()
        .map(|(mut conn, docs)| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                sequential_inserts(&mut conn, &docs);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a peer writer thread panicked");
    }
}

/// Rows in the peer's table (a check that every write landed).
pub fn count(conn: &Connection) -> u64 {
    conn.query_row("SELECT count(*) FROM docs", [], |r| r.get(0)).expect("count rows")
}
