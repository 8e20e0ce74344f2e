//! A backend wrapper that counts completed writes, so derived indexes can
//! tell without a storage read whether anything was written since they last
//! caught up.
//!
//! Invariant: the count is raised after a write's commit returns and before
//! the caller sees the result. So if an index caught up with a reader opened
//! after it saw count `c`, it includes every write that returned before
//! the count reached `c`.

use engram_core::Result;
use engram_core::backend::{Backend, Capabilities, CollectionId, Reader, SpaceId, StoredDoc, WriteOutput, WriteWork};
use engram_core::backend::{CollectionRow, SpaceRow};
use engram_core::changelog::ChangeHead;
use engram_core::names::{CollectionName, SpaceName};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) struct CountingBackend {
    inner: Arc<dyn Backend>,
    writes: Arc<AtomicU64>,
}

impl CountingBackend {
    pub fn new(inner: Arc<dyn Backend>, writes: Arc<AtomicU64>) -> Self {
        Self { inner, writes }
    }
}

impl Backend for CountingBackend {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn commit_stats(&self) -> Option<engram_core::backend::CommitStats> {
        self.inner.commit_stats()
    }
    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        self.inner.reader()
    }
    fn read_doc(&self, coll: CollectionId, id: &str) -> Result<Option<StoredDoc>> {
        self.inner.read_doc(coll, id)
    }
    fn change_head(&self, space: SpaceId) -> Result<ChangeHead> {
        self.inner.change_head(space)
    }
    fn read_space(&self, name: &SpaceName) -> Result<Option<SpaceRow>> {
        self.inner.read_space(name)
    }
    fn read_collection(&self, space: SpaceId, name: &CollectionName) -> Result<Option<CollectionRow>> {
        self.inner.read_collection(space, name)
    }
    fn read_named_doc(
        &self,
        space: SpaceId,
        coll: &CollectionName,
        id: &str,
    ) -> Result<Option<(CollectionId, Option<StoredDoc>)>> {
        self.inner.read_named_doc(space, coll, id)
    }
    fn try_lease(&self, name: &str) -> Result<bool> {
        self.inner.try_lease(name)
    }
    fn stale_reader(&self) -> Result<Box<dyn Reader + '_>> {
        self.inner.stale_reader()
    }
    fn stale_read_named_doc(
        &self,
        space: SpaceId,
        coll: &CollectionName,
        id: &str,
    ) -> Result<Option<(CollectionId, Option<StoredDoc>)>> {
        self.inner.stale_read_named_doc(space, coll, id)
    }
    fn announce(&self, space: SpaceId) {
        self.inner.announce(space);
    }
    fn watch_changes(&self, changed: engram_core::backend::ChangeCallback) -> Result<bool> {
        self.inner.watch_changes(changed)
    }
    fn write(&self, work: WriteWork) -> Result<WriteOutput> {
        let out = self.inner.write(work);
        self.writes.fetch_add(1, Ordering::SeqCst);
        out
    }
}
