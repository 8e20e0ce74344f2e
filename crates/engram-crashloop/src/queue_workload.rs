//! The message workload of one cycle, beside the document writers:
//! producers commit transactions that put a document, enqueue a message
//! and publish an outbox message (a share refused on purpose, after both
//! messages were written), and consumers receive (some with a long poll)
//! and ack, until the server dies under them.

use crate::http::{Outcome, Request, agent, send};
use crate::ledger::SPACE;
use crate::messages::{
    ANCHOR, Fate, MessageLedger, ORDERS, QUEUE, TOPIC, VISIBILITY_SECONDS, message_body, queue_path, tag_of,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Producer and consumer threads per cycle.
const PRODUCERS: usize = 2;
const CONSUMERS: usize = 2;
/// Share of transactions refused on purpose.
const ROLLED_BACK_SHARE: f64 = 0.2;
/// Share of received messages a consumer never acks: their lease expires
/// and they are delivered again (at-least-once, on purpose).
const FORGET_SHARE: f64 = 0.05;
/// Share of receives that long-poll, and for how long.
const LONG_POLL_SHARE: f64 = 0.3;
const LONG_POLL_SECONDS: u64 = 1;
/// Longest pause between a producer's transactions: the webhook delivers
/// one message at a time, and the backlog must not outgrow the run.
const PRODUCER_PAUSE_MS: u64 = 12;
/// Pause of a consumer after an empty receive that did not wait.
const IDLE_PAUSE: Duration = Duration::from_millis(10);
/// How long one request may take before its outcome counts as unknown.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What one producer or consumer saw in a cycle.
#[derive(Debug, Default)]
pub struct MessageReport {
    /// Transactions sent, by tag.
    pub sent: Vec<(String, Fate)>,
    /// (message id, tag) of every message received.
    pub received: Vec<(String, String)>,
    /// Ids of the messages whose ack answered `acked: true`.
    pub acked: Vec<String>,
    /// Ids of the messages whose ack's response was lost.
    pub ack_unknown: Vec<String>,
    pub stale_acks: u64,
    /// Requests whose response was lost.
    pub unknown: u64,
    /// Responses that must never happen.
    pub anomalies: Vec<String>,
}

impl MessageReport {
    /// Takes the report into the ledger.
    pub fn absorb_into(self, ledger: &mut MessageLedger) {
        ledger.sent.extend(self.sent);
        for (id, tag) in &self.received {
            ledger.record_received(id, tag);
        }
        self.acked.iter().for_each(|id| ledger.record_acked(id));
        self.ack_unknown.iter().for_each(|id| ledger.record_ack_unknown(id));
        ledger.stale_acks += self.stale_acks;
        ledger.unknown += self.unknown;
    }
}

/// Starts the producers and consumers of one cycle; they stop when `stop`
/// is set or the server stops answering.
pub fn spawn(base: &str, cycle: usize, rng: &mut StdRng, stop: &Arc<AtomicBool>) -> Vec<JoinHandle<MessageReport>> {
    let mut handles = Vec::new();
    for p in 0..PRODUCERS {
        let (base, seed, stop) = (base.to_owned(), rng.random(), stop.clone());
        handles.push(std::thread::spawn(move || run_producer(&base, cycle, p, seed, &stop)));
    }
    for _ in 0..CONSUMERS {
        let (base, seed, stop) = (base.to_owned(), rng.random(), stop.clone());
        handles.push(std::thread::spawn(move || run_consumer(&base, seed, &stop)));
    }
    handles
}

fn run_producer(base: &str, cycle: usize, p: usize, seed: u64, stop: &AtomicBool) -> MessageReport {
    let (agent, mut rng) = (agent(REQUEST_TIMEOUT), StdRng::seed_from_u64(seed));
    let mut report = MessageReport::default();
    for seq in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let tag = format!("c{cycle}-p{p}-{seq}");
        let doomed = rng.random_bool(ROLLED_BACK_SHARE);
        let request = transaction(&tag, doomed, rng.random_range(0..=9));
        let (fate, answered) = judge(&send(&agent, base, &request), &tag, doomed, &mut report.anomalies);
        report.sent.push((tag, fate));
        if !answered {
            report.unknown += 1;
            break;
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(0..=PRODUCER_PAUSE_MS)));
    }
    report
}

/// A document put, an enqueue and a publish, tagged alike; when `doomed`,
/// followed by a create of the anchor, which exists: the whole transaction
/// must be refused (409), its messages with it.
fn transaction(tag: &str, doomed: bool, priority: u8) -> Request {
    let body = message_body(tag, doomed);
    let mut ops = vec![
        json!({"op": "put", "collection": ORDERS, "id": tag, "body": body, "expect": "absent"}),
        json!({"op": "enqueue", "queue": QUEUE, "message": {"body": body, "priority": priority}}),
        json!({"op": "publish", "topic": TOPIC, "payload": body}),
    ];
    if doomed {
        ops.push(json!({"op": "put", "collection": ORDERS, "id": ANCHOR, "body": body, "expect": "absent"}));
    }
    Request::new("POST", format!("/v1/spaces/{SPACE}/transactions"), Some(json!({ "ops": ops })))
}

