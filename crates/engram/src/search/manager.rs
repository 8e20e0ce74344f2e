//! Owner of every space's search index: loads saved indexes lazily, catches
//! them up with the change log before searches, saves them, and runs the
//! background indexer that keeps them close to the log's head.
//!
//! Invariant: a saved file is only trusted when the change-log entry at its
//! position still has the hash it recorded; otherwise (another database, a
//! restored backup, damage) the index is rebuilt from the records.

use crate::catalog::Catalog;
use crate::follow::Freshness;
use crate::search::check::{IndexCheck, check};
use crate::search::persist;
use crate::search::space_index::{CatchUp, SpaceIndex, searchable};
use crate::search::store::IndexStore;
use engram_core::backend::{Backend, SpaceId};
use engram_core::{ErrorKind, Result};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// Entries applied since the last save after which the indexer saves.
const SAVE_AFTER_ENTRIES: u64 = 50_000;
/// Catch-up work since the last save after which the indexer saves, unless
/// the last save took more than half of it: bounds what a restart after a
/// crash replays to about this much work (issue 12: 50,000 entries of
/// 384-dimension vectors took 41 s to replay).
const SAVE_AFTER_WORK: Duration = Duration::from_secs(1);
/// Change-log entries the background indexer applies between save checks,
/// so a long backlog is saved along the way, not only at its end.
pub(crate) const INDEXER_STEP_ENTRIES: u64 = 1_000;

/// One space's slot: `None` until first loaded.
pub(crate) type SpaceSlot = Arc<RwLock<Option<SpaceIndex>>>;

struct Saved {
    at: Instant,
    /// How long writing the file took.
    took: Duration,
}

pub(crate) struct SearchIndexes {
    /// Where index files live; `None` keeps indexes in memory only.
    store: Option<Arc<dyn IndexStore>>,
    spaces: Mutex<HashMap<SpaceId, SpaceSlot>>,
    saved: Mutex<HashMap<SpaceId, Saved>>,
    /// Completed writes of the engine (see `epoch.rs`).
    fresh: Arc<Freshness>,
    /// Age of unsaved entries after which the indexer saves anyway.
    save_after: Duration,
    /// Saved files loaded (then caught up by replaying the log after them).
    loads: AtomicU64,
    /// Saved files discarded (damaged, or not matching the log): each one
    /// costs a rebuild from the records.
    discards: AtomicU64,
}

