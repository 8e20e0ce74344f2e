//! Webhook endpoints: outbox messages delivered to HTTP endpoints, one
//! endpoint's messages in position order, with a retry schedule, a circuit
//! breaker, dead letters with replay, and a log of every attempt.
//!
//! The engine keeps the state; the server's dispatcher makes the calls
//! (signing, SSRF rules, timeouts) and reports each attempt back. Stored in
//! reserved collections:
//! - `_webhooks`: one record per endpoint (id = name): URL, topics, secret,
//!   the position delivered up to and the retry state;
//! - `_webhook_log`: one record per attempt (id = `{endpoint}@{UUIDv7}`),
//!   kept for 7 days;
//! - `_webhook_dead`: messages given up on (id = `{endpoint}@{message}`).
//!
//! Invariants: an endpoint's position only moves forward, past a message
//! once it was delivered or dead-lettered, so every message is delivered at
//! least once or listed as dead; a report about a message the endpoint has
//! already moved past is ignored (a slow or duplicate dispatcher cannot move
//! it back).

pub(crate) mod api;
pub(crate) mod store;
pub(crate) mod types;

/// Failures in a row after which an endpoint's circuit is open.
pub const CIRCUIT_OPEN_FAILURES: u32 = 5;

/// The stored id prefix of an endpoint's log and dead-letter records.
pub(crate) fn prefix(endpoint: &str) -> String {
    format!("{endpoint}@")
}
