//! The search index of one space: a [`CollIndex`] per collection that
//! declares search fields, and the change-log position they all cover.
//!
//! Invariant: after `catch_up` returns, every collection index reflects the
//! records as of the space's change-log entry at `position` or later (a
//! document may already show a newer state, which replaying the entries
//! after `position` re-applies idempotently). The index never holds a
//! document the records at `position` do not, once caught up to a head.

use crate::catalog::{Catalog, Compiled};
use crate::search::coll_index::{CollIndex, fingerprint};
use engram_core::backend::{CollectionId, Reader, SpaceId};
use engram_core::changelog::{ChangeOp, Digest};
use engram_core::{Error, Result};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Change-log entries read per step while catching up.
const CATCH_UP_CHUNK_ENTRIES: usize = 10_000;
/// Documents read per step while rebuilding a collection.
const REBUILD_CHUNK_ROWS: usize = 1_000;

/// A space's search index.
pub(crate) struct SpaceIndex {
    pub space: SpaceId,
    /// Change-log position covered.
    pub position: u64,
    /// Hash of the entry at `position` (zeros at 0): ties a saved index to
    /// the log it was built from.
    pub head_hash: Digest,
    pub colls: HashMap<CollectionId, CollIndex>,
    /// Entries applied since the index was last saved.
    pub unsaved: u64,
    /// Time spent catching up since the index was last saved: about what a
    /// restart after a crash would spend replaying.
    pub unsaved_work: Duration,
    /// Compare every collection with its spec at the next catch-up (after
    /// loading from a file).
    pub reconcile_next: bool,
    /// The engine's write count when the last catch-up's reader was opened.
    pub seen_writes: u64,
    /// Saved (or loaded from a file) at least once by this process.
    pub saved_once: bool,
}

/// What a stretch of the change log touched.
#[derive(Default)]
struct Touched {
    /// Document ids per collection name.
    docs: HashMap<String, BTreeSet<String>>,
    /// A space- or collection-level entry (specs may have changed).
    ddl: bool,
    entries: u64,
    /// The last entry read (position, hash), when it is before the head.
    stopped_at: Option<(u64, Digest)>,
}

/// What one catch-up did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CatchUp {
    pub entries: u64,
    pub documents: u64,
    pub rebuilt: u64,
    /// Stopped at the entry limit, before the log's head.
    pub more: bool,
    /// The position reached.
    pub position: u64,
}

impl SpaceIndex {
    pub fn empty(space: SpaceId) -> Self {
        Self {
            space,
            position: 0,
            head_hash: [0; 32],
            colls: HashMap::new(),
            unsaved: 0,
            unsaved_work: Duration::ZERO,
            reconcile_next: false,
            seen_writes: 0,
            saved_once: false,
        }
    }

    /// Applies every change-log entry after `position` up to the reader's
    /// head, reading document states from the same reader.
    pub fn catch_up(&mut self, reader: &dyn Reader, catalog: &Catalog) -> Result<CatchUp> {
        self.catch_up_some(reader, catalog, u64::MAX)
    }

    /// Like `catch_up`, but applies at most `limit` entries (a first build
    /// from the records is never split): `more` says the head is not
    /// reached. Documents are applied in their state at the reader's head,
    /// newer than `position`; the invariant allows it.
    pub fn catch_up_some(&mut self, reader: &dyn Reader, catalog: &Catalog, limit: u64) -> Result<CatchUp> {
        fail::fail_point!("engram.index.catch_up", |_| Err(Error::internal(
            "injected failure catching up a search index"
        )));
        let head = reader.change_head(self.space)?;
        let mut done = CatchUp::default();
        if head.position < self.position {
            // The log is behind the index (a restored backup): start over.
            *self = Self::empty(self.space);
        }
        if head.position == self.position && !self.reconcile_next {
            return Ok(done);
        }
        // Nothing indexed yet: every collection is built from the records of
        // this snapshot, so the log itself need not be read.
        let rebuild_all = self.position == 0;
        let touched = if rebuild_all {
            Touched { entries: head.position, ..Touched::default() }
        } else {
            self.touched_since(reader, head.position, limit)?
        };
        done.entries = touched.entries;
        let ddl = rebuild_all || self.reconcile_next || touched.ddl;
        let colls = searchable(reader, catalog, self.space)?;
        let rebuilt = if ddl { self.reconcile(reader, &colls)? } else { Vec::new() };
        self.reconcile_next = false; // only once reconciling succeeded
        done.rebuilt = rebuilt.len() as u64;
        for (name, ids) in touched.docs {
            let Some(c) = colls.iter().find(|c| c.row.name.as_str() == name) else { continue };
            if rebuilt.contains(&c.row.id) {
                continue;
            }
            let (Some(index), Some(search)) = (self.colls.get_mut(&c.row.id), c.search.as_ref()) else { continue };
            for id in ids {
                let doc = reader.doc(c.row.id, &id)?;
                index.apply(c, search, &id, doc.as_ref())?;
                done.documents += 1;
            }
        }
        (self.position, self.head_hash) = touched.stopped_at.unwrap_or((head.position, head.hash));
        done.more = touched.stopped_at.is_some();
        done.position = self.position;
        self.unsaved += done.entries;
        Ok(done)
    }

