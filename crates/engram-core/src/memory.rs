//! The in-memory reference backend: obviously-correct maps, no durability.
//!
//! It is the model the conformance suite holds real backends to. A write runs
//! on a copy of the whole state and replaces it only on success, which makes
//! atomicity evident at the price of speed (fine for a reference).

use crate::backend::*;
use crate::changelog::{ChangeEntry, ChangeHead};
use crate::names::{CollectionName, SpaceName};
use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Mutex, RwLock, RwLockReadGuard};

type IndexKey = (i64, u32, Vec<u8>, String);

#[derive(Clone, Default)]
struct State {
    next_id: i64,
    spaces: BTreeMap<i64, SpaceRow>,
    collections: BTreeMap<i64, CollectionRow>,
    docs: BTreeMap<(i64, String), StoredDoc>,
    index: BTreeSet<IndexKey>,
    changes: BTreeMap<(i64, u64), ChangeEntry>,
    idem: BTreeMap<(i64, String), IdempotencyRecord>,
}

/// The in-memory backend.
#[derive(Default)]
pub struct MemoryBackend {
    state: RwLock<State>,
    /// Serializes writers so each copy-on-write sees the previous one.
    writer: Mutex<()>,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Backend for MemoryBackend {
    fn capabilities(&self) -> Capabilities {
        Capabilities { name: "memory", durable: false, group_commit: false, shared: false }
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        let guard = self.state.read().map_err(|_| Error::internal("memory backend lock poisoned"))?;
        Ok(Box::new(ReadGuard(guard)))
    }

    fn write(&self, mut work: WriteWork) -> Result<WriteOutput> {
        let _serial = self.writer.lock().map_err(|_| Error::internal("memory backend lock poisoned"))?;
        let mut copy = self.state.read().map_err(|_| Error::internal("memory backend lock poisoned"))?.clone();
        let out = work(&mut copy)?;
        *self.state.write().map_err(|_| Error::internal("memory backend lock poisoned"))? = copy;
        Ok(out)
    }
}

struct ReadGuard<'a>(RwLockReadGuard<'a, State>);