/// Sends one transaction that must commit (the last one, after the
/// cycles); returns its fate and its outbox message's position.
pub fn committed_transaction(base: &str, tag: &str) -> Result<(Fate, u64), String> {
    let outcome = send(&agent(REQUEST_TIMEOUT), base, &transaction(tag, false, 0));
    let Outcome::Acked(_, v) = &outcome else { return Err(format!("transaction {tag}: {}", outcome.describe())) };
    let position = v["results"][2]["position"].as_u64().ok_or_else(|| format!("{tag}: no position in {v}"))?;
    Ok((judge(&outcome, tag, false, &mut Vec::new()).0, position))
}

/// The transaction's fate from its outcome, and whether a response came.
fn judge(outcome: &Outcome, tag: &str, doomed: bool, anomalies: &mut Vec<String>) -> (Fate, bool) {
    match outcome {
        Outcome::Unknown(_) if doomed => (Fate::RolledBack, false),
        Outcome::Unknown(_) => (Fate::Maybe, false),
        Outcome::Refused(409, _) if doomed => (Fate::RolledBack, true),
        Outcome::Acked(_, v) if !doomed => match (v["results"][1]["id"].as_str(), v["results"][2]["id"].as_str()) {
            (Some(q), Some(o)) => (Fate::Committed { queue_id: q.to_owned(), outbox_id: o.to_owned() }, true),
            _ => {
                anomalies.push(format!("transaction {tag}: no message ids in {v}"));
                (Fate::Maybe, true)
            }
        },
        other => {
            let want = if doomed { "409" } else { "2xx" };
            anomalies.push(format!("transaction {tag}: expected {want}, got {}", other.describe()));
            // Refused: nothing written. Acknowledged though doomed: its
            // marked messages will show and be counted as well.
            (Fate::RolledBack, true)
        }
    }
}

fn run_consumer(base: &str, seed: u64, stop: &AtomicBool) -> MessageReport {
    let mut c = Consumer::new(base, seed);
    while !stop.load(Ordering::SeqCst) {
        let wait = if c.rng.random_bool(LONG_POLL_SHARE) { LONG_POLL_SECONDS } else { 0 };
        let max = c.rng.random_range(1..=10);
        match c.round(max, wait, FORGET_SHARE) {
            None => break,
            Some(0) if wait == 0 => std::thread::sleep(IDLE_PAUSE),
            Some(_) => {}
        }
    }
    c.report
}

/// A queue consumer: receives, then acks what it keeps.
pub struct Consumer {
    base: String,
    agent: ureq::Agent,
    rng: StdRng,
    pub report: MessageReport,
}

impl Consumer {
    pub fn new(base: &str, seed: u64) -> Self {
        Self {
            base: base.to_owned(),
            agent: agent(REQUEST_TIMEOUT),
            rng: StdRng::seed_from_u64(seed),
            report: MessageReport::default(),
        }
    }

    /// Receives up to `max` messages (long-polling `wait` seconds) and acks
    /// them but a `forget` share. Returns how many came, None when a
    /// response was lost.
    pub fn round(&mut self, max: usize, wait: u64, forget: f64) -> Option<usize> {
        let body = json!({"max_messages": max, "visibility_timeout_seconds": VISIBILITY_SECONDS, "wait_seconds": wait});
        let messages = match self.call(queue_path("/receive"), body)? {
            Some(v) => v["messages"].as_array().cloned().unwrap_or_default(),
            None => return Some(0),
        };
        let mut receipts = HashMap::new();
        for m in &messages {
            let (id, receipt) = (m["id"].as_str().unwrap_or_default(), m["receipt"].as_str().unwrap_or_default());
            let Some(tag) = tag_of(&m["body"]) else {
                self.report.anomalies.push(format!("received message {id} without a tag: {m}"));
                continue;
            };
            self.report.received.push((id.to_owned(), tag.to_owned()));
            if !self.rng.random_bool(forget) {
                receipts.insert(receipt.to_owned(), id.to_owned());
            }
        }
        self.ack(receipts)?;
        Some(messages.len())
    }

    /// Acks the receipts (receipt → message id).
    fn ack(&mut self, receipts: HashMap<String, String>) -> Option<()> {
        if receipts.is_empty() {
            return Some(());
        }
        let body = json!({"receipts": receipts.keys().collect::<Vec<_>>()});
        let Some(answer) = self.call(queue_path("/ack"), body) else {
            self.report.ack_unknown.extend(receipts.into_values());
            return None;
        };
        let Some(v) = answer else { return Some(()) };
        for r in v["results"].as_array().into_iter().flatten() {
            let id = r["receipt"].as_str().and_then(|k| receipts.get(k));
            match (id, r["acked"].as_bool()) {
                (Some(id), Some(true)) => self.report.acked.push(id.clone()),
                (Some(_), Some(false)) => self.report.stale_acks += 1,
                _ => self.report.anomalies.push(format!("ack: an unexpected result {r}")),
            }
        }
        Some(())
    }

    /// POSTs `body`: Some(Some(response)) when acknowledged, Some(None)
    /// when refused (an anomaly), None when the response was lost.
    fn call(&mut self, path: String, body: Value) -> Option<Option<Value>> {
        match send(&self.agent, &self.base, &Request::new("POST", path.clone(), Some(body))) {
            Outcome::Acked(_, v) => Some(Some(v)),
            refused @ Outcome::Refused(..) => {
                self.report.anomalies.push(format!("{path}: {}", refused.describe()));
                Some(None)
            }
            Outcome::Unknown(_) => {
                self.report.unknown += 1;
                None
            }
        }
    }
}
