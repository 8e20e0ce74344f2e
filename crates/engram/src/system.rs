//! The engine's own collections inside each space (edges, facts, events,
//! stream heads, snapshots, deduplication marks) and the write primitives
//! the graph, fact and stream modules share.
//!
//! They are ordinary collections with reserved names (starting with `_`),
//! so they inherit everything documents have: one transaction with the
//! caller's documents, a change-log entry per mutation, every backend, TTL
//! purging. Callers cannot name them through the document API.
//!
//! Invariant: a reserved collection is created by the first write that
//! needs it, with the spec below, in that write's transaction.

use crate::apply::Writer;
use crate::catalog::Compiled;
use engram_core::backend::{CollectionRow, CollectionSpec, IndexScan, IndexSpec, Reader, StoredDoc};
use engram_core::changelog::ChangeOp;
use engram_core::json::{content_hash, encode_document};
use engram_core::keys::{KeyRange, encode_component};
use engram_core::limits::DOC_BYTES_MAX;
use engram_core::names::CollectionName;
use engram_core::{Error, Result};
use serde_json::Value;
use std::sync::Arc;

/// Index entries read per step when scanning a reserved collection.
pub(crate) const SCAN_CHUNK_ROWS: usize = 1_000;

/// One of the engine's reserved collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum System {
    /// Graph edges; id = hash of (from, type, to).
    Edges,
    /// Facts; id = UUIDv7.
    Facts,
    /// Events; id = `{stream}@{version:020}`.
    Events,
    /// Stream snapshots; id = `{stream}@{version:020}`.
    Snapshots,
    /// Content hashes of recent appends; id = `{stream}@{hash}`, with TTL.
    Dedup,
    /// Queue settings; id = queue name.
    Queues,
    /// Queue messages; id = UUIDv7 (see `queues/mod.rs`).
    Messages,
    /// Busy message groups; id = `{queue}@{group}`.
    QueueGroups,
    /// Live deduplication keys; id = `{queue}@{key}`.
    QueueKeys,
    /// Durable feed consumers; id = consumer name.
    Consumers,
    /// Outbox messages; id = `{topic}@{UUIDv7}`, with TTL.
    Outbox,
    /// Webhook endpoints; id = endpoint name.
    Webhooks,
    /// Webhook delivery attempts; id = `{endpoint}@{UUIDv7}`, with TTL.
    WebhookLog,
    /// Webhook dead letters; id = `{endpoint}@{message id}`.
    WebhookDead,
    /// Deleted spaces, in the system space; id = the deleted space's id.
    SpaceDeletions,
    /// Objects' metadata; id = the object's key (see `objects/mod.rs`).
    Objects,
    /// Content-addressed blobs; id = BLAKE3 digest in hex.
    Blobs,
}

impl System {
    pub fn name(self) -> &'static str {
        match self {
            Self::Edges => "_edges",
            Self::Facts => "_facts",
            Self::Events => "_events",
            Self::Snapshots => "_snapshots",
            Self::Dedup => "_event_dedup",
            Self::Queues => "_queues",
            Self::Messages => "_messages",
            Self::QueueGroups => "_queue_groups",
            Self::QueueKeys => "_queue_keys",
            Self::Consumers => "_consumers",
            Self::Outbox => "_outbox",
            Self::Webhooks => "_webhooks",
            Self::WebhookLog => "_webhook_log",
            Self::WebhookDead => "_webhook_dead",
            Self::SpaceDeletions => "_spaces_deleted",
            Self::Objects => "_objects",
            Self::Blobs => "_blobs",
        }
    }

    pub fn collection_name(self) -> CollectionName {
        CollectionName::reserved(self.name())
    }

    /// The spec the collection is created with.
    pub fn spec(self) -> CollectionSpec {
        let index = |id: u32, name: &str, paths: &[&str]| IndexSpec {
            id,
            name: name.to_owned(),
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        };
        let indexes = match self {
            Self::Edges => {
                vec![index(1, "from", &["from.collection", "from.id"]), index(2, "to", &["to.collection", "to.id"])]
            }
            Self::Facts => vec![index(1, "subject_predicate", &["skey", "predicate"])],
            Self::Messages => vec![index(1, "lane", &["queue", "lane", "k", "at"])],
            Self::Objects => vec![index(1, crate::objects::record::EXPIRY_INDEX, &["exp"])],
            Self::Blobs => vec![index(1, crate::objects::record::GC_INDEX, &["gc_at"])],
            Self::Events
            | Self::Snapshots
            | Self::Dedup
            | Self::Queues
            | Self::QueueGroups
            | Self::QueueKeys
            | Self::Consumers
            | Self::Outbox
            | Self::Webhooks
            | Self::WebhookLog
            | Self::WebhookDead
            | Self::SpaceDeletions => Vec::new(),
        };
        CollectionSpec { indexes, ..CollectionSpec::default() }
    }
}

