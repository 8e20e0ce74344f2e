//! The change feed: a space's change log read as a stream of selected
//! entries (document changes, or outbox messages), by position, with long
//! polling; durable named consumers whose acknowledged position is stored
//! in the space (so they resume after a restart, or on another server);
//! and the outbox, messages published inside a transaction.
//!
//! Stored in reserved collections: `_consumers` (id = consumer name) and
//! `_outbox` (id = `{topic}@{UUIDv7}`, so a topic filter reads the log
//! alone; kept for [`engram_core::limits::OUTBOX_RETENTION_SECONDS`]).
//!
//! Invariant: a feed returns entries in position order and skips none that
//! its filter selects; `next_after` only moves past entries it returned or
//! that the filter leaves out. An outbox message exists only if its
//! transaction committed (it is written in it), so nothing rolled back is
//! ever delivered.

pub(crate) mod api;
pub(crate) mod outbox;
pub(crate) mod read;
pub(crate) mod types;

/// The topic of an outbox message, from its stored id.
pub(crate) fn outbox_topic(id: &str) -> Option<&str> {
    id.split_once('@').map(|(topic, _)| topic)
}
