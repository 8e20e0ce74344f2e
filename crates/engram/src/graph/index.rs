//! The in-memory adjacency of a space's graph, derived from `_edges` and
//! kept current by following the change log.
//!
//! Invariant: after `catch_up` with a reader, the adjacency holds exactly
//! the edges stored in that reader's snapshot, and `position` is the
//! snapshot's change-log head. It may lag the log between catch-ups, never
//! contradict it; traversals catch up first, so they see every write that
//! returned before they started.

use crate::follow::Freshness;
use crate::graph::write::EdgeBody;
use crate::system::System;
use engram_core::backend::{Backend, Reader, SpaceId, StoredDoc};
use engram_core::changelog::ChangeOp;
use engram_core::{Error, Result};
use std::cell::OnceCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

/// Change-log entries read per step while catching up.
const CATCH_UP_CHUNK_ENTRIES: usize = 10_000;
/// Edge documents read per step while building.
const BUILD_CHUNK_ROWS: usize = 10_000;
/// A backlog longer than this is cheaper to rebuild than to replay.
const REBUILD_AFTER_ENTRIES: u64 = 200_000;

/// One adjacency entry: the node at the other end, by edge type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Adj {
    pub node: u32,
    pub ty: u32,
    pub weight: f64,
}

#[derive(Debug, Clone, Copy)]
struct EdgeLoc {
    from: u32,
    to: u32,
    ty: u32,
}

/// One space's graph.
#[derive(Default)]
pub(crate) struct GraphIndex {
    /// Change-log position covered.
    pub position: u64,
    /// Engine write count seen at the last catch-up (see `epoch.rs`).
    pub seen_writes: u64,
    built: bool,
    node_ids: HashMap<String, u32>,
    node_keys: Vec<String>,
    type_ids: HashMap<String, u32>,
    type_names: Vec<String>,
    pub out: Vec<Vec<Adj>>,
    pub inn: Vec<Vec<Adj>>,
    edges: HashMap<String, EdgeLoc>,
}

impl GraphIndex {
    /// The node number of a `collection/id` key, if it has ever had edges.
    pub fn node(&self, key: &str) -> Option<u32> {
        self.node_ids.get(key).copied()
    }

    pub fn node_key(&self, n: u32) -> &str {
        &self.node_keys[n as usize]
    }

    pub fn type_id(&self, name: &str) -> Option<u32> {
        self.type_ids.get(name).copied()
    }

    pub fn type_name(&self, ty: u32) -> &str {
        &self.type_names[ty as usize]
    }

    fn intern_node(&mut self, key: String) -> u32 {
        if let Some(&n) = self.node_ids.get(&key) {
            return n;
        }
        let n = u32::try_from(self.node_keys.len()).expect("fewer than 2^32 nodes");
        self.node_ids.insert(key.clone(), n);
        self.node_keys.push(key);
        self.out.push(Vec::new());
        self.inn.push(Vec::new());
        n
    }

    fn intern_type(&mut self, name: &str) -> u32 {
        if let Some(&t) = self.type_ids.get(name) {
            return t;
        }
        let t = u32::try_from(self.type_names.len()).expect("fewer than 2^32 edge types");
        self.type_ids.insert(name.to_owned(), t);
        self.type_names.push(name.to_owned());
        t
    }

    fn remove(&mut self, id: &str) {
        let Some(loc) = self.edges.remove(id) else { return };
        let out = &mut self.out[loc.from as usize];
        if let Some(i) = out.iter().position(|a| a.node == loc.to && a.ty == loc.ty) {
            out.swap_remove(i);
        }
        let inn = &mut self.inn[loc.to as usize];
        if let Some(i) = inn.iter().position(|a| a.node == loc.from && a.ty == loc.ty) {
            inn.swap_remove(i);
        }
    }

    fn upsert(&mut self, doc: &StoredDoc) -> Result<()> {
        self.remove(&doc.id);
        let body = EdgeBody::parse(doc)?;
        let from = self.intern_node(body.from.key());
        let to = self.intern_node(body.to.key());
        let ty = self.intern_type(&body.edge_type);
        self.out[from as usize].push(Adj { node: to, ty, weight: body.weight });
        self.inn[to as usize].push(Adj { node: from, ty, weight: body.weight });
        self.edges.insert(doc.id.clone(), EdgeLoc { from, to, ty });
        Ok(())
    }

