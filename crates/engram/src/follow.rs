//! The freshness check every follower of a change log makes before it
//! serves: the search indexes, the graph adjacency, and (through
//! `Engine::shared`) the name caches.
//!
//! Invariant: a follower that passes the check includes every write that
//! was acknowledged, by any process, before the check began.
//!
//! How: a follower records the engine's write count (see `epoch.rs`), read
//! before the reader it catches up with opens, and the log position it
//! reached. It is current while (1) no write of this process has completed
//! since, and (2) on shared storage only, where other processes' writes
//! never move this process's count, the space's log head is still at that
//! position: one head read, the change token of a shared backend.

use engram_core::Result;
use engram_core::backend::{Backend, SpaceId};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The engine's change token source, shared by its followers.
pub(crate) struct Freshness {
    writes: Arc<AtomicU64>,
    shared: bool,
}

impl Freshness {
    pub fn new(writes: Arc<AtomicU64>, shared: bool) -> Self {
        Self { writes, shared }
    }

    /// The token to record when catching up: read it before opening the
    /// reader, so every write it counts is in that reader's snapshot.
    pub fn token(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Whether a follower that recorded token `seen` and reached log
    /// `position` of `space` still includes every acknowledged write.
    pub fn is_current(&self, backend: &dyn Backend, space: SpaceId, seen: u64, position: u64) -> Result<bool> {
        if seen < self.token() {
            return Ok(false);
        }
        if !self.shared {
            return Ok(true);
        }
        Ok(backend.change_head(space)?.position <= position)
    }
}
