//! The message ledger: what producers were told about their transactions
//! (each a document put, an `enqueue` and a `publish`, committed or rolled
//! back together) and what consumers saw of the queue, across cycles.
//!
//! Messages are told apart by a tag in their body (the queue message's
//! body and the outbox payload alike), not by id: a transaction whose
//! response was lost never told its ids, yet its messages may exist.

use crate::http::Request;
use crate::ledger::SPACE;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The queue the producers enqueue to.
pub const QUEUE: &str = "jobs";
/// The outbox topic the producers publish to (the webhook's only topic).
pub const TOPIC: &str = "job.created";
/// The collection of the producers' documents (not one the document
/// verifier reads: it has its own ledger here).
pub const ORDERS: &str = "orders";
/// The document every refused transaction tries to create again.
pub const ANCHOR: &str = "anchor";
/// The webhook endpoint.
pub const WEBHOOK: &str = "crashloop";
/// Lease of a receive: short, so leases cut by a kill come back soon.
pub const VISIBILITY_SECONDS: u64 = 2;
/// Deliveries before a message is dead-lettered: every kill may cost a
/// lease, and a dead letter would hide a message from the final drain.
pub const MAX_ATTEMPTS: u32 = 1000;

/// How a producer's transaction ended, as far as the producer knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Acknowledged: the ids its response gave its two messages.
    Committed { queue_id: String, outbox_id: String },
    /// Must never show: refused on purpose (an `expect: absent` on the
    /// anchor) or refused anyway, whether or not the response arrived.
    RolledBack,
    /// The response was lost: it may or may not have committed.
    Maybe,
}

/// One queue message (by id) as consumers saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    pub tag: String,
    /// Receives that returned it.
    pub received: u32,
    /// Acknowledgements answered `acked: true`. A second one means the
    /// message came back after an acknowledged ack removed it.
    pub acked: u32,
    /// Acknowledgements whose response was lost: each may have removed
    /// the message (if not, its lease expires and the drain receives it).
    pub ack_unknown: u32,
}

impl Seen {
    /// Acked for sure, or perhaps by an ack whose response was lost.
    pub fn maybe_acked(&self) -> bool {
        self.acked > 0 || self.ack_unknown > 0
    }
}

/// Everything producers and consumers were told, across cycles.
#[derive(Debug, Clone, Default)]
pub struct MessageLedger {
    /// Producer transactions by tag.
    pub sent: BTreeMap<String, Fate>,
    /// Queue messages by id.
    pub seen: BTreeMap<String, Seen>,
    /// Receives and acks whose response was lost.
    pub unknown: u64,
    /// Acks answered `acked: false` (the lease had passed to another
    /// receiver): normal under at-least-once.
    pub stale_acks: u64,
}

impl MessageLedger {
    pub fn record_received(&mut self, id: &str, tag: &str) {
        let s = self.seen.entry(id.to_owned()).or_default();
        s.tag = tag.to_owned();
        s.received += 1;
    }

    pub fn record_acked(&mut self, id: &str) {
        self.seen.entry(id.to_owned()).or_default().acked += 1;
    }

    pub fn record_ack_unknown(&mut self, id: &str) {
        self.seen.entry(id.to_owned()).or_default().ack_unknown += 1;
    }

    /// Messages sent this cycle or before.
    pub fn count(&self, f: impl Fn(&Fate) -> bool) -> usize {
        self.sent.values().filter(|x| f(x)).count()
    }
}

/// The body of a producer's queue message and outbox payload.
pub fn message_body(tag: &str, rolled_back: bool) -> Value {
    json!({"tag": tag, "rolled_back": rolled_back})
}

/// The tag of a message body or payload.
pub fn tag_of(body: &Value) -> Option<&str> {
    body["tag"].as_str()
}

pub fn queue_path(suffix: &str) -> String {
    format!("/v1/spaces/{SPACE}/queues/{QUEUE}{suffix}")
}

pub fn webhook_path(suffix: &str) -> String {
    format!("/v1/spaces/{SPACE}/webhooks/{WEBHOOK}{suffix}")
}

pub fn order_path(id: &str) -> String {
    format!("/v1/spaces/{SPACE}/collections/{ORDERS}/docs/{id}")
}

/// The setup of the message workload, after the space exists: the queue's
/// settings, the producers' collection and its anchor document.
pub fn setup_requests() -> Vec<Request> {
    let config = json!({"visibility_timeout_seconds": VISIBILITY_SECONDS, "max_attempts": MAX_ATTEMPTS});
    vec![
        Request::new("PUT", queue_path(""), Some(config)),
        Request::new("PUT", format!("/v1/spaces/{SPACE}/collections/{ORDERS}"), Some(json!({}))),
        Request::new("PUT", order_path(ANCHOR), Some(json!({"anchor": true}))),
    ]
}

/// The webhook endpoint's creation, pointing to the receiver at `url`.
pub fn webhook_request(url: &str) -> Request {
    Request::new("PUT", webhook_path(""), Some(json!({"url": url, "topics": [TOPIC]})))
}