/// The index key prefix of leading string components.
pub(crate) fn key_prefix(parts: &[&str]) -> Vec<u8> {
    let mut key = Vec::new();
    for p in parts {
        encode_component(&mut key, Some(&Value::String((*p).to_owned())));
    }
    key
}

impl Writer<'_> {
    /// A reserved collection, created on first use when `create`; `None`
    /// when it does not exist and `create` is false.
    pub fn system(&mut self, sys: System, create: bool) -> Result<Option<Arc<Compiled>>> {
        self.reserved_collection(&sys.collection_name(), create.then(|| sys.spec()))
    }

    /// A reserved collection, created on first use.
    pub fn system_created(&mut self, sys: System) -> Result<Arc<Compiled>> {
        self.system(sys, true)?.ok_or_else(|| Error::internal(format!("{} was not created", sys.name())))
    }

    /// Writes a reserved collection's document; returns (version,
    /// change-log position).
    pub fn put_system(&mut self, coll: &Compiled, id: &str, body: &Value, ttl_ms: Option<u64>) -> Result<(u64, u64)> {
        let text = encode_document(body)?;
        if coll.indexes.is_empty() {
            return self.put_system_text(coll, id, text, ttl_ms);
        }
        let hash = content_hash(text.as_bytes());
        let expires = ttl_ms.map(|t| self.now_ms.saturating_add(t));
        let hlc = self.tick();
        let old = self.tx.doc(coll.row.id, id)?;
        let version = old.as_ref().map_or(1, |d| d.version + 1);
        let doc = StoredDoc { id: id.to_owned(), version, body: text, expires_at_ms: expires, updated_hlc: hlc };
        self.tx.put_doc(coll.row.id, &doc)?;
        self.reindex(coll, id, old.as_ref(), Some(body))?;
        let position = self.log_stamped(hlc, ChangeOp::Put, coll.row.name.as_str(), id, version, hash)?;
        Ok((version, position))
    }

    /// Writes serialized JSON to a reserved collection without indexes,
    /// without reading it first.
    pub fn put_system_text(
        &mut self,
        coll: &Compiled,
        id: &str,
        text: String,
        ttl_ms: Option<u64>,
    ) -> Result<(u64, u64)> {
        if !coll.indexes.is_empty() {
            return Err(Error::internal("unindexed write to an indexed reserved collection"));
        }
        if !text.starts_with('{') || text.len() > DOC_BYTES_MAX {
            return Err(Error::too_large(format!("a record is at most {DOC_BYTES_MAX} bytes, got {}", text.len())));
        }
        let hash = content_hash(text.as_bytes());
        let expires = ttl_ms.map(|t| self.now_ms.saturating_add(t));
        let hlc = self.tick();
        let version = self.tx.upsert_doc(coll.row.id, id, &text, expires, hlc)?;
        let position = self.log_stamped(hlc, ChangeOp::Put, coll.row.name.as_str(), id, version, hash)?;
        Ok((version, position))
    }

    /// Records, in the system space, that a space was deleted (its own log
    /// went with it).
    pub fn log_space_deletion(
        &mut self,
        name: &engram_core::names::SpaceName,
        id: engram_core::backend::SpaceId,
    ) -> Result<()> {
        let coll = self.system_created(System::SpaceDeletions)?;
        let body = serde_json::json!({ "name": name.as_str(), "id": id.0, "deleted_at_ms": self.now_ms });
        self.put_system_text(&coll, &format!("{:020}", id.0), body.to_string(), None).map(drop)
    }

    /// Deletes a reserved collection's document if present; returns the
    /// change-log position, or `None` when there was nothing to delete.
    pub fn delete_system(&mut self, coll: &Compiled, id: &str) -> Result<Option<u64>> {
        let Some(old) = self.tx.doc(coll.row.id, id)? else { return Ok(None) };
        self.remove(coll, Some(&old), id, ChangeOp::Delete).map(Some)
    }

    /// Every document whose index `index` key starts with `prefix`.
    pub fn scan_prefix(&mut self, coll: &Compiled, index: &str, prefix: Vec<u8>) -> Result<Vec<StoredDoc>> {
        let reader: &dyn Reader = &*self.tx;
        scan_prefix(reader, &coll.row, index, prefix, usize::MAX)
    }
}

