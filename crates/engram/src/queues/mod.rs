//! Queues: messages enqueued in any transaction (with documents, events,
//! edges), received under a lease, acknowledged, retried with backoff,
//! dead-lettered after their attempts, grouped (one at a time, in order) and
//! deduplicated by key.
//!
//! Stored in reserved collections of the space, so every step is an
//! ordinary logged write on every backend:
//! - `_queues`: one settings record per queue (id = queue name);
//! - `_messages`: one record per message (id = UUIDv7), indexed by
//!   `lane`: (queue, lane, k, at, seq), see [`Lane`];
//! - `_queue_groups`: one record per busy group (id = `{queue}@{group}`)
//!   naming the group's head, the one message of the group that may be
//!   received;
//! - `_queue_keys`: one record per live deduplication key (id =
//!   `{queue}@{key}`) naming its message.
//!
//! Invariant: a receive is a write. It runs under the space's write lock
//! (`WriteTx::lock_space`), so two receivers, on one server or many, never
//! lease one message at once: the second sees the first's lease.

pub(crate) mod api;
pub(crate) mod combine;
pub(crate) mod record;
pub(crate) mod types;
pub(crate) mod write;

/// Where a message is. The index key's `k` and `at` components depend on
/// the lane:
///
/// | lane | meaning                          | k                | at                 |
/// |------|----------------------------------|------------------|--------------------|
/// | `a`  | available (ready, or delayed)    | 9 - priority     | visible from (ms)  |
/// | `f`  | in flight (leased)               | 0                | lease expiry (ms)  |
/// | `w`  | waiting behind its group's head  | the group's name | seq                |
/// | `d`  | dead-lettered                    | 0                | dead since (ms)    |
///
/// So "ready now, highest priority first, then longest visible" is one
/// range per priority of lane `a`, and expired leases one range of `f`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    Available,
    InFlight,
    Waiting,
    Dead,
}

impl Lane {
    pub fn tag(self) -> &'static str {
        match self {
            Self::Available => "a",
            Self::InFlight => "f",
            Self::Waiting => "w",
            Self::Dead => "d",
        }
    }

    pub fn from_tag(tag: &str) -> Option<Self> {
        Some(match tag {
            "a" => Self::Available,
            "f" => Self::InFlight,
            "w" => Self::Waiting,
            "d" => Self::Dead,
            _ => return None,
        })
    }
}

/// The stored id of a queue's group or deduplication key record. Queue
/// names cannot hold `@`, so the records of one queue share the prefix
/// `{queue}@` and no other queue's do.
pub(crate) fn keyed_id(queue: &str, key: &str) -> String {
    format!("{queue}@{key}")
}
