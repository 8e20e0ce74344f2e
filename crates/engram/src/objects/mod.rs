//! Objects: bytes under hierarchical keys. This module keeps their
//! metadata, which is ordinary engine state (transactions, change log,
//! spaces, TTL); the bytes live in an object store that the
//! `engram-objects` crate drives. The engine never touches the bytes.
//!
//! Stored in reserved collections of the space:
//! - `_objects`: one record per key (id = the key), naming the content's
//!   BLAKE3 digest, its size, content type, user metadata and expiry;
//!   indexed by `expiry` (`exp`, present only with a TTL);
//! - `_blobs`: one record per content digest (id = the digest in hex), with
//!   its size, per-chunk digests and reference count; indexed by `gc`
//!   (`gc_at`, present only while nothing refers to it).
//!
//! The saga across the database and the store (see ARCHITECTURE.md):
//! 1. the bytes are written to a temporary key and hashed;
//! 2. [`Space::stage_blob`] commits the blob's record (refs 0, `gc_at` now)
//!    before its bytes may land under their content address;
//! 3. the bytes are moved under `blobs/{digest}`;
//! 4. a transaction puts the object's record and adds a reference.
//!
//! Invariants:
//! - a blob record whose `collecting` flag is unset has its bytes in the
//!   store from the commit of the first reference on: references are only
//!   added to such records, and only the collector removes bytes, after
//!   setting `collecting` (which no reference can be added to);
//! - `refs` counts the live `_objects` records naming the digest, in every
//!   committed state;
//! - a record with `refs == 0` carries `gc_at`; the collector removes it
//!   and its bytes once `gc_at` is older than its grace period, so bytes
//!   staged by an upload that never committed are collected too.

pub(crate) mod api;
pub(crate) mod record;
pub(crate) mod types;
pub(crate) mod write;
