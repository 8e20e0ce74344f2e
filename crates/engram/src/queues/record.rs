//! The stored form of a queue message, and the index ranges that find
//! messages by lane (see [`Lane`]).

use crate::queues::Lane;
use crate::queues::types::{DeadLetter, Message};
use engram_core::backend::StoredDoc;
use engram_core::keys::{KeyRange, encode_component, prefix_successor};
use engram_core::limits::PRIORITY_MAX;
use engram_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::ops::Bound;

/// A message as stored in `_messages`. `queue`, `lane`, `k` and `at` are the
/// `lane` index's paths.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MessageRecord {
    pub queue: String,
    pub lane: String,
    /// A number, or the group's name in lane `w`.
    pub k: Value,
    pub at: u64,
    /// The HLC stamp of its enqueue: orders a group's messages.
    pub seq: u64,
    pub priority: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup: Option<String>,
    pub attempts: u32,
    pub enqueued_at_ms: u64,
    /// When its delay ends: where it enters lane `a` once its group lets it.
    pub not_before_ms: u64,
    /// The current delivery's lease token (lane `f`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<String>,
    /// The last failure reported, or why it was dead-lettered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub body: Value,
}

impl MessageRecord {
    pub fn parse(doc: &StoredDoc) -> Result<Self> {
        serde_json::from_str(&doc.body)
            .map_err(|e| Error::corrupted(format!("stored queue message {:?} is malformed: {e}", doc.id)))
    }

    pub fn lane(&self) -> Result<Lane> {
        Lane::from_tag(&self.lane)
            .ok_or_else(|| Error::corrupted(format!("queue message in unknown lane {:?}", self.lane)))
    }

    /// Moves the record to `lane` with its index components.
    pub fn set_lane(&mut self, lane: Lane, at: u64) {
        self.lane = lane.tag().to_owned();
        self.k = match lane {
            Lane::Available => json!(rank(self.priority)),
            Lane::Waiting => json!(self.group.clone().unwrap_or_default()),
            Lane::InFlight | Lane::Dead => json!(0),
        };
        self.at = if lane == Lane::Waiting { self.seq } else { at };
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("queue messages serialize")
    }

    /// The message as handed to a receiver under `receipt`.
    pub fn delivered(&self, id: &str, receipt: String) -> Message {
        Message {
            id: id.to_owned(),
            receipt,
            body: self.body.clone(),
            attempts: self.attempts,
            priority: self.priority,
            group: self.group.clone(),
            dedup_key: self.dedup.clone(),
            enqueued_at_ms: self.enqueued_at_ms,
            lease_expires_at_ms: self.at,
        }
    }

    pub fn dead_letter(&self, id: &str) -> DeadLetter {
        DeadLetter {
            id: id.to_owned(),
            body: self.body.clone(),
            attempts: self.attempts,
            priority: self.priority,
            group: self.group.clone(),
            enqueued_at_ms: self.enqueued_at_ms,
            dead_at_ms: self.at,
            reason: self.error.clone().unwrap_or_default(),
        }
    }
}

/// The `k` of a priority in lane `a`: higher priorities sort first.
pub(crate) fn rank(priority: u8) -> u8 {
    PRIORITY_MAX - priority.min(PRIORITY_MAX)
}

/// Key bytes of the leading components (queue, lane, then any of `k`).
pub(crate) fn lane_prefix(queue: &str, lane: Lane, k: Option<&Value>) -> Vec<u8> {
    let mut key = Vec::new();
    encode_component(&mut key, Some(&Value::String(queue.to_owned())));
    encode_component(&mut key, Some(&Value::String(lane.tag().to_owned())));
    if let Some(k) = k {
        encode_component(&mut key, Some(k));
    }
    key
}

/// Every key of the queue's messages.
pub(crate) fn queue_range(queue: &str) -> KeyRange {
    let mut key = Vec::new();
    encode_component(&mut key, Some(&Value::String(queue.to_owned())));
    KeyRange::prefixed(key)
}

/// The keys of `lane` with `k` whose `at` is at most `now`: due messages,
/// in `at` order.
pub(crate) fn due_range(queue: &str, lane: Lane, k: u8, now_ms: u64) -> KeyRange {
    let prefix = lane_prefix(queue, lane, Some(&json!(k)));
    let mut end = prefix.clone();
    encode_component(&mut end, Some(&json!(now_ms.saturating_add(1))));
    KeyRange { start: Bound::Included(prefix), end: Bound::Excluded(end) }
}

/// The keys of `lane` with `k` whose `at` is after `now`: the first one is
/// the next to come due.
pub(crate) fn later_range(queue: &str, lane: Lane, k: u8, now_ms: u64) -> KeyRange {
    let prefix = lane_prefix(queue, lane, Some(&json!(k)));
    let mut start = prefix.clone();
    encode_component(&mut start, Some(&json!(now_ms.saturating_add(1))));
    let end = prefix_successor(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
    KeyRange { start: Bound::Included(start), end }
}

/// Every key of one lane (with `k`, when given).
pub(crate) fn lane_range(queue: &str, lane: Lane, k: Option<&Value>) -> KeyRange {
    KeyRange::prefixed(lane_prefix(queue, lane, k))
}

/// A receipt names a message and one delivery's lease: `{id}.{token}`.
pub(crate) fn receipt(id: &str, token: &str) -> String {
    format!("{id}.{token}")
}

/// Splits a receipt into (message id, lease token).
pub(crate) fn parse_receipt(receipt: &str) -> Result<(&str, &str)> {
    receipt
        .rsplit_once('.')
        .filter(|(id, token)| !id.is_empty() && token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| Error::invalid(format!("invalid receipt {receipt:?}: use the receipt a receive returned")))
}

/// A new lease token: 128 random bits in hex.
pub(crate) fn new_token() -> String {
    let (a, b) = (getrandom::u64().unwrap_or(0), getrandom::u64().unwrap_or(0));
    format!("{a:016x}{b:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_ranges_hold_exactly_the_due_keys() {
        let key = |lane: Lane, k: u8, at: u64| {
            let mut key = lane_prefix("q", lane, Some(&json!(k)));
            encode_component(&mut key, Some(&json!(at)));
            key
        };
        let due = due_range("q", Lane::Available, 3, 1_000);
        let later = later_range("q", Lane::Available, 3, 1_000);
        for at in [0, 999, 1_000] {
            assert!(due.contains(&key(Lane::Available, 3, at)) && !later.contains(&key(Lane::Available, 3, at)));
        }
        for at in [1_001, u64::MAX] {
            assert!(!due.contains(&key(Lane::Available, 3, at)) && later.contains(&key(Lane::Available, 3, at)));
        }
        for other in [key(Lane::Available, 2, 5), key(Lane::Available, 4, 5), key(Lane::InFlight, 3, 5)] {
            assert!(!due.contains(&other) && !later.contains(&other));
        }
        assert!(!queue_range("q").contains(&lane_prefix("q2", Lane::Available, None)));
    }

    #[test]
    fn receipts_round_trip_and_bad_ones_are_refused() {
        let token = new_token();
        assert_eq!(token.len(), 32);
        let r = receipt("0190-ab.cd", &token);
        assert_eq!(parse_receipt(&r).expect("parses"), ("0190-ab.cd", token.as_str()));
        for bad in ["", "abc", ".0123456789abcdef0123456789abcdef", "x.0123", "x.0123456789abcdef0123456789abcdeg"] {
            assert!(parse_receipt(bad).is_err(), "{bad}");
        }
        assert_eq!(rank(9), 0);
        assert_eq!(rank(0), 9);
    }
}
