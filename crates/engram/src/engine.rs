//! The engine: opens storage, owns the clock and caches, manages spaces.

use crate::catalog::{Catalog, Compiled};
use crate::config::{EngineConfig, Storage};
use crate::datadir::DataDir;
use crate::epoch::CountingBackend;
use crate::graph::index::GraphIndexes;
use crate::search::manager::SearchIndexes;
use crate::search::store::{DirStore, IndexStore};
use crate::space::Space;
use crate::system::System;
use crate::worker::Worker;
use engram_core::backend::{Backend, Capabilities, SpaceId, StoredDoc};
use engram_core::changelog::{ChangeDraft, ChangeOp};
use engram_core::hlc::{Clock, Hlc, SystemClock, physical_ms};
use engram_core::memory::MemoryBackend;
use engram_core::names::{CollectionName, SpaceName};
use engram_core::{Error, ErrorKind, Result};
use engram_sqlite::SqliteBackend;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};

/// Subdirectory of the data directory holding search index files.
const SEARCH_DIR: &str = "search";
/// Cached collection handles kept at most before the cache is cleared.
const COLLECTION_CACHE_ENTRIES_MAX: usize = 4_096;
/// How often the embedding backfill looks for fields with work recorded.
const EMBED_BACKFILL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// A space as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpaceInfo {
    pub name: String,
    pub created_at_ms: u64,
}

/// Engine counters for metrics.
#[derive(Debug, Clone, Default)]
pub struct EngineStats {
    /// Write transactions completed.
    pub writes: u64,
    /// Write transactions re-run after losing a race (contention).
    pub write_retries: u64,
    pub collection_cache_hits: u64,
    pub collection_cache_misses: u64,
    /// (space, index kind, change-log entries not yet applied), for each
    /// derived index loaded in memory.
    pub index_lag: Vec<(String, &'static str, u64)>,
    /// Commit batching, when the backend reports it.
    pub commits: Option<engram_core::backend::CommitStats>,
    /// Saved search index files loaded, and discarded (rebuilt instead).
    pub search_files: crate::search::manager::IndexFileStats,
}

/// An open engine. Cheap to clone; all clones share one storage.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub backend: Arc<dyn Backend>,
    pub hlc: Hlc,
    pub catalog: Catalog,
    pub config: EngineConfig,
    space_ids: RwLock<HashMap<String, SpaceId>>,
    /// Bumped (under the `space_ids` lock) when a space is deleted.
    space_ids_version: AtomicU64,
    /// Per space, by name: looked up without allocating.
    colls: RwLock<HashMap<SpaceId, HashMap<String, Arc<Compiled>>>>,
    /// Bumped (under the `colls` lock) whenever an entry is forgotten, so a
    /// lookup that read a row before the change does not cache it after.
    colls_version: AtomicU64,
    /// Search indexes derived from the change logs.
    pub search: SearchIndexes,
    /// Graph adjacency derived from the change logs.
    pub graph: GraphIndexes,
    /// Cached Merkle chunk roots of each space's log (`audit/tree.rs`).
    pub audit: crate::audit::TreeCache,
    /// Completed writes (see `epoch.rs`).
    pub(crate) writes: Arc<AtomicU64>,
    /// Other processes write the same storage: name caches are not used
    /// and derived indexes check the log's head (see `follow.rs`).
    pub shared: bool,
    /// Change signals of the spaces someone waits on (see `wake.rs`).
    pub signals: Arc<crate::wake::Signals>,
    /// Receive attempts of each queue, combined (see `queues/combine.rs`).
    pub receives: crate::queues::combine::Combiners,
    /// Writes re-run after a contention failure (see `retry.rs`).
    write_retries: AtomicU64,
    /// Collection lookups served from the cache, and those that read storage.
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    /// The write count at the indexer's last clean pass.
    pub indexed_writes: AtomicU64,
    datadir: Mutex<Option<DataDir>>,
    purger: Mutex<Option<Worker>>,
    indexer: Mutex<Option<Worker>>,
    /// The embedding backfill (only with embedders configured).
    backfiller: Mutex<Option<Worker>>,
    /// Set when the workers are told to stop: a long pass (a backfill)
    /// checks it between batches.
    pub(crate) stopping: std::sync::atomic::AtomicBool,
    /// What the embedding backfill saw last (to skip idle passes).
    pub(crate) backfill_seen: Mutex<crate::embedding::backfill::Seen>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("backend", &self.inner.backend.capabilities().name).finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens the storage the configuration names.
    pub fn open(config: EngineConfig) -> Result<Self> {
        let (backend, datadir): (Arc<dyn Backend>, _) = match &config.storage {
            Storage::Memory => (Arc::new(MemoryBackend::new()), None),
            Storage::Dir(path) => {
                let dir = DataDir::open(path, &config.holder_command)?;
                let backend = SqliteBackend::open(&dir.db_path(), config.sqlite.clone())?;
                // SQLite syncs the directory for the journal files it creates,
                // not for the database file itself.
                dir.sync()?;
                (Arc::new(backend), Some(dir))
            }
        };
        Self::assemble(backend, Arc::new(SystemClock), config, datadir)
    }

