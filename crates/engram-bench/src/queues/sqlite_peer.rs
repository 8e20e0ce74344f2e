//! The SQLite peer: the same job table in one database file, each step a
//! `BEGIN IMMEDIATE` transaction (a lease is one `UPDATE … RETURNING` of the
//! next visible rows), WAL with `synchronous=FULL` (durable per commit, like
//! Engram), one connection per thread.

use super::load::Side;
use rusqlite::{Connection, TransactionBehavior, params};
use serde_json::Value;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Times are ms since the epoch; a lease moves `visible_at` to its expiry,
/// so one index finds both new jobs and expired leases.
const CREATE: &str = "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'ready', visible_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, locked_until INTEGER);
    CREATE INDEX IF NOT EXISTS jobs_visible ON jobs (visible_at, id);";
const ENQUEUE: &str = "INSERT INTO jobs (payload, visible_at) VALUES (?1, ?2)";
const LEASE: &str = "UPDATE jobs SET status = 'leased', attempts = attempts + 1, locked_until = ?1, visible_at = ?1
    WHERE id IN (SELECT id FROM jobs WHERE visible_at <= ?2 ORDER BY visible_at, id LIMIT ?3)
    RETURNING id, payload";
const ACK: &str = "DELETE FROM jobs WHERE id = ?1";
/// The lease's length.
const VISIBILITY_MS: i64 = 30_000;
/// Writers wait for the write lock rather than fail (SQLite's busy
/// handler sleeps and retries).
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct SqlitePeer {
    producers: Vec<Mutex<Connection>>,
    consumers: Vec<Mutex<Connection>>,
    /// How long a consumer sleeps after finding no job (the peer polls).
    poll: Duration,
}

/// A connection to the database file, WAL and `synchronous=FULL`.
fn connect(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open the SQLite peer's database");
    conn.busy_timeout(BUSY_TIMEOUT).expect("busy timeout");
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;").expect("pragmas");
    conn
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn lock(conn: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SqlitePeer {
    /// Creates the table in a fresh database `dir/jobs.db` and opens a
    /// connection per thread.
    pub fn open(dir: &Path, producers: usize, consumers: usize, poll: Duration) -> Self {
        let path = dir.join("jobs.db");
        connect(&path).execute_batch(CREATE).expect("create the jobs table");
        let conns = |n| (0..n).map(|_| Mutex::new(connect(&path))).collect();
        Self { producers: conns(producers), consumers: conns(consumers), poll }
    }

    fn lease(conn: &mut Connection, max: usize) -> Vec<(i64, Value)> {
        let now = now_ms();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).expect("begin immediate");
        let rows: Vec<(i64, String)> = {
            let mut stmt = tx.prepare_cached(LEASE).expect("prepare the lease");
            let rows = stmt
                .query_map(params![now + VISIBILITY_MS, now, max as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                .expect("lease the next jobs");
            rows.collect::<Result<_, _>>().expect("read the leased jobs")
        };
        tx.commit().expect("commit the lease");
        rows.into_iter()
            .map(|(id, text)| (id, serde_json::from_str(&text).expect("a stored payload is JSON")))
            .collect()
    }
}

impl Side for SqlitePeer {
    type Receipt = i64;

    fn enqueue(&self, producer: usize, body: &Value) {
        let text = serde_json::to_string(body).expect("serialize a body");
        let conn = &mut *lock(&self.producers[producer]);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).expect("begin immediate");
        tx.prepare_cached(ENQUEUE).expect("prepare").execute(params![text, now_ms()]).expect("enqueue a job");
        tx.commit().expect("commit the job");
    }

    fn receive(&self, consumer: usize, max: usize) -> Vec<(i64, Value)> {
        let jobs = Self::lease(&mut lock(&self.consumers[consumer]), max);
        if jobs.is_empty() {
            std::thread::sleep(self.poll);
        }
        jobs
    }

    /// One transaction deleting the batch's rows.
    fn ack(&self, consumer: usize, receipts: Vec<i64>) -> usize {
        let conn = &mut *lock(&self.consumers[consumer]);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).expect("begin immediate");
        let removed = {
            let mut stmt = tx.prepare_cached(ACK).expect("prepare the ack");
            receipts.iter().map(|id| stmt.execute([id]).expect("delete a job")).sum()
        };
        tx.commit().expect("commit the ack");
        removed
    }
}