/// Implements [`Reader`] for a type by forwarding every method to an
/// expression that yields a `Reader` (used by backends' read guards).
#[macro_export]
macro_rules! delegate_reader {
    ($t:ty, $s:ident => $e:expr) => {
        impl $crate::backend::Reader for $t {
            fn spaces(&$s) -> $crate::Result<Vec<$crate::backend::SpaceRow>> { $e.spaces() }
            fn space(&$s, n: &$crate::names::SpaceName) -> $crate::Result<Option<$crate::backend::SpaceRow>> { $e.space(n) }
            fn collections(&$s, s: $crate::backend::SpaceId) -> $crate::Result<Vec<$crate::backend::CollectionRow>> { $e.collections(s) }
            fn collection(&$s, s: $crate::backend::SpaceId, n: &$crate::names::CollectionName) -> $crate::Result<Option<$crate::backend::CollectionRow>> { $e.collection(s, n) }
            fn collection_by_id(&$s, id: $crate::backend::CollectionId) -> $crate::Result<Option<$crate::backend::CollectionRow>> { $e.collection_by_id(id) }
            fn doc(&$s, c: $crate::backend::CollectionId, id: &str) -> $crate::Result<Option<$crate::backend::StoredDoc>> { $e.doc(c, id) }
            fn scan_docs(&$s, c: $crate::backend::CollectionId, a: Option<&str>, r: bool, l: usize) -> $crate::Result<Vec<$crate::backend::StoredDoc>> { $e.scan_docs(c, a, r, l) }
            fn scan_index(&$s, s: &$crate::backend::IndexScan<'_>) -> $crate::Result<Vec<(Vec<u8>, $crate::backend::StoredDoc)>> { $e.scan_index(s) }
            fn changes(&$s, s: $crate::backend::SpaceId, a: u64, l: usize) -> $crate::Result<Vec<$crate::changelog::ChangeEntry>> { $e.changes(s, a, l) }
            fn change_head(&$s, s: $crate::backend::SpaceId) -> $crate::Result<$crate::changelog::ChangeHead> { $e.change_head(s) }
            fn max_hlc(&$s) -> $crate::Result<u64> { $e.max_hlc() }
            fn expired(&$s, n: u64, l: usize) -> $crate::Result<Vec<($crate::backend::CollectionId, String)>> { $e.expired(n, l) }
            fn idempotency(&$s, s: $crate::backend::SpaceId, k: &str) -> $crate::Result<Option<$crate::backend::IdempotencyRecord>> { $e.idempotency(s, k) }
            fn idempotency_records(&$s, s: $crate::backend::SpaceId, a: Option<&str>, l: usize) -> $crate::Result<Vec<(String, $crate::backend::IdempotencyRecord)>> { $e.idempotency_records(s, a, l) }
            fn stale_indexes(&$s) -> $crate::Result<Vec<$crate::backend::CollectionId>> { $e.stale_indexes() }
        }
    };
}
delegate_reader!(ReadGuard<'_>, self => self.0);

fn take<T>(it: impl Iterator<Item = T>, reverse: bool, limit: usize) -> Vec<T>
where
    T: Clone,
{
    if reverse {
        let all: Vec<T> = it.collect();
        all.into_iter().rev().take(limit).collect()
    } else {
        it.take(limit).collect()
    }
}

impl Reader for State {
    fn spaces(&self) -> Result<Vec<SpaceRow>> {
        let mut v: Vec<SpaceRow> = self.spaces.values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }
    fn space(&self, name: &SpaceName) -> Result<Option<SpaceRow>> {
        Ok(self.spaces.values().find(|s| &s.name == name).cloned())
    }
    fn collections(&self, space: SpaceId) -> Result<Vec<CollectionRow>> {
        let mut v: Vec<CollectionRow> = self.collections.values().filter(|c| c.space == space).cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }
    fn collection(&self, space: SpaceId, name: &CollectionName) -> Result<Option<CollectionRow>> {
        Ok(self.collections.values().find(|c| c.space == space && &c.name == name).cloned())
    }
    fn collection_by_id(&self, id: CollectionId) -> Result<Option<CollectionRow>> {
        Ok(self.collections.get(&id.0).cloned())
    }
    fn doc(&self, coll: CollectionId, id: &str) -> Result<Option<StoredDoc>> {
        Ok(self.docs.get(&(coll.0, id.to_owned())).cloned())
    }
    fn scan_docs(
        &self,
        coll: CollectionId,
        after: Option<&str>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<StoredDoc>> {
        let range = self.docs.range((coll.0, String::new())..(coll.0 + 1, String::new()));
        let it = range
            .filter(|((_, id), _)| after.is_none_or(|a| if reverse { id.as_str() < a } else { id.as_str() > a }))
            .map(|(_, d)| d.clone());
        Ok(take(it, reverse, limit))
    }
    fn scan_index(&self, s: &IndexScan<'_>) -> Result<Vec<(Vec<u8>, StoredDoc)>> {
        let lo = (s.collection.0, s.index, Vec::new(), String::new());
        let hi = (s.collection.0, s.index + 1, Vec::new(), String::new());
        let it = self
            .index
            .range(lo..hi)
            .filter(|(_, _, key, _)| s.range.contains(key))
            .filter(|(_, _, key, id)| match s.after {
                None => true,
                Some((ak, aid)) if s.reverse => (key.as_slice(), id.as_str()) < (ak, aid),
                Some((ak, aid)) => (key.as_slice(), id.as_str()) > (ak, aid),
            })
            .map(|(c, _, key, id)| {
                let doc = self.docs.get(&(*c, id.clone())).cloned().expect("index entries point at stored documents");
                (key.clone(), doc)
            });
        Ok(take(it, s.reverse, s.limit))
    }
    fn changes(&self, space: SpaceId, after: u64, limit: usize) -> Result<Vec<ChangeEntry>> {
        let range = self.changes.range((Bound::Excluded((space.0, after)), Bound::Included((space.0, u64::MAX))));
        Ok(range.take(limit).map(|(_, e)| e.clone()).collect())
    }
    fn change_head(&self, space: SpaceId) -> Result<ChangeHead> {
        let last = self.changes.range((space.0, 0)..=(space.0, u64::MAX)).next_back();
        Ok(last.map_or(ChangeHead::default(), |(_, e)| ChangeHead::of(e)))
    }
    fn max_hlc(&self) -> Result<u64> {
        Ok(self.changes.values().map(|e| e.hlc).max().unwrap_or(0))
    }
    fn expired(&self, now_ms: u64, limit: usize) -> Result<Vec<(CollectionId, String)>> {
        let it = self.docs.iter().filter(|(_, d)| !d.is_live(now_ms));
        Ok(it.take(limit).map(|((c, id), _)| (CollectionId(*c), id.clone())).collect())
    }
    fn idempotency(&self, space: SpaceId, key: &str) -> Result<Option<IdempotencyRecord>> {
        Ok(self.idem.get(&(space.0, key.to_owned())).cloned())
    }
    fn idempotency_records(
        &self,
        space: SpaceId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, IdempotencyRecord)>> {
        let start = match after {
            Some(k) => Bound::Excluded((space.0, k.to_owned())),
            None => Bound::Included((space.0, String::new())),
        };
        let it = self.idem.range((start, Bound::Unbounded)).take_while(|((s, _), _)| *s == space.0);
        Ok(it.take(limit).map(|((_, k), r)| (k.clone(), r.clone())).collect())
    }
    /// Always empty: the reference backend keeps nothing across processes,
    /// so it never holds entries written by an older key encoding.
    fn stale_indexes(&self) -> Result<Vec<CollectionId>> {
        Ok(Vec::new())
    }
}

impl WriteTx for State {
    fn insert_space(&mut self, name: &SpaceName, hlc: u64) -> Result<SpaceId> {
        if self.space(name)?.is_some() {
            return Err(Error::new(crate::ErrorKind::AlreadyExists, format!("space {name:?} already exists")));
        }
        self.next_id += 1;
        let id = SpaceId(self.next_id);
        self.spaces.insert(id.0, SpaceRow { id, name: name.clone(), created_hlc: hlc });
        Ok(id)
    }
    fn delete_space(&mut self, space: SpaceId) -> Result<()> {
        let colls: Vec<i64> = self.collections.values().filter(|c| c.space == space).map(|c| c.id.0).collect();
        for c in colls {
            self.delete_collection(CollectionId(c))?;
        }
        self.changes.retain(|(s, _), _| *s != space.0);
        self.idem.retain(|(s, _), _| *s != space.0);
        self.spaces.remove(&space.0);
        Ok(())
    }
    fn insert_collection(
        &mut self,
        space: SpaceId,
        name: &CollectionName,
        spec: &CollectionSpec,
    ) -> Result<CollectionId> {
        if self.collection(space, name)?.is_some() {
            return Err(Error::new(crate::ErrorKind::AlreadyExists, format!("collection {name:?} already exists")));
        }
        self.next_id += 1;
        let id = CollectionId(self.next_id);
        let row = CollectionRow { id, space, name: name.clone(), spec: spec.clone(), generation: 1 };
        self.collections.insert(id.0, row);
        Ok(id)
    }
    fn update_collection(&mut self, id: CollectionId, spec: &CollectionSpec, generation: u64) -> Result<()> {
        let row = self.collections.get_mut(&id.0).ok_or_else(|| Error::not_found("collection vanished"))?;
        row.spec = spec.clone();
        row.generation = generation;
        Ok(())
    }
    fn delete_collection(&mut self, id: CollectionId) -> Result<()> {
        self.docs.retain(|(c, _), _| *c != id.0);
        self.index.retain(|(c, ..)| *c != id.0);
        self.collections.remove(&id.0);
        Ok(())
    }
    fn put_doc(&mut self, coll: CollectionId, doc: &StoredDoc) -> Result<()> {
        self.docs.insert((coll.0, doc.id.clone()), doc.clone());
        Ok(())
    }
    fn upsert_doc(
        &mut self,
        coll: CollectionId,
        id: &str,
        body: &str,
        expires_at_ms: Option<u64>,
        hlc: u64,
    ) -> Result<u64> {
        let version = self.docs.get(&(coll.0, id.to_owned())).map_or(1, |d| d.version + 1);
        let doc = StoredDoc { id: id.to_owned(), version, body: body.to_owned(), expires_at_ms, updated_hlc: hlc };
        self.put_doc(coll, &doc)?;
        Ok(version)
    }
    fn delete_doc(&mut self, coll: CollectionId, id: &str) -> Result<()> {
        self.docs.remove(&(coll.0, id.to_owned()));
        Ok(())
    }
    fn replace_index_entries(
        &mut self,
        coll: CollectionId,
        doc_id: &str,
        old: &[IndexEntry],
        new: &[IndexEntry],
    ) -> Result<()> {
        for e in old {
            self.index.remove(&(coll.0, e.index, e.key.clone(), doc_id.to_owned()));
        }
        for e in new {
            self.index.insert((coll.0, e.index, e.key.clone(), doc_id.to_owned()));
        }
        Ok(())
    }
    /// Nothing to record: see [`Reader::stale_indexes`] above.
    fn mark_indexes_rebuilt(&mut self, _coll: CollectionId) -> Result<()> {
        Ok(())
    }
    fn clear_index(&mut self, coll: CollectionId, index: u32) -> Result<()> {
        self.index.retain(|(c, i, ..)| !(*c == coll.0 && *i == index));
        Ok(())
    }
    fn append_change(&mut self, space: SpaceId, entry: &ChangeEntry) -> Result<()> {
        let head = self.change_head(space)?;
        if entry.position != head.position + 1 || entry.prev_hash != head.hash {
            return Err(Error::internal("change appended out of order"));
        }
        self.changes.insert((space.0, entry.position), entry.clone());
        Ok(())
    }
    fn put_idempotency(&mut self, space: SpaceId, key: &str, record: &IdempotencyRecord) -> Result<()> {
        self.idem.insert((space.0, key.to_owned()), record.clone());
        Ok(())
    }
    fn purge_idempotency(&mut self, now_ms: u64, limit: usize) -> Result<usize> {
        let dead: Vec<(i64, String)> =
            self.idem.iter().filter(|(_, r)| r.expires_at_ms <= now_ms).take(limit).map(|(k, _)| k.clone()).collect();
        for k in &dead {
            self.idem.remove(k);
        }
        Ok(dead.len())
    }
}

#[cfg(test)]
mod tests {
    use super::MemoryBackend;
    use crate::backend::{Backend, BackendExt, IdempotencyRecord};
    use crate::names::SpaceName;

    #[test]
    fn idempotency_records_list_one_space_in_key_order_after_a_key() {
        let b = MemoryBackend::new();
        let record = |n: u64| IdempotencyRecord { request_hash: [1; 32], response: format!("{n}"), expires_at_ms: n };
        let (a, other) = b
            .write_with(move |tx| {
                let a = tx.insert_space(&SpaceName::new("a")?, 1)?;
                let other = tx.insert_space(&SpaceName::new("b")?, 1)?;
                for (i, key) in ["k2", "k10", "k1"].into_iter().enumerate() {
                    tx.put_idempotency(a, key, &record(i as u64))?;
                }
                tx.put_idempotency(other, "k0", &record(9))?;
                Ok((a, other))
            })
            .expect("writes");
        let r = b.reader().expect("reader");
        let keys = |after, limit| -> Vec<String> {
            r.idempotency_records(a, after, limit).expect("lists").into_iter().map(|(k, _)| k).collect()
        };
        assert_eq!(keys(None, 10), ["k1", "k10", "k2"]);
        assert_eq!(keys(Some("k1"), 1), ["k10"]);
        assert!(keys(Some("k2"), 10).is_empty());
        let theirs = r.idempotency_records(other, None, 10).expect("lists");
        assert_eq!(theirs, vec![("k0".to_owned(), record(9))]);
    }
}
