//! The storage seam: what a backend stores and the transactions it offers.
//!
//! A backend is small: rows in, rows out, one atomic durable write path.
//! All document semantics (versions, preconditions, patches, schemas, index
//! keys, the change-log chain) live above it and are identical everywhere.

use crate::Result;
use crate::changelog::{ChangeEntry, ChangeHead, Digest};
use crate::keys::KeyRange;
use crate::names::{CollectionName, SpaceName};
use crate::search_spec::SearchSpec;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::any::Any;

/// Internal id of a space. Obtained only by looking a space up, so holding
/// one means the space existed when it was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpaceId(pub i64);

/// Internal id of a collection; globally unique, so it scopes its space too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollectionId(pub i64);

/// A stored space.
#[derive(Debug, Clone, PartialEq)]
pub struct SpaceRow {
    pub id: SpaceId,
    pub name: SpaceName,
    pub created_hlc: u64,
}

/// A declared index on one or more JSON paths (compound when several).
/// Unknown fields are refused (a misspelt or unsupported option such as
/// `unique` must not be dropped silently); stored specs are serialized from
/// this same struct, so they never carry a key it does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IndexSpec {
    /// Stable number within the collection, assigned by the engine (a
    /// given value is ignored).
    #[serde(default)]
    pub id: u32,
    pub name: String,
    pub paths: Vec<String>,
}

/// What a collection is declared to be. Stored as JSON. Unknown fields are
/// refused, as in [`IndexSpec`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CollectionSpec {
    /// JSON Schema every document must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub schema: Option<Value>,
    /// Time-to-live applied to documents written without their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_ttl_seconds: Option<u64>,
    #[serde(default)]
    pub indexes: Vec<IndexSpec>,
    /// Text and vector fields kept in the search index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchSpec>,
}

/// A stored collection.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionRow {
    pub id: CollectionId,
    pub space: SpaceId,
    pub name: CollectionName,
    pub spec: CollectionSpec,
    /// Bumped on every change of `spec`; caches key compiled forms by it.
    pub generation: u64,
}

/// A stored document, live or expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDoc {
    pub id: String,
    pub version: u64,
    /// Canonical JSON text of the body.
    pub body: String,
    pub expires_at_ms: Option<u64>,
    /// HLC timestamp of the last write.
    pub updated_hlc: u64,
}

impl StoredDoc {
    /// Visible to reads at wall time `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_none_or(|t| t > now_ms)
    }
}

/// One index entry of a document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexEntry {
    pub index: u32,
    pub key: Vec<u8>,
}

/// One document of [`WriteTx::upsert_docs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocUpsert<'a> {
    pub id: &'a str,
    pub body: &'a str,
    pub expires_at_ms: Option<u64>,
    pub hlc: u64,
}

/// One document of [`WriteTx::write_docs`]: written as `doc` (or deleted,
/// when `None`), its index entries `old` replaced by `new`.
#[derive(Debug, Clone, Copy)]
pub struct DocWrite<'a> {
    pub id: &'a str,
    pub doc: Option<&'a StoredDoc>,
    pub old: &'a [IndexEntry],
    pub new: &'a [IndexEntry],
}

/// The remembered outcome of an idempotent write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub request_hash: Digest,
    /// The first response, as JSON text.
    pub response: String,
    pub expires_at_ms: u64,
}

/// A scan over one index: keys in `range`, after `after` (exclusive), in key
/// then document-id order (both descending when `reverse`).
#[derive(Debug, Clone)]
pub struct IndexScan<'a> {
    pub collection: CollectionId,
    pub index: u32,
    pub range: &'a KeyRange,
    pub after: Option<(&'a [u8], &'a str)>,
    pub reverse: bool,
    pub limit: usize,
}

/// What differs between backends, declared rather than tested by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub name: &'static str,
    /// Acknowledged writes survive process crash and power loss.
    pub durable: bool,
    /// Concurrent writes share one commit and one sync.
    pub group_commit: bool,
    /// Other processes may write the same storage (a database shared by
    /// several servers). The engine reads it: when set, nothing it caches
    /// from storage (space ids, collection specs) and no derived index may
    /// be trusted without checking storage, because writes by other
    /// processes never pass through this one.
    pub shared: bool,
}

