//! Engram's objects: bytes under hierarchical keys, kept in an object
//! store (the local filesystem by default; memory, S3 or Azure Blob by
//! configuration) through the `object_store` crate. The engine keeps the
//! metadata (`engram::Space::put_object` and its neighbours): keys,
//! versions, content digests and reference counts, in the same
//! transactions and change log as everything else. This crate moves the
//! bytes: uploads (streamed, hashed, content-addressed), verified reads,
//! and the collector that deletes bytes nothing refers to.
//!
//! See `engram::objects` (ARCHITECTURE.md) for the saga and its
//! invariants.

pub mod collector;
pub mod config;
pub mod faults;
pub mod hashing;
pub mod read;
pub mod service;
pub mod store;
mod tls;

pub use collector::{COLLECTOR_LEASE, Collected, Collector, CollectorStats};
pub use config::{Secrets, open_dir, open_store, open_store_with, redact};
pub use read::Download;
pub use service::{GRACE_DEFAULT, Objects, PutOptions, SMALL_OBJECT_BYTES};
pub use store::Store;

/// Removes a file and syncs its directory, so the removal survives a
/// power loss.
pub(crate) fn durable_remove(path: &std::path::Path) -> std::io::Result<()> {
    std::fs::remove_file(path)?;
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// A background task that failed to run (a panic or cancellation).
pub(crate) fn objects_error(e: tokio::task::JoinError) -> engram_core::Error {
    engram_core::Error::internal(format!("an engine call failed: {e}"))
}