/// Every document of a small reserved collection (queue settings,
/// consumers, space deletions), in id order.
pub(crate) fn all_docs(reader: &dyn Reader, coll: engram_core::backend::CollectionId) -> Result<Vec<StoredDoc>> {
    prefixed_docs(reader, coll, "", usize::MAX)
}

/// Up to `limit` documents whose id starts with `prefix`, in id order, read
/// a chunk at a time.
pub(crate) fn prefixed_docs(
    reader: &dyn Reader,
    coll: engram_core::backend::CollectionId,
    prefix: &str,
    limit: usize,
) -> Result<Vec<StoredDoc>> {
    let mut out = Vec::new();
    // Ids are never empty, so "" starts before every id.
    let mut after = prefix.to_owned();
    while out.len() < limit {
        let want = SCAN_CHUNK_ROWS.min(limit - out.len());
        let docs = reader.scan_docs(coll, Some(&after), false, want)?;
        let read = docs.len();
        let mine: Vec<StoredDoc> = docs.into_iter().take_while(|d| d.id.starts_with(prefix)).collect();
        let ended = read < want || mine.len() < read;
        if let Some(last) = mine.last() {
            after = last.id.clone();
        }
        out.extend(mine);
        if ended {
            break;
        }
    }
    Ok(out)
}

/// Up to `limit` documents whose index `index` key starts with `prefix`, in
/// key order.
pub(crate) fn scan_prefix(
    reader: &dyn Reader,
    coll: &CollectionRow,
    index: &str,
    prefix: Vec<u8>,
    limit: usize,
) -> Result<Vec<StoredDoc>> {
    scan_range(reader, coll, index, &KeyRange::prefixed(prefix), limit)
}

/// Up to `limit` documents whose index `index` key lies in `range`, in key
/// order.
pub(crate) fn scan_range(
    reader: &dyn Reader,
    coll: &CollectionRow,
    index: &str,
    range: &KeyRange,
    limit: usize,
) -> Result<Vec<StoredDoc>> {
    let index = coll.spec.indexes.iter().find(|ix| ix.name == index).map(|ix| ix.id).ok_or_else(|| {
        Error::corrupted(format!("reserved collection {:?} lacks index {index:?}", coll.name.as_str()))
    })?;
    let mut out = Vec::new();
    let mut after: Option<(Vec<u8>, String)> = None;
    while out.len() < limit {
        let scan = IndexScan {
            collection: coll.id,
            index,
            range,
            after: after.as_ref().map(|(k, id)| (k.as_slice(), id.as_str())),
            reverse: false,
            limit: SCAN_CHUNK_ROWS.min(limit - out.len()),
        };
        let rows = reader.scan_index(&scan)?;
        let full = rows.len() == scan.limit;
        after = rows.last().map(|(k, d)| (k.clone(), d.id.clone()));
        out.extend(rows.into_iter().map(|(_, d)| d));
        if !full {
            break;
        }
    }
    Ok(out)
}
