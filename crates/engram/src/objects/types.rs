//! Object request and result types, with their validation.

use crate::ops::{Expect, check_ttl};
use engram_core::limits::{
    CONTENT_TYPE_BYTES_MAX, OBJECT_BYTES_MAX, OBJECT_CHUNK_BYTES, OBJECT_LIST_MAX, OBJECT_METADATA_BYTES_MAX,
    OBJECT_METADATA_ENTRIES_MAX,
};
use engram_core::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The content type of an object put without one.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// An object's metadata (what `HEAD` returns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ObjectInfo {
    pub key: String,
    /// Starts at 1; every put of the key adds one.
    pub version: u64,
    /// Bytes.
    pub size: u64,
    /// BLAKE3 digest of the content, 64 lowercase hex digits.
    pub digest: String,
    /// The HTTP entity tag: the digest, quoted.
    pub etag: String,
    pub content_type: String,
    /// User metadata: names and values set at put.
    pub metadata: BTreeMap<String, String>,
    /// When this version was put (ms since the Unix epoch).
    pub updated_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
}

/// Bytes already stored under their content address (see
/// `Space::stage_blob`), described for the object that will refer to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlobInput {
    /// BLAKE3 digest of the whole content, 64 lowercase hex digits.
    pub digest: String,
    pub size: u64,
    /// When the content has more than one 4 MiB chunk: each chunk's BLAKE3
    /// chaining value (the chunk hashed as a subtree at its offset, 64 hex
    /// digits), in order; what reads verify each chunk against. A single
    /// chunk is verified against `digest`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<String>,
}

impl BlobInput {
    pub(crate) fn validate(&self) -> Result<()> {
        check_digest(&self.digest)?;
        if self.size > OBJECT_BYTES_MAX {
            return Err(Error::too_large(format!("an object is at most {OBJECT_BYTES_MAX} bytes, got {}", self.size)));
        }
        // One chunk is described by the whole digest; more are listed.
        let want = chunk_count(self.size);
        let given = self.chunks.len() as u64;
        let listed_right = if want == 1 { given == 0 } else { given == want };
        if !listed_right {
            return Err(Error::invalid(format!(
                "a blob of {} bytes has {want} chunks of {OBJECT_CHUNK_BYTES} bytes: list {} chunk digests, got {given}",
                self.size,
                if want == 1 { 0 } else { want }
            )));
        }
        self.chunks.iter().try_for_each(|c| check_digest(c))
    }
}

/// How many verified chunks `size` bytes make (an empty object has one).
pub fn chunk_count(size: u64) -> u64 {
    size.div_ceil(OBJECT_CHUNK_BYTES).max(1)
}

/// A stored blob: content under its address, and who refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlobInfo {
    pub digest: String,
    pub size: u64,
    /// Chunk digests when the content has more than one chunk.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<String>,
    /// Objects (keys) whose current version holds this content.
    pub refs: u64,
    /// Whether its bytes were reported stored (only then can keys refer
    /// to it).
    #[serde(default)]
    pub stored: bool,
    /// Set by the collector before it deletes the bytes.
    pub collecting: bool,
    /// Since when nothing refers to it (absent while referred to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreferenced_since_ms: Option<u64>,
}

/// What staging a blob found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staged {
    /// Objects refer to it: its bytes are in the store already.
    Referenced,
    /// Recorded with no reference yet; its bytes may now be stored under
    /// its address (they are safe from the collector for its grace period
    /// from now), then reported with `Space::confirm_blob` or by the put
    /// that refers to them.
    Pending,
    /// The collector is deleting its bytes; stage again shortly.
    Collecting,
}

/// The metadata of an object put (its bytes are given by `blob`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ObjectPut {
    pub blob: BlobInput,
    /// Defaults to `application/octet-stream`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Seconds until the object expires (then it reads as absent and its
    /// reference is dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
    /// A precondition on the key's current version.
    #[serde(default)]
    pub expect: Expect,
    /// Put only if the current content has this digest (HTTP `If-Match`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_digest: Option<String>,
}

