//! The background indexer: keeps every space's search index close to the
//! change log's head and saves it now and then, so searches rarely wait for
//! a catch-up and a restart replays little.

use crate::engine::Inner;
use crate::search::manager::INDEXER_STEP_ENTRIES;
use crate::search::space_index::searchable;
use engram_core::Result;
use engram_core::backend::SpaceId;
use std::sync::atomic::Ordering;

impl Inner {
    /// One pass: catch up and maybe save every space with search fields.
    pub(crate) fn index_once(&self) -> Result<()> {
        // Nothing written since the last clean pass and nothing left to
        // save: skip the storage reads a pass costs. On shared storage other
        // servers' writes are not counted here, so every pass looks.
        let writes = self.search.writes();
        let idle = writes == self.indexed_writes.load(Ordering::SeqCst) && !self.search.any_unsaved();
        if idle && !self.shared {
            return Ok(());
        }
        // Taken before the listing: a space loaded then and missing from it
        // was deleted since (ids are never reused), by this process or,
        // on shared storage, by another one that cannot tell us.
        let loaded: Vec<SpaceId> =
            self.search.positions().into_iter().chain(self.graph.positions()).map(|p| p.0).collect();
        let spaces = self.backend.reader()?.spaces()?;
        self.forget_deleted(&loaded, &spaces);
        let mut first_error = None;
        for s in spaces {
            // One failing space must not stall the others: note and go on.
            if let Err(e) = self.index_space(s.id) {
                tracing::warn!(space = s.id.0, error = %e, "search index catch-up or save failed");
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => {
                self.indexed_writes.store(writes, Ordering::SeqCst);
                Ok(())
            }
        }
    }

    /// Drops the derived state (and saved index file) of deleted spaces.
    fn forget_deleted(&self, loaded: &[SpaceId], spaces: &[engram_core::backend::SpaceRow]) {
        for id in loaded.iter().filter(|id| !spaces.iter().any(|s| s.id == **id)) {
            self.graph.forget(*id);
            if let Err(e) = self.search.forget(*id) {
                tracing::warn!(space = id.0, error = %e, "removing a deleted space's search index failed");
            }
        }
    }

    fn index_space(&self, space: SpaceId) -> Result<()> {
        if searchable(&*self.backend.reader()?, &self.catalog, space)?.is_empty() {
            return Ok(());
        }
        // In steps, saving when due between them: a backlog of expensive
        // entries (vectors) is never all unsaved at once. The pass ends at
        // the head it started from, so writes that outrun it cannot keep it
        // (and a close waiting for it) going.
        let head = self.backend.reader()?.change_head(space)?.position;
        loop {
            let done = self.search.catch_up_some(&*self.backend, &self.catalog, space, INDEXER_STEP_ENTRIES)?;
            self.search.save_if_due(space)?;
            if !done.more || done.position >= head {
                return Ok(());
            }
        }
    }
}
