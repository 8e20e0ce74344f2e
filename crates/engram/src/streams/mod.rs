//! Event streams: append-only, versioned per stream, with expected-version
//! checks, a global position (the event's change-log position), reads by
//! version and by time, snapshots, and content deduplication of retried
//! appends.
//!
//! Stored in reserved collections: `_streams` (one head per stream),
//! `_events` (id `{stream}@{version:020}`, so id order is version order),
//! `_snapshots` (same id scheme) and `_event_dedup` (TTL'd content hashes).

pub(crate) mod api;
pub(crate) mod types;
pub(crate) mod write;

/// The stored id of a stream's event or snapshot at `version`. Stream names
/// cannot hold `@`, so ids of one stream share the prefix `{stream}@` and
/// no other stream's ids do; zero padding makes id order version order.
pub(crate) fn versioned_id(stream: &str, version: u64) -> String {
    format!("{stream}@{version:020}")
}