impl ObjectPut {
    pub fn new(blob: BlobInput) -> Self {
        Self {
            blob,
            content_type: None,
            metadata: BTreeMap::new(),
            ttl_seconds: None,
            expect: Expect::Any,
            if_digest: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        self.blob.validate()?;
        if let Some(ct) = &self.content_type {
            check_content_type(ct)?;
        }
        check_metadata(&self.metadata)?;
        check_ttl(self.ttl_seconds)?;
        self.if_digest.as_deref().map_or(Ok(()), check_digest)
    }
}

/// The outcome of an object put, copy or delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ObjectWritten {
    pub key: String,
    /// The key's version after the write (0 after a delete).
    pub version: u64,
    /// Change-log position of the write's entry.
    pub position: u64,
    /// The content's digest (the deleted content's, after a delete).
    pub digest: String,
    pub size: u64,
}

/// A listing request: keys under `prefix`, in byte order, after `after`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListObjects {
    pub prefix: String,
    /// Keys holding this after the prefix are folded into one common
    /// prefix (up to and including it), like directories.
    pub delimiter: Option<String>,
    /// Resume after this key or common prefix (a page's `next_after`).
    pub after: Option<String>,
    pub limit: usize,
}

impl ListObjects {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.limit == 0 || self.limit > OBJECT_LIST_MAX {
            return Err(Error::invalid(format!("limit must be 1 to {OBJECT_LIST_MAX}")));
        }
        if self.prefix.len() > engram_core::limits::OBJECT_KEY_BYTES_MAX {
            return Err(Error::invalid("prefix is longer than any key can be"));
        }
        // A cursor is a key or a common prefix, at most a key long.
        if self.after.as_ref().is_some_and(|a| a.len() > engram_core::limits::OBJECT_KEY_BYTES_MAX) {
            return Err(Error::invalid("after is longer than any key or common prefix can be"));
        }
        match &self.delimiter {
            Some(d) if d.is_empty() || d.len() > 16 => Err(Error::invalid("delimiter must be 1 to 16 bytes")),
            _ => Ok(()),
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ObjectList {
    pub objects: Vec<ObjectInfo>,
    /// Common prefixes (with a delimiter), in order among the keys.
    pub prefixes: Vec<String>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// Checks a BLAKE3 digest in hex.
pub fn check_digest(d: &str) -> Result<()> {
    let hex = d.len() == 64 && d.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex {
        return Err(Error::invalid(format!("invalid digest {d:?}: must be 64 lowercase hex digits (BLAKE3)")));
    }
    Ok(())
}

/// Checks a content type: printable ASCII, at most 256 bytes.
pub fn check_content_type(ct: &str) -> Result<()> {
    let printable = ct.bytes().all(|b| (0x20..0x7f).contains(&b));
    if ct.is_empty() || ct.len() > CONTENT_TYPE_BYTES_MAX || !printable {
        return Err(Error::invalid(format!(
            "invalid content type: must be 1 to {CONTENT_TYPE_BYTES_MAX} bytes of printable ASCII"
        )));
    }
    Ok(())
}

/// Checks user metadata: at most 32 entries and 8 KiB; names of lowercase
/// letters, digits, `-` and `_` (they travel as HTTP headers); values of
/// printable ASCII.
pub fn check_metadata(meta: &BTreeMap<String, String>) -> Result<()> {
    if meta.len() > OBJECT_METADATA_ENTRIES_MAX {
        return Err(Error::invalid(format!("an object has at most {OBJECT_METADATA_ENTRIES_MAX} metadata entries")));
    }
    let bytes: usize = meta.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > OBJECT_METADATA_BYTES_MAX {
        return Err(Error::too_large(format!("object metadata is at most {OBJECT_METADATA_BYTES_MAX} bytes")));
    }
    for (k, v) in meta {
        let name_ok = !k.is_empty()
            && k.len() <= 128
            && k.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(Error::invalid(format!(
                "invalid metadata name {k:?}: 1 to 128 lowercase letters, digits, '-' or '_'"
            )));
        }
        if !v.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(Error::invalid(format!("invalid value of metadata {k:?}: printable ASCII only")));
        }
    }
    Ok(())
}
