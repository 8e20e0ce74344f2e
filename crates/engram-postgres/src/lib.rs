//! Engram's PostgreSQL backend, for many servers sharing one database.
//!
//! **Client.** The synchronous `postgres` crate (a blocking wrapper over
//! tokio-postgres, no default features): the engine's traits are blocking,
//! and each connection is owned by one thread at a time (a writer thread, or
//! a reader lent from the pool), so the async client would only add a
//! runtime and channels around the same calls. The pool is this crate's own
//! (`pool.rs`, the same shape as the SQLite backend's) rather than
//! r2d2_postgres: it needs to hand out connections already inside a
//! REPEATABLE READ transaction, replace dead ones and retry the loan, which
//! r2d2's generic checkout would wrap rather than remove, at the cost of
//! three more crates.
//!
//! **Schema.** Versioned, checksummed migrations (`migrations/`) applied at
//! open inside one transaction under a transaction-scoped advisory lock, in
//! a schema of their own (`engram` by default). Text that is ordered uses
//! `COLLATE "C"` and keys are `bytea`, so every ordering is bytewise, as in
//! every other backend.
//!
//! **Writes.** Writer threads (`writer.rs`) each own a connection and commit
//! queued jobs in batches (group commit: many callers, one transaction and
//! one WAL flush), each job in its own savepoint only when one of them
//! fails. Transactions run at READ COMMITTED and lock each space's row
//! before touching the space (`tx.rs` explains why that keeps every change
//! log gapless and every write's preconditions true, across servers).
//!
//! **Announcements.** After each commit the engine announces the space
//! written; `notify.rs` sends the ids with `pg_notify` (batched, off the
//! write path) and listens for other servers', so their long polls and
//! feed streams wake at once (`Backend::announce`, `watch_changes`).
//!
//! **Failures.** Every connection runs with `statement_timeout`. Errors are
//! classified by SQLSTATE (`error.rs`): lost connections and admin
//! shutdowns, serialization failures and deadlocks, and timeouts become
//! retryable `Unavailable` errors; a transaction that cannot start because
//! its connection died is retried on a new connection; a read that finds
//! its connection dead is retried on another.

mod backend;
mod breaker;
mod coll_ids;
mod config;
mod conn;
mod doc_cache;
mod error;
mod lease;
mod many_docs;
mod migrations;
mod notify;
mod pending;
mod pool;
mod reader;
mod space_lock;
mod tx;
mod writer;

pub use backend::PostgresBackend;
pub use config::{
    CONNECT_TIMEOUT_DEFAULT, GROUP_COMMIT_JOBS_MAX_DEFAULT, GROUP_COMMIT_JOBS_MAX_LIMIT, PostgresOptions,
    READ_CONNECTIONS_DEFAULT, READ_CONNECTIONS_MAX, SCHEMA_DEFAULT, STATEMENT_TIMEOUT_DEFAULT,
    WRITE_CONNECTIONS_DEFAULT, WRITE_CONNECTIONS_MAX, WRITE_QUEUE_MAX_DEFAULT, WRITE_QUEUE_MAX_LIMIT,
};
pub use migrations::{FORMAT_VERSION, MIGRATION_LOCK_KEY};
pub use writer::WriterStats;
