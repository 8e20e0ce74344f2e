//! The direct side: the same work issued with the `postgres` client crate
//! on plain tables, the way an application would write it by hand.
//!
//! - `docs(id text PRIMARY KEY, version bigint, body text)`: the body is the
//!   serialized JSON text (Engram stores text too), serialized with
//!   serde_json on the way in and parsed into a `serde_json::Value` on the
//!   way out, as Engram does.
//! - Every statement is prepared once per connection.
//! - The platform pattern adds `outbox` and `audit` tables written in the
//!   same transaction as the document.

use super::Target;
use postgres::{Client, Statement};
use serde_json::Value;
use std::sync::{Condvar, Mutex, PoisonError};

const CREATE: &str = "CREATE TABLE docs (id text PRIMARY KEY, version bigint NOT NULL, body text NOT NULL);
    CREATE TABLE outbox (id bigserial PRIMARY KEY, aggregate_id text NOT NULL, event_type text NOT NULL,
        payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE audit (id bigserial PRIMARY KEY, doc_id text NOT NULL, version bigint NOT NULL,
        action text NOT NULL, actor text NOT NULL, at timestamptz NOT NULL DEFAULT now());";

/// Bulk insert, one row per execution of a prepared statement.
const INSERT: &str = "INSERT INTO docs (id, version, body) VALUES ($1, 1, $2)";
/// Bulk insert, all rows of a transaction in one statement over arrays.
const INSERT_UNNEST: &str =
    "INSERT INTO docs (id, version, body) SELECT u.id, 1, u.body FROM unnest($1::text[], $2::text[]) AS u(id, body)";
const SELECT: &str = "SELECT body FROM docs WHERE id = $1";
/// A single-document write: insert version 1 or bump the stored version.
const UPSERT: &str = "INSERT INTO docs (id, version, body) VALUES ($1, 1, $2) \
    ON CONFLICT (id) DO UPDATE SET version = docs.version + 1, body = excluded.body RETURNING version";
const OUTBOX: &str = "INSERT INTO outbox (aggregate_id, event_type, payload) VALUES ($1, 'doc.put', $2)";
const AUDIT: &str = "INSERT INTO audit (doc_id, version, action, actor) VALUES ($1, $2, 'put', 'bench')";

/// One connection with its prepared statements.
pub struct Conn {
    client: Client,
    insert: Statement,
    insert_unnest: Statement,
    select: Statement,
    upsert: Statement,
    outbox: Statement,
    audit: Statement,
}

/// Creates the tables in the target's (fresh) schema.
pub fn create_tables(target: &Target) {
    let mut client = target.client();
    client.batch_execute(CREATE).expect("create the direct tables");
}

impl Conn {
    /// Connects to the target's schema (whose tables exist) and prepares
    /// every statement.
    pub fn open(target: &Target) -> Self {
        let mut client = target.client();
        let mut prepare = |sql| client.prepare(sql).expect("prepare a statement");
        let (insert, insert_unnest, select) = (prepare(INSERT), prepare(INSERT_UNNEST), prepare(SELECT));
        let (upsert, outbox, audit) = (prepare(UPSERT), prepare(OUTBOX), prepare(AUDIT));
        Self { client, insert, insert_unnest, select, upsert, outbox, audit }
    }

    /// One transaction per chunk, one prepared INSERT per row.
    pub fn bulk_insert(&mut self, chunks: &[Vec<(String, Value)>]) {
        for chunk in chunks {
            let mut tx = self.client.transaction().expect("begin");
            for (id, body) in chunk {
                let text = serde_json::to_string(body).expect("serialize a body");
                tx.execute(&self.insert, &[id, &text]).expect("insert");
            }
            tx.commit().expect("commit");
        }
    }

    /// One transaction per chunk, one multi-row INSERT over arrays
    /// (`unnest($1::text[], $2::text[])`) per chunk.
    pub fn bulk_insert_unnest(&mut self, chunks: &[Vec<(String, Value)>]) {
        for chunk in chunks {
            let ids: Vec<&str> = chunk.iter().map(|(id, _)| id.as_str()).collect();
            let bodies: Vec<String> =
                chunk.iter().map(|(_, b)| serde_json::to_string(b).expect("serialize a body")).collect();
            let mut tx = self.client.transaction().expect("begin");
            tx.execute(&self.insert_unnest, &[&ids, &bodies]).expect("insert");
            tx.commit().expect("commit");
        }
    }

    /// One prepared SELECT per id, the body parsed; returns the checksum.
    pub fn point_gets(&mut self, ids: &[&str]) -> u64 {
        ids.iter()
            .map(|id| {
                let row = self.client.query_one(&self.select, &[id]).expect("get a row");
                let body: Value = serde_json::from_str(row.get::<_, &str>(0)).expect("a stored body is JSON");
                crate::data::checksum_of(&body)
            })
            .sum()
    }

    /// One durable single-document write: the upsert alone, its own
    /// (autocommit) transaction, acknowledged after its commit.
    pub fn upsert(&mut self, id: &str, body: &Value) {
        let text = serde_json::to_string(body).expect("serialize a body");
        self.client.query_one(&self.upsert, &[&id, &text]).expect("upsert");
    }

    /// The platform pattern: in one transaction, upsert the document, add
    /// an outbox row carrying the new body and an audit row with the new
    /// version; acknowledged after the commit.
    pub fn platform_write(&mut self, id: &str, body: &Value) {
        let text = serde_json::to_string(body).expect("serialize a body");
        let mut tx = self.client.transaction().expect("begin");
        let version: i64 = tx.query_one(&self.upsert, &[&id, &text]).expect("upsert").get(0);
        tx.execute(&self.outbox, &[&id, &text]).expect("outbox row");
        tx.execute(&self.audit, &[&id, &version]).expect("audit row");
        tx.commit().expect("commit");
    }

    /// Rows in a table (checks that the writes landed).
    pub fn count(&mut self, table: &str) -> u64 {
        let n: i64 = self.client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).expect("count").get(0);
        n as u64
    }
}

/// Connections shared by more threads than there are connections: a
/// thread takes a free one for each write and gives it back after (what a
/// connection pool such as r2d2 or deadpool does, without its extras).
pub struct Pool {
    free: Mutex<Vec<Conn>>,
    returned: Condvar,
}

impl Pool {
    pub fn open(target: &Target, size: usize) -> Self {
        Self { free: Mutex::new((0..size).map(|_| Conn::open(target)).collect()), returned: Condvar::new() }
    }

    /// Runs `f` on a free connection, waiting for one if none is free.
    pub fn with<R>(&self, f: impl FnOnce(&mut Conn) -> R) -> R {
        let mut conn = {
            let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(conn) = free.pop() {
                    break conn;
                }
                free = self.returned.wait(free).unwrap_or_else(PoisonError::into_inner);
            }
        };
        let out = f(&mut conn);
        self.free.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
        self.returned.notify_one();
        out
    }
}