    /// An engine on the in-memory reference backend.
    pub fn in_memory() -> Self {
        Self::open(EngineConfig::memory()).expect("an in-memory engine always opens")
    }

    /// An engine over any backend and clock (tests, other backends).
    pub fn with_backend(backend: Arc<dyn Backend>, clock: Arc<dyn Clock>, config: EngineConfig) -> Result<Self> {
        Self::assemble(backend, clock, config, None)
    }

    fn assemble(
        backend: Arc<dyn Backend>,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
        datadir: Option<DataDir>,
    ) -> Result<Self> {
        // Before anything reads an index: entries of an older key encoding
        // would answer queries wrongly.
        crate::rekey::rebuild_stale_indexes(backend.as_ref())?;
        let floor = backend.reader()?.max_hlc()?;
        let writes = Arc::new(AtomicU64::new(0));
        let backend: Arc<dyn Backend> = Arc::new(CountingBackend::new(backend, writes.clone()));
        // Read once: whether other processes write this storage decides what
        // the engine may cache (see `follow.rs`).
        let shared = backend.capabilities().shared;
        let fresh = Arc::new(crate::follow::Freshness::new(writes.clone(), shared));
        let interval = config.purge_interval;
        let index_interval = config.index_interval;
        let save_after = config.index_save_interval;
        let search_dir =
            config.search_index_dir.clone().or_else(|| datadir.as_ref().map(|d: &DataDir| d.path().join(SEARCH_DIR)));
        let search_store: Option<Arc<dyn IndexStore>> = config
            .search_index_store
            .clone()
            .or_else(|| search_dir.map(|d| Arc::new(DirStore::new(d)) as Arc<dyn IndexStore>));
        let inner = Arc::new(Inner {
            backend,
            hlc: Hlc::new(clock, floor),
            catalog: Catalog::default(),
            config,
            space_ids: RwLock::default(),
            space_ids_version: AtomicU64::new(0),
            colls: RwLock::default(),
            colls_version: AtomicU64::new(0),
            search: SearchIndexes::new(search_store, fresh.clone(), save_after),
            graph: GraphIndexes::new(fresh.clone()),
            audit: Default::default(),
            shared,
            signals: Arc::default(),
            receives: Default::default(),
            writes,
            write_retries: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            indexed_writes: AtomicU64::new(u64::MAX),
            datadir: Mutex::new(datadir),
            purger: Mutex::new(None),
            indexer: Mutex::new(None),
            backfiller: Mutex::new(None),
            stopping: std::sync::atomic::AtomicBool::new(false),
            backfill_seen: Mutex::default(),
        });
        // Other servers' commits wake this one's waiters (when the storage
        // is shared and announces them).
        let signals = inner.signals.clone();
        inner.backend.watch_changes(Arc::new(move |space| match space {
            Some(id) => signals.bump(id),
            None => signals.bump_all(),
        }))?;
        let weak = Arc::downgrade(&inner);
        let purge: crate::worker::Pass = |i| i.purge_once().map(drop);
        *lock(&inner.purger) =
            Some(Worker::start("engram-purge", weak.clone(), interval, purge, "purging expired documents failed"));
        let index: crate::worker::Pass = |i| i.index_once();
        if !inner.config.embedders.is_empty() {
            let backfill: crate::worker::Pass = crate::embedding::backfill::pass;
            let failure = "embedding documents in the background failed";
            *lock(&inner.backfiller) =
                Some(Worker::start("engram-embed-backfill", weak.clone(), EMBED_BACKFILL_INTERVAL, backfill, failure));
        }
        *lock(&inner.indexer) =
            Some(Worker::start("engram-indexer", weak, index_interval, index, "catching up the search index failed"));
        Ok(Self { inner })
    }