/// Reads, either on their own or inside a write transaction.
///
/// # Behavior
/// Every method reads committed state (or, inside a [`WriteTx`], the
/// transaction's own writes). Missing things are `Ok(None)` / empty, never
/// errors. Expired documents are returned; callers apply [`StoredDoc::is_live`].
pub trait Reader {
    fn spaces(&self) -> Result<Vec<SpaceRow>>;
    fn space(&self, name: &SpaceName) -> Result<Option<SpaceRow>>;
    fn collections(&self, space: SpaceId) -> Result<Vec<CollectionRow>>;
    fn collection(&self, space: SpaceId, name: &CollectionName) -> Result<Option<CollectionRow>>;
    fn collection_by_id(&self, id: CollectionId) -> Result<Option<CollectionRow>>;
    fn doc(&self, coll: CollectionId, id: &str) -> Result<Option<StoredDoc>>;
    /// The documents of `ids` that exist, in any order (an id given twice
    /// may come back once). Backends may read them with one statement.
    fn docs(&self, coll: CollectionId, ids: &[&str]) -> Result<Vec<StoredDoc>> {
        ids.iter().filter_map(|id| self.doc(coll, id).transpose()).collect()
    }
    /// Documents in id order strictly after `after`, at most `limit`.
    fn scan_docs(&self, coll: CollectionId, after: Option<&str>, reverse: bool, limit: usize)
    -> Result<Vec<StoredDoc>>;
    /// Index entries with their documents; see [`IndexScan`].
    fn scan_index(&self, scan: &IndexScan<'_>) -> Result<Vec<(Vec<u8>, StoredDoc)>>;
    /// Entries with position > `after`, ascending, at most `limit`.
    fn changes(&self, space: SpaceId, after: u64, limit: usize) -> Result<Vec<ChangeEntry>>;
    fn change_head(&self, space: SpaceId) -> Result<ChangeHead>;
    /// Newest HLC timestamp of any change-log entry (the clock's floor at
    /// open). The engine stamps every stored row with the timestamp of the
    /// entry that logs it, so nothing stored is newer than this.
    fn max_hlc(&self) -> Result<u64>;
    /// Documents whose expiry is at or before `now_ms`, at most `limit`.
    fn expired(&self, now_ms: u64, limit: usize) -> Result<Vec<(CollectionId, String)>>;
    fn idempotency(&self, space: SpaceId, key: &str) -> Result<Option<IdempotencyRecord>>;
    /// A space's idempotency records with keys after `after`, in bytewise
    /// key order, at most `limit`, expired ones included (copying a space
    /// lists them).
    fn idempotency_records(
        &self,
        space: SpaceId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, IdempotencyRecord)>>;
    /// Collections whose index entries an older data format wrote in another
    /// key encoding; the engine rebuilds them at open, before any query.
    fn stale_indexes(&self) -> Result<Vec<CollectionId>>;
}

/// Writes inside one atomic transaction.
///
/// # Behavior
/// Nothing is visible to other readers until the transaction commits; if the
/// work returns an error, none of its writes happen. Deletes of missing rows
/// succeed.
pub trait WriteTx: Reader {
    fn insert_space(&mut self, name: &SpaceName, hlc: u64) -> Result<SpaceId>;
    /// Removes the space and everything in it (collections, documents,
    /// indexes, change log, idempotency records).
    fn delete_space(&mut self, space: SpaceId) -> Result<()>;
    fn insert_collection(
        &mut self,
        space: SpaceId,
        name: &CollectionName,
        spec: &CollectionSpec,
    ) -> Result<CollectionId>;
    fn update_collection(&mut self, id: CollectionId, spec: &CollectionSpec, generation: u64) -> Result<()>;
    /// Removes the collection, its documents and index entries.
    fn delete_collection(&mut self, id: CollectionId) -> Result<()>;
    /// Inserts or replaces a document row as given.
    fn put_doc(&mut self, coll: CollectionId, doc: &StoredDoc) -> Result<()>;
    /// Writes a document without reading it first: version becomes the old
    /// version + 1, or 1 if absent. Returns the new version.
    fn upsert_doc(
        &mut self,
        coll: CollectionId,
        id: &str,
        body: &str,
        expires_at_ms: Option<u64>,
        hlc: u64,
    ) -> Result<u64>;
    /// [`WriteTx::upsert_doc`] of several documents of one collection, in
    /// order; their ids must be distinct. Returns the new versions in the
    /// same order. Backends may write them with one statement.
    fn upsert_docs(&mut self, coll: CollectionId, docs: &[DocUpsert<'_>]) -> Result<Vec<u64>> {
        docs.iter().map(|d| self.upsert_doc(coll, d.id, d.body, d.expires_at_ms, d.hlc)).collect()
    }
    fn delete_doc(&mut self, coll: CollectionId, id: &str) -> Result<()>;
    /// Replaces a document's index entries `old` by `new`.
    fn replace_index_entries(
        &mut self,
        coll: CollectionId,
        doc_id: &str,
        old: &[IndexEntry],
        new: &[IndexEntry],
    ) -> Result<()>;
    /// Writes or deletes several documents of one collection with their
    /// index entries, as [`WriteTx::put_doc`] or [`WriteTx::delete_doc`]
    /// then [`WriteTx::replace_index_entries`] each; their ids must be
    /// distinct. Backends may write them with one statement.
    fn write_docs(&mut self, coll: CollectionId, writes: &[DocWrite<'_>]) -> Result<()> {
        for w in writes {
            match w.doc {
                Some(doc) => self.put_doc(coll, doc)?,
                None => self.delete_doc(coll, w.id)?,
            }
            self.replace_index_entries(coll, w.id, w.old, w.new)?;
        }
        Ok(())
    }
    /// Removes every entry of one index (when an index is dropped).
    fn clear_index(&mut self, coll: CollectionId, index: u32) -> Result<()>;
    /// Takes the space's write lock for the rest of the transaction and
    /// returns its change-log head. Every write of a space calls it first,
    /// so within a space, writes run one at a time from their first read to
    /// their commit whatever process runs them: positions stay gapless and
    /// commit in order, read-then-write steps (preconditions, idempotency
    /// records, versions, stream positions) cannot race, and the head's
    /// timestamp bounds the next ones.
    ///
    /// Backends whose writes are already serialized (one writer, as SQLite
    /// and memory) only read the head; a shared database locks a row.
    fn lock_space(&mut self, space: SpaceId) -> Result<ChangeHead> {
        self.change_head(space)
    }
    /// Appends a sealed entry; it must follow [`Reader::change_head`].
    fn append_change(&mut self, space: SpaceId, entry: &ChangeEntry) -> Result<()>;
    fn put_idempotency(&mut self, space: SpaceId, key: &str, record: &IdempotencyRecord) -> Result<()>;
    /// Deletes idempotency records expired at `now_ms`; returns how many.
    fn purge_idempotency(&mut self, now_ms: u64, limit: usize) -> Result<usize>;
    /// Records that a collection's index entries are in the current key
    /// encoding (it leaves [`Reader::stale_indexes`]).
    fn mark_indexes_rebuilt(&mut self, coll: CollectionId) -> Result<()>;
}

/// Output of a write: whatever the work returned, type-erased.
pub type WriteOutput = Box<dyn Any + Send>;

/// Work run inside a write transaction. It may run more than once: a
/// backend re-runs it in a new transaction after a transient failure
/// (ErrorKind::Contention), so it must not consume what it captures.
pub type WriteWork = Box<dyn FnMut(&mut dyn WriteTx) -> Result<WriteOutput> + Send>;

/// What a backend's commit path has done since it opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitStats {
    /// Commits (each one durable sync).
    pub batches: u64,
    /// Write jobs in them.
    pub jobs: u64,
    /// Most jobs in one commit.
    pub max_batch: u64,
}

/// A storage backend.
pub trait Backend: Send + Sync {
    fn capabilities(&self) -> Capabilities;
    /// Commit counters, for backends that batch commits.
    fn commit_stats(&self) -> Option<CommitStats> {
        None
    }
    /// A reader over committed state.
    fn reader(&self) -> Result<Box<dyn Reader + '_>>;
    /// One document by id: a single read, so a backend may skip the snapshot
    /// set-up that a multi-read [`Reader`] needs.
    fn read_doc(&self, coll: CollectionId, id: &str) -> Result<Option<StoredDoc>> {
        self.reader()?.doc(coll, id)
    }
    /// A space by name, read on its own (a single statement where the
    /// backend can: looked up on every request on shared storage).
    fn read_space(&self, name: &SpaceName) -> Result<Option<SpaceRow>> {
        self.reader()?.space(name)
    }
    /// A collection by name, read on its own (as [`Backend::read_space`]).
    fn read_collection(&self, space: SpaceId, name: &CollectionName) -> Result<Option<CollectionRow>> {
        self.reader()?.collection(space, name)
    }
    /// A document of the collection named `coll`, read on its own with the
    /// collection row (one statement, so one snapshot, where the backend
    /// can): `None` when the collection does not exist, else its id and the
    /// document if stored. This is a `get` on shared storage, where the
    /// collection must be looked up on every request.
    fn read_named_doc(
        &self,
        space: SpaceId,
        coll: &CollectionName,
        id: &str,
    ) -> Result<Option<(CollectionId, Option<StoredDoc>)>> {
        let Some(row) = self.read_collection(space, coll)? else { return Ok(None) };
        Ok(Some((row.id, self.read_doc(row.id, id)?)))
    }
    /// A reader that may lag the primary (a read replica's), for reads
    /// that accept staleness; the primary's when there is no replica.
    fn stale_reader(&self) -> Result<Box<dyn Reader + '_>> {
        self.reader()
    }
    /// [`Backend::read_named_doc`] for a read that accepts staleness (see
    /// [`Backend::stale_reader`]).
    fn stale_read_named_doc(
        &self,
        space: SpaceId,
        coll: &CollectionName,
        id: &str,
    ) -> Result<Option<(CollectionId, Option<StoredDoc>)>> {
        self.read_named_doc(space, coll, id)
    }
    /// A space's change-log head, read on its own (the check a derived
    /// index makes before serving on shared storage; backends may answer
    /// it with a single statement).
    fn change_head(&self, space: SpaceId) -> Result<ChangeHead> {
        self.reader()?.change_head(space)
    }
    /// Whether this process holds the lease `name` (taking it if free): at
    /// most one process sharing the storage holds a name at a time, and a
    /// process that dies loses its leases. Background duties that must run
    /// once per database (the purger) take one first. Storage that one
    /// process owns grants every lease.
    fn try_lease(&self, _name: &str) -> Result<bool> {
        Ok(true)
    }
    /// Tells the other processes sharing the storage that `space` changed
    /// (called after each commit). Storage one process owns has no one to
    /// tell.
    fn announce(&self, _space: SpaceId) {}
    /// Calls `changed` whenever another process announces a change: with
    /// the space, or `None` when announcements may have been missed (a lost
    /// connection), so every waiter should look again. Returns false when
    /// the storage has no announcements (one process owns it).
    fn watch_changes(&self, _changed: ChangeCallback) -> Result<bool> {
        Ok(false)
    }
    /// Runs `work` in its own atomic transaction and commits it durably (per
    /// [`Capabilities::durable`]) before returning. Backends may commit the
    /// work of concurrent callers together, but each caller's work succeeds
    /// or fails alone.
    fn write(&self, work: WriteWork) -> Result<WriteOutput>;
}

/// What [`Backend::watch_changes`] calls: a space changed (`None`: any may
/// have).
pub type ChangeCallback = std::sync::Arc<dyn Fn(Option<SpaceId>) + Send + Sync>;

/// Typed convenience over [`Backend::write`].
pub trait BackendExt {
    fn write_with<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn WriteTx) -> Result<T> + Send + 'static;
}