/// How saved index files fared since the engine opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexFileStats {
    /// Files loaded and replayed from their position.
    pub loaded: u64,
    /// Files found damaged or not matching the log, rebuilt from the records.
    pub discarded: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SearchIndexes {
    pub fn new(store: Option<Arc<dyn IndexStore>>, fresh: Arc<Freshness>, save_after: Duration) -> Self {
        Self {
            store,
            spaces: Mutex::default(),
            saved: Mutex::default(),
            fresh,
            save_after,
            loads: AtomicU64::new(0),
            discards: AtomicU64::new(0),
        }
    }

    pub fn file_stats(&self) -> IndexFileStats {
        IndexFileStats { loaded: self.loads.load(Ordering::Relaxed), discarded: self.discards.load(Ordering::Relaxed) }
    }

    fn slot(&self, space: SpaceId) -> SpaceSlot {
        lock(&self.spaces).entry(space).or_default().clone()
    }

    /// The space's index, caught up with every write that returned before
    /// this call, by this process or (on shared storage) any other. Without
    /// writes since the last catch-up, no storage is read (on shared
    /// storage, only the log's head).
    pub fn current(&self, backend: &dyn Backend, catalog: &Catalog, space: SpaceId) -> Result<SpaceSlot> {
        let slot = self.slot(space);
        let seen = if slot.is_poisoned() { None } else { read(&slot).as_ref().map(|ix| (ix.seen_writes, ix.position)) };
        if let Some((seen, position)) = seen
            && self.fresh.is_current(backend, space, seen, position)?
        {
            return Ok(slot);
        }
        self.catch_up(backend, catalog, space)?;
        Ok(slot)
    }

    /// The change-log position of each loaded space index (without waiting
    /// for one being caught up or saved).
    pub fn positions(&self) -> Vec<(SpaceId, u64)> {
        let slots: Vec<(SpaceId, SpaceSlot)> = lock(&self.spaces).iter().map(|(k, v)| (*k, v.clone())).collect();
        slots.into_iter().filter_map(|(id, slot)| Some((id, slot.try_read().ok()?.as_ref()?.position))).collect()
    }

    /// Loads (if needed) and catches up one space's index.
    pub fn catch_up(&self, backend: &dyn Backend, catalog: &Catalog, space: SpaceId) -> Result<CatchUp> {
        self.catch_up_some(backend, catalog, space, u64::MAX)
    }

    /// Loads (if needed) and applies at most `limit` change-log entries.
    pub fn catch_up_some(
        &self,
        backend: &dyn Backend,
        catalog: &Catalog,
        space: SpaceId,
        limit: u64,
    ) -> Result<CatchUp> {
        let slot = self.slot(space);
        let mut guard = write(&slot);
        // Read the count before opening the reader: every write counted so
        // far is in the reader's snapshot.
        let writes = self.fresh.token();
        let reader = backend.reader()?;
        if guard.is_none() {
            *guard = Some(self.load(&*reader, catalog, space)?);
        }
        let index = guard.as_mut().expect("loaded above");
        let started = Instant::now();
        let done = index.catch_up_some(&*reader, catalog, limit)?;
        if done.entries > 0 || done.rebuilt > 0 {
            index.unsaved_work += started.elapsed();
        }
        if !done.more {
            index.seen_writes = writes;
        }
        Ok(done)
    }

    /// Catches up and compares with the records under one reader, so
    /// concurrent writes are not mistaken for divergence.
    pub fn check(&self, backend: &dyn Backend, catalog: &Catalog, space: SpaceId, now_ms: u64) -> Result<IndexCheck> {
        let slot = self.slot(space);
        let mut guard = write(&slot);
        let reader = backend.reader()?;
        if guard.is_none() {
            *guard = Some(self.load(&*reader, catalog, space)?);
        }
        let index = guard.as_mut().expect("loaded above");
        index.catch_up(&*reader, catalog)?;
        let colls = searchable(&*reader, catalog, space)?;
        check(index, &*reader, &colls, now_ms)
    }

    /// A saved index that still matches the log, or an empty one.
    fn load(&self, reader: &dyn engram_core::backend::Reader, catalog: &Catalog, space: SpaceId) -> Result<SpaceIndex> {
        let Some(store) = &self.store else { return Ok(SpaceIndex::empty(space)) };
        let colls = searchable(reader, catalog, space)?;
        let loaded = match persist::load(&**store, space, &colls) {
            Ok(x) => x,
            Err(e) if e.kind() == ErrorKind::Corrupted => {
                tracing::warn!(space = space.0, error = %e, "search index file is damaged; rebuilding from the records");
                self.discards.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(e) => return Err(e),
        };
        let Some(mut index) = loaded else { return Ok(SpaceIndex::empty(space)) };
        let matches_log = index.position == 0
            || reader
                .changes(space, index.position - 1, 1)?
                .first()
                .is_some_and(|e| e.position == index.position && e.hash == index.head_hash);
        if !matches_log {
            tracing::warn!(space = space.0, "search index file does not match the change log; rebuilding");
            self.discards.fetch_add(1, Ordering::Relaxed);
            return Ok(SpaceIndex::empty(space));
        }
        self.loads.fetch_add(1, Ordering::Relaxed);
        tracing::info!(space = space.0, position = index.position, "search index loaded; replaying the log after it");
        index.reconcile_next = true;
        index.saved_once = true;
        lock(&self.saved).insert(space, Saved { at: Instant::now(), took: Duration::ZERO });
        Ok(index)
    }

    /// Saves one space's index now (no-op in memory or when nothing changed).
    pub fn save(&self, space: SpaceId) -> Result<()> {
        let Some(store) = &self.store else { return Ok(()) };
        let slot = self.slot(space);
        let mut guard = write(&slot);
        let Some(index) = guard.as_mut() else { return Ok(()) };
        if index.unsaved == 0 && index.saved_once {
            return Ok(());
        }
        let started = Instant::now();
        persist::save(&**store, index)?;
        index.saved_once = true;
        index.unsaved = 0;
        index.unsaved_work = Duration::ZERO;
        lock(&self.saved).insert(space, Saved { at: Instant::now(), took: started.elapsed() });
        Ok(())
    }

    /// Saves when enough is unsaved (entries, or catch-up work a crash
    /// would make a restart replay) or it has waited long enough.
    pub fn save_if_due(&self, space: SpaceId) -> Result<()> {
        let (unsaved, work) = {
            let slot = self.slot(space);
            let guard = slot.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            guard.as_ref().map_or((0, Duration::ZERO), |ix| (ix.unsaved, ix.unsaved_work))
        };
        let (last, took) = lock(&self.saved).get(&space).map_or((None, Duration::ZERO), |s| (Some(s.at), s.took));
        let old = last.is_none_or(|t| t.elapsed() >= self.save_after);
        let worked = work >= SAVE_AFTER_WORK.max(took * 2);
        if unsaved >= SAVE_AFTER_ENTRIES || (unsaved > 0 && (old || worked)) {
            self.save(space)?;
        }
        Ok(())
    }

    /// Drops a space's index in memory and on disk, then builds it again
    /// from the records.
    /// Returns what was done and the change-log position now covered.
    pub fn rebuild(&self, backend: &dyn Backend, catalog: &Catalog, space: SpaceId) -> Result<(CatchUp, u64)> {
        let slot = self.slot(space);
        let mut guard = write(&slot);
        if let Some(store) = &self.store {
            persist::remove(&**store, space)?;
        }
        let writes = self.fresh.token();
        let reader = backend.reader()?;
        let mut index = SpaceIndex::empty(space);
        let done = index.rebuild(&*reader, catalog)?;
        index.seen_writes = writes;
        let position = index.position;
        *guard = Some(index);
        drop(guard);
        self.save(space)?;
        Ok((done, position))
    }

    /// Forgets a deleted space's index and file, under the space's lock so
    /// no save in flight puts the file back.
    pub fn forget(&self, space: SpaceId) -> Result<()> {
        let slot = self.slot(space);
        let mut guard = write(&slot);
        *guard = None;
        lock(&self.saved).remove(&space);
        let res = match &self.store {
            Some(store) => persist::remove(&**store, space),
            None => Ok(()),
        };
        drop(guard);
        lock(&self.spaces).remove(&space);
        res
    }

    /// The engine's completed writes so far.
    pub fn writes(&self) -> u64 {
        self.fresh.token()
    }

    /// Whether any loaded space has caught-up progress not yet saved.
    pub fn any_unsaved(&self) -> bool {
        let slots: Vec<SpaceSlot> = lock(&self.spaces).values().cloned().collect();
        slots.iter().any(|slot| read(slot).as_ref().is_some_and(|ix| ix.unsaved > 0))
    }

    /// Saves every loaded space with unsaved changes (at shutdown); tries
    /// every space and returns the first error.
    pub fn save_all(&self) -> Result<()> {
        let ids: Vec<SpaceId> = lock(&self.spaces).keys().copied().collect();
        let mut first_error = None;
        for id in ids {
            if let Err(e) = self.save(id) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Read access to a caught-up space index.
pub(crate) fn read(slot: &SpaceSlot) -> RwLockReadGuard<'_, Option<SpaceIndex>> {
    slot.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Write access to a space index. A panic while the index was being
/// changed may have left it half-updated, so a poisoned index is dropped
/// (it reloads from its file and replays the log, or rebuilds).
fn write(slot: &SpaceSlot) -> RwLockWriteGuard<'_, Option<SpaceIndex>> {
    match slot.write() {
        Ok(guard) => guard,
        Err(poisoned) => {
            let mut guard = poisoned.into_inner();
            *guard = None;
            slot.clear_poison();
            guard
        }
    }
}
