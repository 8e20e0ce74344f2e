//! Engram's embedded SQLite backend.
//!
//! One file in WAL mode. A dedicated writer thread owns the only write
//! connection and commits concurrent writes together (group commit: one
//! transaction and one sync per batch, each write isolated in a savepoint);
//! reads use a pool of query-only connections. The schema is versioned by
//! embedded, checksummed migrations.

mod backend;
mod config;
mod connection;
mod error;
mod migrations;
mod pool;
mod reader;
mod tx;
mod writer;

pub use backend::SqliteBackend;
pub use config::{
    GROUP_COMMIT_JOBS_MAX_DEFAULT, GROUP_COMMIT_JOBS_MAX_LIMIT, READ_CONNECTIONS_DEFAULT, READ_CONNECTIONS_MAX,
    SqliteOptions, Synchronous, WRITE_QUEUE_MAX_DEFAULT, WRITE_QUEUE_MAX_LIMIT,
};
pub use migrations::{APPLICATION_ID, FORMAT_VERSION};
pub use writer::WriterStats;

/// Names of this crate's failpoints (active with the `failpoints` feature):
/// every step of the commit path and of the read path.
pub const FAILPOINTS: &[&str] = &[
    "sqlite.begin",
    "sqlite.savepoint",
    "sqlite.job",
    "sqlite.write",
    "sqlite.release",
    "sqlite.rollback",
    "sqlite.commit",
    "sqlite.reply",
    "sqlite.read",
];