    /// Brings the graph to the reader's snapshot.
    pub fn catch_up(&mut self, reader: &dyn Reader, space: SpaceId) -> Result<()> {
        let head = reader.change_head(space)?;
        let behind = head.position < self.position;
        if !self.built || behind || head.position - self.position > REBUILD_AFTER_ENTRIES {
            return self.build(reader, space, head.position);
        }
        let edges = reader.collection(space, &System::Edges.collection_name())?;
        let mut after = self.position;
        while after < head.position {
            let entries = reader.changes(space, after, CATCH_UP_CHUNK_ENTRIES)?;
            let Some(last) = entries.last() else { break };
            after = last.position;
            for e in entries.iter().filter(|e| e.collection == System::Edges.name()) {
                match (e.op, &edges) {
                    (ChangeOp::Put | ChangeOp::Patch, Some(coll)) => match reader.doc(coll.id, &e.doc_id)? {
                        Some(doc) => self.upsert(&doc)?,
                        None => self.remove(&e.doc_id),
                    },
                    (ChangeOp::Put | ChangeOp::Patch, None) | (ChangeOp::Delete | ChangeOp::Expire, _) => {
                        self.remove(&e.doc_id)
                    }
                    // The collection was dropped or recreated: start over.
                    _ => return self.build(reader, space, head.position),
                }
            }
        }
        if after != head.position {
            return Err(Error::corrupted(format!("change log of space {} ends at {after} before its head", space.0)));
        }
        self.position = head.position;
        Ok(())
    }

    /// Builds from the stored edges of the reader's snapshot.
    fn build(&mut self, reader: &dyn Reader, space: SpaceId, head: u64) -> Result<()> {
        *self = Self { built: true, position: head, seen_writes: self.seen_writes, ..Self::default() };
        let Some(coll) = reader.collection(space, &System::Edges.collection_name())? else { return Ok(()) };
        let mut after: Option<String> = None;
        loop {
            let docs = reader.scan_docs(coll.id, after.as_deref(), false, BUILD_CHUNK_ROWS)?;
            for d in &docs {
                self.upsert(d)?;
            }
            match docs.last() {
                Some(last) if docs.len() == BUILD_CHUNK_ROWS => after = Some(last.id.clone()),
                _ => return Ok(()),
            }
        }
    }
}

type Slot = Arc<RwLock<GraphIndex>>;

/// Every space's graph, loaded on first use.
pub(crate) struct GraphIndexes {
    spaces: Mutex<HashMap<SpaceId, Slot>>,
    /// Completed writes of the engine (see `epoch.rs`).
    fresh: Arc<Freshness>,
}

impl GraphIndexes {
    pub fn new(fresh: Arc<Freshness>) -> Self {
        Self { spaces: Mutex::default(), fresh }
    }

    fn slot(&self, space: SpaceId) -> Slot {
        self.spaces.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(space).or_default().clone()
    }

    /// Runs `f` on the space's graph, caught up with every write that
    /// returned before this call; `f` may also read documents through a
    /// reader of a snapshot at least as new as the graph (opened only if
    /// `f` asks for it: most traversals read no document).
    pub fn with<T>(
        &self,
        backend: &dyn Backend,
        space: SpaceId,
        f: impl FnOnce(&GraphIndex, &LazyReader<'_>) -> Result<T>,
    ) -> Result<T> {
        let slot = self.slot(space);
        {
            let guard = read(&slot);
            if guard.built && self.fresh.is_current(backend, space, guard.seen_writes, guard.position)? {
                return f(&guard, &LazyReader { backend, reader: OnceCell::new() });
            }
        }
        let mut guard = slot.write().unwrap_or_else(|p| {
            slot.clear_poison();
            let mut g = p.into_inner();
            *g = GraphIndex::default();
            g
        });
        // Count first, reader second: every counted write is in the snapshot.
        let writes = self.fresh.token();
        let reader = backend.reader()?;
        if let Err(e) = guard.catch_up(&*reader, space) {
            *guard = GraphIndex::default();
            return Err(e);
        }
        guard.seen_writes = writes;
        f(&guard, &LazyReader { backend, reader: OnceCell::from(reader) })
    }

    /// The change-log position of each built graph (without waiting for one
    /// being caught up).
    pub fn positions(&self) -> Vec<(SpaceId, u64)> {
        let slots: Vec<(SpaceId, Slot)> = self
            .spaces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        slots
            .into_iter()
            .filter_map(|(id, slot)| slot.try_read().ok().filter(|g| g.built).map(|g| (id, g.position)))
            .collect()
    }

    /// Drops a deleted space's graph.
    pub fn forget(&self, space: SpaceId) {
        self.spaces.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&space);
    }
}

/// A reader opened on first use.
pub(crate) struct LazyReader<'a> {
    backend: &'a dyn Backend,
    reader: OnceCell<Box<dyn Reader + 'a>>,
}

impl LazyReader<'_> {
    pub fn get(&self) -> Result<&dyn Reader> {
        if self.reader.get().is_none() {
            let _ = self.reader.set(self.backend.reader()?);
        }
        Ok(&**self.reader.get().expect("set above"))
    }
}

fn read(slot: &Slot) -> RwLockReadGuard<'_, GraphIndex> {
    slot.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}