    /// The embedders this engine was configured with.
    pub fn embedders(&self) -> &engram_core::embed::Embedders {
        &self.inner.config.embedders
    }

    pub fn capabilities(&self) -> Capabilities {
        self.inner.backend.capabilities()
    }

    /// Whether this process holds the lease `name` (taking it when free):
    /// at most one process sharing the storage holds it (see
    /// `Backend::try_lease`). For duties that must run once per database.
    pub fn try_lease(&self, name: &str) -> Result<bool> {
        self.inner.backend.try_lease(name)
    }

    /// A signal bumped by every space's commits (through this engine, or
    /// announced by the backend from other servers).
    pub fn watch_all(&self) -> Arc<crate::wake::Signal> {
        self.inner.signals.any()
    }

    /// Records the HTTP address this process serves on in the data
    /// directory's lock, so other tools can find the server.
    pub fn set_serving_address(&self, address: &str) -> Result<()> {
        match lock(&self.inner.datadir).as_mut() {
            Some(dir) => dir.set_address(address),
            None => Ok(()),
        }
    }

    pub fn create_space(&self, name: &str) -> Result<SpaceInfo> {
        self.create_space_named(SpaceName::new(name)?)
    }

    fn create_space_named(&self, name: SpaceName) -> Result<SpaceInfo> {
        let inner = self.inner.clone();
        let actor = crate::actor::current_actor();
        let info = self.inner.write_with(move |tx| {
            if tx.space(&name)?.is_some() {
                return Err(Error::new(ErrorKind::AlreadyExists, format!("space {name:?} already exists")));
            }
            let hlc = inner.hlc.tick();
            let id = tx.insert_space(&name, hlc)?;
            let draft = ChangeDraft {
                hlc,
                op: ChangeOp::SpaceCreate,
                collection: String::new(),
                doc_id: String::new(),
                version: 0,
                content_hash: [0; 32],
                actor: actor.id().to_owned(),
                request_id: actor.request_id().to_owned(),
            };
            tx.append_change(id, &draft.seal(&tx.change_head(id)?))?;
            Ok(SpaceInfo { name: name.to_string(), created_at_ms: physical_ms(hlc) })
        })?;
        Ok(info)
    }