    /// The documents and collections changed by the entries after
    /// `position` up to `head`, or up to the `limit`-th entry.
    fn touched_since(&self, reader: &dyn Reader, head: u64, limit: u64) -> Result<Touched> {
        let mut touched = Touched::default();
        let mut after = self.position;
        while after < head {
            if touched.entries >= limit {
                return Ok(touched);
            }
            let want = usize::try_from(limit - touched.entries).unwrap_or(usize::MAX).min(CATCH_UP_CHUNK_ENTRIES);
            let entries = reader.changes(self.space, after, want)?;
            let Some(last) = entries.last() else { break };
            after = last.position;
            touched.stopped_at = (after < head).then_some((after, last.hash));
            touched.entries += entries.len() as u64;
            for e in entries {
                match e.op {
                    ChangeOp::Put | ChangeOp::Patch | ChangeOp::Delete | ChangeOp::Expire => {
                        touched.docs.entry(e.collection).or_default().insert(e.doc_id);
                    }
                    _ => touched.ddl = true,
                }
            }
        }
        if after != head {
            return Err(Error::corrupted(format!(
                "change log of space {} ends at {after} but its head is {head}",
                self.space.0
            )));
        }
        Ok(touched)
    }

    /// Matches the collection indexes to the collections: new or changed
    /// ones are rebuilt, vanished ones dropped. Returns the rebuilt ones.
    fn reconcile(&mut self, reader: &dyn Reader, colls: &[Arc<Compiled>]) -> Result<Vec<CollectionId>> {
        self.colls.retain(|id, _| colls.iter().any(|c| c.row.id == *id));
        let mut rebuilt = Vec::new();
        for c in colls {
            if self.colls.get(&c.row.id).is_some_and(|ix| ix.fingerprint == fingerprint(c)) {
                continue;
            }
            self.colls.insert(c.row.id, build(reader, c)?);
            rebuilt.push(c.row.id);
        }
        Ok(rebuilt)
    }

    /// Drops everything and builds again from the records.
    pub fn rebuild(&mut self, reader: &dyn Reader, catalog: &Catalog) -> Result<CatchUp> {
        *self = Self::empty(self.space);
        self.catch_up(reader, catalog)
    }
}

/// The space's collections that declare search fields, compiled.
pub(crate) fn searchable(reader: &dyn Reader, catalog: &Catalog, space: SpaceId) -> Result<Vec<Arc<Compiled>>> {
    let mut out = Vec::new();
    for row in reader.collections(space)? {
        let c = catalog.get(row)?;
        if c.search.is_some() {
            out.push(c);
        }
    }
    Ok(out)
}

/// A collection's index built from its stored documents.
pub(crate) fn build(reader: &dyn Reader, coll: &Compiled) -> Result<CollIndex> {
    let search = coll.search.as_ref().ok_or_else(|| Error::internal("building a search index without fields"))?;
    let mut index = CollIndex::new(coll, search)?;
    let mut after: Option<String> = None;
    loop {
        let docs = reader.scan_docs(coll.row.id, after.as_deref(), false, REBUILD_CHUNK_ROWS)?;
        for d in &docs {
            index.apply(coll, search, &d.id, Some(d))?;
        }
        match docs.last() {
            Some(last) if docs.len() == REBUILD_CHUNK_ROWS => after = Some(last.id.clone()),
            _ => return Ok(index),
        }
    }
}
