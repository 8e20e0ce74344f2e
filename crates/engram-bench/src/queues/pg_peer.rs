//! The PostgreSQL peer: the job table a platform writes by hand today,
//! leased with `SELECT … FOR UPDATE SKIP LOCKED` and an `UPDATE`,
//! acknowledged with a `DELETE`; a transaction per step and one connection
//! per thread.

use super::load::Side;
use crate::postgres::Target;
use postgres::{Client, Statement};
use serde_json::Value;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The payload is the serialized JSON text: Engram stores text too, and a
/// `jsonb` column would add the server's parse to the peer's cost.
/// A lease moves `visible_at` to its expiry, so one index finds both new
/// jobs and expired leases.
const CREATE: &str = "CREATE TABLE jobs (id bigserial PRIMARY KEY, payload text NOT NULL,
        status text NOT NULL DEFAULT 'ready', visible_at timestamptz NOT NULL DEFAULT now(),
        attempts int NOT NULL DEFAULT 0, locked_until timestamptz);
    CREATE INDEX jobs_visible ON jobs (visible_at, id);";
const ENQUEUE: &str = "INSERT INTO jobs (payload) VALUES ($1)";
const NEXT: &str =
    "SELECT id, payload FROM jobs WHERE visible_at <= now() ORDER BY visible_at, id LIMIT $1 FOR UPDATE SKIP LOCKED";
const LEASE: &str = "UPDATE jobs SET status = 'leased', attempts = attempts + 1,
    locked_until = now() + interval '30 seconds', visible_at = now() + interval '30 seconds' WHERE id = ANY($1)";
const ACK: &str = "DELETE FROM jobs WHERE id = ANY($1)";

/// One connection with its prepared statements.
struct Conn {
    client: Client,
    enqueue: Statement,
    next: Statement,
    lease: Statement,
    ack: Statement,
}

impl Conn {
    fn open(target: &Target) -> Self {
        let mut client = target.client();
        let mut prepare = |sql| client.prepare(sql).expect("prepare a statement");
        let (enqueue, next, lease, ack) = (prepare(ENQUEUE), prepare(NEXT), prepare(LEASE), prepare(ACK));
        Self { client, enqueue, next, lease, ack }
    }
}

pub struct PgPeer {
    producers: Vec<Mutex<Conn>>,
    consumers: Vec<Mutex<Conn>>,
    /// How long a consumer sleeps after finding no job (the peer polls).
    poll: Duration,
    dbname: String,
}

impl PgPeer {
    /// Creates the table in the target's (fresh) schema and opens a
    /// connection per thread.
    pub fn open(target: &Target, producers: usize, consumers: usize, poll: Duration) -> Self {
        target.client().batch_execute(CREATE).expect("create the jobs table");
        let conns = |n| (0..n).map(|_| Mutex::new(Conn::open(target))).collect();
        Self { producers: conns(producers), consumers: conns(consumers), poll, dbname: target.dbname.clone() }
    }
}

fn lock(conn: &Mutex<Conn>) -> std::sync::MutexGuard<'_, Conn> {
    conn.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Side for PgPeer {
    type Receipt = i64;

    /// One INSERT in autocommit: its own transaction, acknowledged after
    /// its commit.
    fn enqueue(&self, producer: usize, body: &Value) {
        let text = serde_json::to_string(body).expect("serialize a body");
        let conn = &mut *lock(&self.producers[producer]);
        conn.client.execute(&conn.enqueue, &[&text]).expect("enqueue a job");
    }

    /// One transaction: lock the next visible jobs others have not locked,
    /// lease them, commit.
    fn receive(&self, consumer: usize, max: usize) -> Vec<(i64, Value)> {
        let jobs = {
            let conn = &mut *lock(&self.consumers[consumer]);
            let mut tx = conn.client.transaction().expect("begin");
            let rows = tx.query(&conn.next, &[&(max as i64)]).expect("select the next jobs");
            let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
            if !ids.is_empty() {
                tx.execute(&conn.lease, &[&ids]).expect("lease the jobs");
            }
            tx.commit().expect("commit the lease");
            rows.iter()
                .map(|r| (r.get(0), serde_json::from_str(r.get::<_, &str>(1)).expect("a stored payload is JSON")))
                .collect::<Vec<_>>()
        };
        if jobs.is_empty() {
            std::thread::sleep(self.poll);
        }
        jobs
    }

    /// One DELETE of the batch in autocommit.
    fn ack(&self, consumer: usize, receipts: Vec<i64>) -> usize {
        let conn = &mut *lock(&self.consumers[consumer]);
        conn.client.execute(&conn.ack, &[&receipts]).expect("delete the jobs") as usize
    }

    fn server_cpu(&self) -> Duration {
        crate::postgres::server_cpu(&self.dbname)
    }
}
