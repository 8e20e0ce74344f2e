//! [`SqliteBackend`]: opening, the [`Backend`] implementation and shutdown.

use crate::config::SqliteOptions;
use crate::connection::{self, Role};
use crate::migrations;
use crate::pool::ReadPool;
use crate::reader::Queries;
use crate::writer::{Writer, WriterStats};
use engram_core::Result;
use engram_core::backend::{
    Backend, Capabilities, CollectionId, CommitStats, Reader, StoredDoc, WriteOutput, WriteWork,
};
use std::path::Path;

/// Engram's embedded SQLite backend: one writer thread with group commit
/// over a WAL-mode file, and a pool of read connections.
pub struct SqliteBackend {
    pool: ReadPool,
    writer: Writer,
    durable: bool,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend").field("durable", &self.durable).field("stats", &self.stats()).finish()
    }
}

impl SqliteBackend {
    /// Opens (creating if absent) the data file at `db_path`.
    ///
    /// Refuses, without modifying it, a SQLite file of another application
    /// or of a newer Engram format; applies pending migrations otherwise.
    pub fn open(db_path: &Path, opts: SqliteOptions) -> Result<Self> {
        opts.validate()?;
        let mut conn = connection::open(db_path, Role::Writer)?;
        // Identity first: switching to WAL would already change a foreign file.
        migrations::check_identity(&conn)?;
        connection::configure(&conn, Role::Writer, opts.synchronous)?;
        migrations::migrate(&mut conn)?;
        let pool = ReadPool::open(db_path, opts.read_connections, opts.synchronous)?;
        let writer = Writer::start(conn, opts.write_queue_max, opts.group_commit_jobs_max)?;
        Ok(Self { pool, writer, durable: opts.durable() })
    }

    /// Folds the write-ahead log into the main file and truncates it.
    /// Fails (retryably) if open readers keep it from completing.
    pub fn checkpoint(&self) -> Result<()> {
        self.writer.checkpoint()
    }

    /// Commits and jobs so far (commits < jobs shows batching).
    pub fn stats(&self) -> WriterStats {
        self.writer.stats()
    }
}

impl Backend for SqliteBackend {
    fn capabilities(&self) -> Capabilities {
        Capabilities { name: "sqlite", durable: self.durable, group_commit: true, shared: false }
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(self.pool.get()?))
    }

    /// One statement is its own consistent snapshot: no BEGIN/ROLLBACK.
    fn read_doc(&self, coll: CollectionId, id: &str) -> Result<Option<StoredDoc>> {
        self.pool.with_conn(|conn| Queries(conn).doc(coll, id))
    }

    fn write(&self, work: WriteWork) -> Result<WriteOutput> {
        self.writer.write(work)
    }

    fn commit_stats(&self) -> Option<CommitStats> {
        let s = self.writer.stats();
        Some(CommitStats { batches: s.commits, jobs: s.jobs, max_batch: s.max_batch })
    }
}

impl Drop for SqliteBackend {
    /// Read connections close first so the writer's final checkpoint can
    /// complete and leave the data file standing alone without its WAL.
    fn drop(&mut self) {
        self.pool.close();
        self.writer.shutdown();
    }
}
