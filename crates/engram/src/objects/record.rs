//! The stored forms of objects and blobs, and the index ranges that find
//! expired objects and collectable blobs.

use crate::objects::types::{BlobInfo, ObjectInfo};
use engram_core::backend::StoredDoc;
use engram_core::keys::{KeyRange, encode_component};
use engram_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::ops::Bound;

/// The `_objects` index on `exp`.
pub(crate) const EXPIRY_INDEX: &str = "expiry";
/// The `_blobs` index on `gc_at`.
pub(crate) const GC_INDEX: &str = "gc";

/// An object as stored in `_objects` (id = key).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ObjectRecord {
    pub digest: String,
    pub size: u64,
    pub content_type: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    pub updated_ms: u64,
    /// When it expires (the `expiry` index's path; absent without TTL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
}

impl ObjectRecord {
    pub fn parse(doc: &StoredDoc) -> Result<Self> {
        serde_json::from_str(&doc.body)
            .map_err(|e| Error::corrupted(format!("stored object {:?} is malformed: {e}", doc.id)))
    }

    /// Whether the object reads as absent at `now_ms`.
    pub fn expired(&self, now_ms: u64) -> bool {
        self.exp.is_some_and(|e| e <= now_ms)
    }

    pub fn info(&self, key: &str, version: u64) -> ObjectInfo {
        ObjectInfo {
            key: key.to_owned(),
            version,
            size: self.size,
            digest: self.digest.clone(),
            etag: format!("\"{}\"", self.digest),
            content_type: self.content_type.clone(),
            metadata: self.metadata.clone(),
            updated_ms: self.updated_ms,
            expires_at_ms: self.exp,
        }
    }
}

/// A blob as stored in `_blobs` (id = digest).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BlobRecord {
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<String>,
    pub refs: u64,
    /// Set once an uploader reports the bytes stored under the address;
    /// only then may a key refer to the blob.
    #[serde(default)]
    pub stored: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub collecting: bool,
    /// Since when nothing refers to it (the `gc` index's path; absent
    /// while `refs > 0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_at: Option<u64>,
}

impl BlobRecord {
    pub fn parse(doc: &StoredDoc) -> Result<Self> {
        serde_json::from_str(&doc.body)
            .map_err(|e| Error::corrupted(format!("stored blob {:?} is malformed: {e}", doc.id)))
    }

    pub fn info(&self, digest: &str) -> BlobInfo {
        BlobInfo {
            digest: digest.to_owned(),
            size: self.size,
            chunks: self.chunks.clone(),
            refs: self.refs,
            stored: self.stored,
            collecting: self.collecting,
            unreferenced_since_ms: self.gc_at,
        }
    }

    /// Adds (`+1`) or drops (`-1`) a reference at `now_ms`; an unreferenced
    /// blob starts its grace period.
    pub fn add_refs(&mut self, delta: i64, now_ms: u64) {
        self.refs = self.refs.saturating_add_signed(delta);
        self.gc_at = if self.refs == 0 { Some(self.gc_at.unwrap_or(now_ms).max(now_ms)) } else { None };
    }
}

/// Index keys whose single numeric component is at most `until`: expired
/// objects (`exp <= now`) or blobs unreferenced since before a cutoff.
pub(crate) fn up_to(until: u64) -> KeyRange {
    let mut start = Vec::new();
    encode_component(&mut start, Some(&json!(0)));
    let mut end = Vec::new();
    encode_component(&mut end, Some(&json!(until.saturating_add(1))));
    KeyRange { start: Bound::Included(start), end: Bound::Excluded(end) }
}