    /// Deletes a space and everything in it.
    pub fn delete_space(&self, name: &str) -> Result<()> {
        let name = SpaceName::new(name)?;
        // Deleting a space removes its log; the deletion itself is logged
        // in the system space, in the same transaction.
        let system = self.system_space()?;
        let inner = self.inner.clone();
        let actor = crate::actor::current_actor();
        let id = self.inner.write_with(move |tx| {
            let row = tx.space(&name)?.ok_or_else(|| Error::not_found(format!("space {name:?} does not exist")))?;
            tx.delete_space(row.id)?;
            let system_name = system_name();
            let mut w = crate::apply::Writer::open(tx, system.id, &system_name, &inner.hlc, &inner.catalog, &actor)?;
            w.log_space_deletion(&name, row.id)?;
            Ok(row.id)
        })?;
        {
            let mut ids = write(&self.inner.space_ids);
            ids.retain(|_, v| *v != id);
            self.inner.space_ids_version.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        {
            let mut colls = write(&self.inner.colls);
            colls.remove(&id);
            self.inner.colls_version.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        self.inner.graph.forget(id);
        self.inner.audit.forget(id);
        self.inner.search.forget(id)
    }

    /// Spaces deleted so far, oldest first, from the system space's log
    /// records (name, internal id, when).
    pub fn deleted_spaces(&self) -> Result<Vec<(String, i64, u64)>> {
        let system = self.system_space()?;
        let Some(coll) = self.inner.reserved_collection(system.id, System::SpaceDeletions)? else {
            return Ok(Vec::new());
        };
        let reader = self.inner.backend.reader()?;
        let mut out = Vec::new();
        for d in crate::system::all_docs(&*reader, coll.row.id)? {
            let v: serde_json::Value = serde_json::from_str(&d.body)
                .map_err(|e| Error::corrupted(format!("stored space deletion {:?}: {e}", d.id)))?;
            let name = v["name"].as_str().unwrap_or_default().to_owned();
            out.push((name, v["id"].as_i64().unwrap_or(0), v["deleted_at_ms"].as_u64().unwrap_or(0)));
        }
        // Record ids are the zero-padded space ids: this is space-id order.
        Ok(out)
    }

    pub fn spaces(&self) -> Result<Vec<SpaceInfo>> {
        let rows = self.inner.backend.reader()?.spaces()?;
        Ok(rows
            .into_iter()
            .filter(|r| !r.name.is_reserved())
            .map(|r| SpaceInfo { name: r.name.to_string(), created_at_ms: physical_ms(r.created_hlc) })
            .collect())
    }

    /// The engine's own space, created on first use: state that every
    /// process sharing the storage must see (the server keeps API keys
    /// there). No caller can name it, list it or delete it.
    pub fn system_space(&self) -> Result<Space> {
        let name = SpaceName::system();
        for _ in 0..2 {
            if let Some(row) = self.inner.backend.reader()?.space(&name)? {
                return Ok(Space::new(self.inner.clone(), row.id, name));
            }
            match self.create_space_named(name.clone()) {
                // Another process created it first: read it again.
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::internal("the system space cannot be created"))
    }

    /// The internal id of the space named `name` now, or `None` when there
    /// is no such space (ids are never reused: a changed id is another space).
    pub fn space_id(&self, name: &str) -> Result<Option<i64>> {
        match self.space(name) {
            Ok(space) => Ok(Some(space.id())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A handle on an existing space; every data operation goes through one.
    pub fn space(&self, name: &str) -> Result<Space> {
        let name = SpaceName::new(name)?;
        // On shared storage another server may have deleted the space (and
        // created another under its name): its id is read every time.
        if let Some(id) = read(&self.inner.space_ids).get(name.as_str()).filter(|_| !self.inner.shared) {
            return Ok(Space::new(self.inner.clone(), *id, name));
        }
        // Taken before reading: a space deleted while we read must not be
        // cached under its old id.
        let version = self.inner.space_ids_version.load(std::sync::atomic::Ordering::SeqCst);
        let row = self.inner.backend.read_space(&name)?;
        let row = row.ok_or_else(|| Error::not_found(format!("space {:?} does not exist", name.as_str())))?;
        let mut ids = write(&self.inner.space_ids);
        if self.inner.space_ids_version.load(std::sync::atomic::Ordering::SeqCst) == version {
            ids.insert(name.to_string(), row.id);
        }
        drop(ids);
        Ok(Space::new(self.inner.clone(), row.id, name))
    }

    /// Catches every search index up with the change log and saves the ones
    /// due for saving, now (the background indexer does this periodically).
    /// Counters and derived-index lag, for metrics.
    pub fn stats(&self) -> EngineStats {
        use std::sync::atomic::Ordering::Relaxed;
        let i = &self.inner;
        let mut index_lag = Vec::new();
        if let Ok(reader) = i.backend.reader()
            && let Ok(spaces) = reader.spaces()
        {
            let lag =
                |kind: &'static str, positions: Vec<(SpaceId, u64)>, out: &mut Vec<(String, &'static str, u64)>| {
                    for (id, pos) in positions {
                        let Some(row) = spaces.iter().find(|s| s.id == id) else { continue };
                        if let Ok(head) = reader.change_head(id) {
                            out.push((row.name.to_string(), kind, head.position.saturating_sub(pos)));
                        }
                    }
                };
            lag("search", i.search.positions(), &mut index_lag);
            lag("graph", i.graph.positions(), &mut index_lag);
        }
        EngineStats {
            writes: i.writes.load(Relaxed),
            write_retries: i.write_retries.load(Relaxed),
            collection_cache_hits: i.cache_hits.load(Relaxed),
            collection_cache_misses: i.cache_misses.load(Relaxed),
            index_lag,
            commits: i.backend.commit_stats(),
            search_files: i.search.file_stats(),
        }
    }

    pub fn index_now(&self) -> Result<()> {
        self.inner.index_once()
    }

    /// Purges expired documents and idempotency records now (the background
    /// purger does this periodically). Returns how many documents went.
    pub fn purge_expired(&self) -> Result<usize> {
        self.inner.purge_once()
    }

    /// Stops background work, saves the search indexes, and releases
    /// storage once every clone is gone.
    pub fn close(self) {
        self.inner.stop_workers();
    }
}

impl Inner {
    /// Runs `work` in one transaction, re-run after contention failures
    /// (bounded, with jitter; see `retry.rs`). Every engine write goes
    /// through here.
    pub fn write_with<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn engram_core::backend::WriteTx) -> Result<T> + Send + 'static,
    {
        crate::retry::write_retrying(&*self.backend, &self.write_retries, work)
    }

    /// The compiled collection for reads, cached until its spec changes
    /// through this engine.
    pub fn collection(&self, space: SpaceId, name: &str) -> Result<Arc<Compiled>> {
        // Before the cache, which also holds reserved collections: a caller
        // can never reach those by name.
        CollectionName::check(name)?;
        // On shared storage another server may have changed the spec: the
        // row is read every time (its compiled form stays cached by
        // generation in the catalog).
        if let Some(c) = read(&self.colls).get(&space).and_then(|m| m.get(name)).filter(|_| !self.shared) {
            self.cache_hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(c.clone());
        }
        let cname = CollectionName::new(name)?;
        self.collection_named(space, &cname)?
            .ok_or_else(|| Error::not_found(format!("collection {name:?} does not exist")))
    }

    /// A stored document of a caller's collection (live or expired), for
    /// a `get`. On shared storage the collection cannot be cached, so its
    /// row and the document are one backend read (one round trip); else
    /// the cached collection and the document.
    /// With `stale`, the read may go to a read replica (see
    /// `Backend::stale_read_named_doc`).
    pub fn read_doc(&self, space: SpaceId, name: &str, id: &str, stale: bool) -> Result<Option<StoredDoc>> {
        if !self.shared {
            let coll = self.collection(space, name)?;
            return self.backend.read_doc(coll.row.id, id);
        }
        CollectionName::check(name)?;
        let cname = CollectionName::new(name)?;
        self.cache_misses.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let found = if stale {
            self.backend.stale_read_named_doc(space, &cname, id)?
        } else {
            self.backend.read_named_doc(space, &cname, id)?
        };
        match found {
            Some((_, doc)) => Ok(doc),
            None => Err(Error::not_found(format!("collection {name:?} does not exist"))),
        }
    }

    /// One of the engine's reserved collections of a space, if it exists
    /// yet (they are created by the first write that needs them and live
    /// as long as the space).
    pub fn reserved_collection(&self, space: SpaceId, sys: System) -> Result<Option<Arc<Compiled>>> {
        if let Some(c) = read(&self.colls).get(&space).and_then(|m| m.get(sys.name())).filter(|_| !self.shared) {
            self.cache_hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(Some(c.clone()));
        }
        self.collection_named(space, &sys.collection_name())
    }

    /// Reads and caches a collection by validated name; `None` if missing.
    fn collection_named(&self, space: SpaceId, cname: &CollectionName) -> Result<Option<Arc<Compiled>>> {
        let name = cname.as_str();
        self.cache_misses.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Taken before reading the row: if a spec change is forgotten while
        // we read, the row may be the old one and must not be cached.
        let version = self.colls_version.load(std::sync::atomic::Ordering::SeqCst);
        let Some(row) = self.backend.read_collection(space, cname)? else { return Ok(None) };
        let compiled = self.catalog.get(row)?;
        let mut cache = write(&self.colls);
        if self.colls_version.load(std::sync::atomic::Ordering::SeqCst) != version {
            return Ok(Some(compiled));
        }
        if cache.values().map(HashMap::len).sum::<usize>() >= COLLECTION_CACHE_ENTRIES_MAX {
            cache.clear();
        }
        cache.entry(space).or_default().insert(name.to_owned(), compiled.clone());
        Ok(Some(compiled))
    }

    pub fn forget_collection(&self, space: SpaceId, name: &str) {
        let mut cache = write(&self.colls);
        if let Some(m) = cache.get_mut(&space) {
            m.remove(name);
        }
        self.colls_version.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Inner {
    /// Stops the background threads and saves the search indexes (they
    /// would otherwise be replayed from an older position at next open).
    fn stop_workers(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(b) = lock(&self.backfiller).take() {
            b.stop();
        }
        if let Some(p) = lock(&self.purger).take() {
            p.stop();
        }
        if let Some(i) = lock(&self.indexer).take() {
            i.stop();
        }
        if let Err(e) = self.search.save_all() {
            tracing::warn!(error = %e, "saving the search indexes failed; they will be replayed at next open");
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_workers();
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn system_name() -> SpaceName {
    SpaceName::system()
}