impl<B: Backend + ?Sized> BackendExt for B {
    fn write_with<T, F>(&self, mut f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn WriteTx) -> Result<T> + Send + 'static,
    {
        let out = self.write(Box::new(move |tx| f(tx).map(|t| Box::new(t) as WriteOutput)))?;
        out.downcast::<T>().map(|b| *b).map_err(|_| crate::Error::internal("write output had an unexpected type"))
    }
}

#[cfg(test)]
mod spec_tests {
    use super::CollectionSpec;
    use serde_json::json;

    fn refusal(v: serde_json::Value) -> String {
        match serde_json::from_value::<CollectionSpec>(v) {
            Ok(spec) => panic!("an unknown field was accepted as {spec:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unknown_spec_fields_are_refused_by_name() {
        let e = refusal(json!({"default_ttl_secs": 5, "indexs": []}));
        assert!(e.contains("default_ttl_secs"), "{e}");
        let e = refusal(json!({"indexes": [{"name": "by_a", "paths": ["a"], "unique": true}]}));
        assert!(e.contains("unique"), "{e}");
        let e = refusal(json!({"search": {"text": [{"path": "t", "weight": 2}]}}));
        assert!(e.contains("weight"), "{e}");
    }

    #[test]
    fn a_stored_spec_reads_back_as_written() {
        // Stored specs are this struct serialized; refusing unknown fields
        // on read is safe only while that round trip carries no extra key.
        let spec: CollectionSpec = serde_json::from_value(json!({
            "schema": {"type": "object"},
            "default_ttl_seconds": 60,
            "indexes": [{"id": 3, "name": "by_a", "paths": ["a", "b"]}],
            "search": {"text": [{"path": "t"}], "vectors": [{"name": "v", "dims": 2, "metric": "l2",
                "model": {"name": "m", "version": "1"}}], "default_vector": "v"}
        }))
        .expect("a full spec parses");
        let stored = serde_json::to_value(&spec).expect("specs serialize");
        let back: CollectionSpec = serde_json::from_value(stored).expect("a stored spec parses");
        assert_eq!(back, spec);
    }
}
