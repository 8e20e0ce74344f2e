//! [`PostgresBackend`]: opening, the [`Backend`] implementation and shutdown.

use crate::coll_ids::CollIds;
use crate::config::PostgresOptions;
use crate::conn::Conn;
use crate::lease::Leases;
use crate::migrations;
use crate::pool::ReadPool;
use crate::reader::Queries;
use crate::writer::{Writer, WriterStats};
use engram_core::Result;
use engram_core::backend::{
    Backend, Capabilities, CollectionId, CollectionRow, CommitStats, Reader, SpaceId, SpaceRow, StoredDoc, WriteOutput,
    WriteWork,
};
use engram_core::changelog::ChangeHead;
use engram_core::names::{CollectionName, SpaceName};

/// Engram's PostgreSQL backend: writer threads with group commit, and a
/// pool of read connections.
pub struct PostgresBackend {
    pool: ReadPool,
    /// Collection ids by name, for gets (see `coll_ids.rs`).
    coll_ids: CollIds,
    writer: Writer,
    leases: Leases,
    opts: PostgresOptions,
    announcer: std::sync::Mutex<crate::notify::Announcer>,
    listener: std::sync::Mutex<Option<crate::notify::Listener>>,
    /// Read connections to the replica, when one is configured.
    replica: Option<ReadPool>,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend").field("stats", &self.stats()).finish()
    }
}

impl PostgresBackend {
    /// Connects, applies pending migrations (under the migration lock, so
    /// servers starting together do not race) and starts the writers.
    ///
    /// Refuses, without changing it, a schema that holds another
    /// application's tables or was written by a newer Engram.
    pub fn open(opts: PostgresOptions) -> Result<Self> {
        opts.validate()?;
        let mut conn = Conn::open(&opts)?;
        migrations::migrate(&mut conn, &opts.schema)?;
        drop(conn);
        let pool = ReadPool::new(&opts);
        let writer = Writer::start(&opts)?;
        let announcer = std::sync::Mutex::new(crate::notify::Announcer::start(&opts));
        let (coll_ids, leases, listener) = (CollIds::default(), Leases::new(&opts), Default::default());
        let replica =
            opts.replica_url.as_ref().map(|url| ReadPool::new(&PostgresOptions { url: url.clone(), ..opts.clone() }));
        Ok(Self { pool, coll_ids, writer, leases, announcer, listener, opts, replica })
    }

    /// `read` on the replica: `None` when there is none, or when it failed
    /// (logged; the caller reads the primary instead).
    fn on_replica<'a, T>(&'a self, read: impl FnOnce(&'a ReadPool) -> Result<T>) -> Option<T> {
        let replica = self.replica.as_ref()?;
        read(replica)
            .map_err(
                |e| tracing::warn!(error = %e.message(), "the read replica is unreachable; reading from the primary"),
            )
            .ok()
    }

    /// Commits and jobs so far (commits < jobs shows batching).
    pub fn stats(&self) -> WriterStats {
        self.writer.stats()
    }
}

impl Backend for PostgresBackend {
    fn capabilities(&self) -> Capabilities {
        Capabilities { name: "postgres", durable: true, group_commit: true, shared: true }
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(self.pool.get()?))
    }

    /// One statement is its own consistent snapshot: no BEGIN/ROLLBACK.
    fn read_doc(&self, coll: CollectionId, id: &str) -> Result<Option<StoredDoc>> {
        self.pool.with_conn(|conn| Queries(conn).doc(coll, id))
    }

    /// One statement each, outside a transaction: on shared storage the
    /// engine looks names up on every request.
    fn read_space(&self, name: &SpaceName) -> Result<Option<SpaceRow>> {
        self.pool.with_conn(|conn| Queries(conn).space(name))
    }

    fn read_collection(&self, space: SpaceId, name: &CollectionName) -> Result<Option<CollectionRow>> {
        self.pool.with_conn(|conn| Queries(conn).collection(space, name))
    }

    /// One statement: the document alone when the collection's id is
    /// remembered and the document is found (see `coll_ids.rs` for why
    /// that suffices), else the collection row joined with the document.
    fn read_named_doc(
        &self,
        space: SpaceId,
        coll: &CollectionName,
        id: &str,
    ) -> Result<Option<(CollectionId, Option<StoredDoc>)>> {
        if let Some(known) = self.coll_ids.get(space, coll)
            && let Some(doc) = self.read_doc(known, id)?
        {
            return Ok(Some((known, Some(doc))));
        }
        let found = self.pool.with_conn(|conn| Queries(conn).named_doc(space, coll, id))?;
        self.coll_ids.set(space, coll, found.as_ref().map(|(c, _)| *c));
        Ok(found)
    }

    /// The replica's reader; the primary's while the replica is unreachable
    /// (a read that accepts staleness accepts the primary too).
    fn stale_reader(&self) -> Result<Box<dyn Reader + '_>> {
        match self.on_replica(|replica| replica.get()) {
            Some(r) => Ok(Box::new(r)),
            None => self.reader(),
        }
    }

    /// One statement on the replica (no collection-id cache: a replica may
    /// lag a collection's re-creation), else on the primary.
    fn stale_read_named_doc(
        &self,
        space: SpaceId,
        coll: &CollectionName,
        id: &str,
    ) -> Result<Option<(CollectionId, Option<StoredDoc>)>> {
        match self.on_replica(|replica| replica.with_conn(|conn| Queries(conn).named_doc(space, coll, id))) {
            Some(found) => Ok(found),
            None => self.read_named_doc(space, coll, id),
        }
    }

    /// One statement, outside a transaction: the change token followers
    /// of a shared database check before serving.
    fn change_head(&self, space: SpaceId) -> Result<ChangeHead> {
        self.pool.with_conn(|conn| Queries(conn).change_head(space))
    }

    fn write(&self, work: WriteWork) -> Result<WriteOutput> {
        self.writer.write(work)
    }

    fn try_lease(&self, name: &str) -> Result<bool> {
        self.leases.try_take(name)
    }

    fn announce(&self, space: SpaceId) {
        self.announcer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).announce(space);
    }

    fn watch_changes(&self, changed: engram_core::backend::ChangeCallback) -> Result<bool> {
        let mut listener = self.listener.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(old) = listener.take() {
            old.stop();
        }
        let own_pid = self.announcer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).own_pid();
        *listener = Some(crate::notify::Listener::start(&self.opts, changed, own_pid));
        Ok(true)
    }

    fn commit_stats(&self) -> Option<CommitStats> {
        let s = self.writer.stats();
        Some(CommitStats { batches: s.commits, jobs: s.jobs, max_batch: s.max_batch })
    }
}

impl Drop for PostgresBackend {
    /// Queued writes finish first; then every connection closes.
    fn drop(&mut self) {
        self.writer.shutdown();
        self.announcer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).stop();
        if let Some(l) = self.listener.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            l.stop();
        }
        self.pool.close();
        if let Some(r) = &self.replica {
            r.close();
        }
        self.leases.release_all();
    }
}
