//! The end of the message workload, after the last cycle, on a restarted
//! server: commit one last transaction (its outbox position is the head),
//! drain the queue, wait for the webhook endpoint to reach the head, then
//! hold everything consumers and the receiver saw against the ledger.
//!
//! What must hold: every committed message acked at least once and
//! delivered (accepted) at least once, under the ids its response gave;
//! nothing of a refused transaction received, delivered or stored; a
//! transaction of unknown outcome all or nothing (its document, its queue
//! message and its outbox message together); no message acked twice (an
//! acknowledged ack removed it: it must not come back); the queue empty,
//! no dead letters; every signature valid. Repeats are at-least-once
//! delivery and only counted.

use crate::http::{Outcome, Request, agent, send};
use crate::messages::{Fate, MessageLedger, QUEUE, Seen, order_path, queue_path, webhook_path};
use crate::queue_workload::{Consumer, committed_transaction};
use crate::receiver::{Delivery, Receiver};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The tag of the last transaction.
pub const FINAL_TAG: &str = "final";
/// Longest the drain and the webhook's catching up may take.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(50);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Problem descriptions kept (counts are complete).
const KEPT: usize = 50;

/// What the end of the message workload found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageVerdict {
    /// Transactions acknowledged, of unknown outcome (and of those, found
    /// applied), and refused.
    pub committed: usize,
    pub maybe: usize,
    pub maybe_applied: usize,
    pub rolled_back: usize,
    /// Queue messages received in all, and received more than once.
    pub receives: u64,
    pub received_twice: usize,
    /// Acks answered `acked: false`: the lease had passed to another receive.
    pub stale_acks: u64,
    /// Outbox messages accepted by the receiver, and accepted more than
    /// once; deliveries answered 500.
    pub delivered: usize,
    pub delivered_twice: usize,
    pub failed_deliveries: usize,
    /// Committed queue messages never acked; committed outbox messages
    /// never accepted by the receiver.
    pub queue_lost: usize,
    pub webhook_lost: usize,
    /// Messages of refused transactions received, delivered or stored.
    pub rolled_back_seen: usize,
    pub bad_signatures: usize,
    /// Everything else that must not happen: a transaction of unknown
    /// outcome visible in part, messages nobody sent or acked twice, ids
    /// other than the response gave, leftovers, dead letters, refusals.
    pub other: usize,
    /// The first problems, described.
    pub problems: Vec<String>,
}

impl MessageVerdict {
    pub fn clean(&self) -> bool {
        self.queue_lost == 0
            && self.webhook_lost == 0
            && self.rolled_back_seen == 0
            && self.bad_signatures == 0
            && self.other == 0
    }

    fn keep(&mut self, msg: String) {
        if self.problems.len() < KEPT {
            self.problems.push(msg);
        }
    }

    fn lost(&mut self, queue: bool, msg: String) {
        *(if queue { &mut self.queue_lost } else { &mut self.webhook_lost }) += 1;
        self.keep(format!("lost: {msg}"));
    }

    fn rolled_back_seen(&mut self, msg: String) {
        self.rolled_back_seen += 1;
        self.keep(format!("rolled back, yet {msg}"));
    }

    fn other(&mut self, msg: String) {
        self.other += 1;
        self.keep(msg);
    }
}

/// Runs the end on the server at `base` (the last cycle's writers are
/// gone) and judges.
pub fn finish(base: &str, ledger: &mut MessageLedger, receiver: &Receiver, seed: u64) -> MessageVerdict {
    let mut v = MessageVerdict::default();
    if let Err(e) = run_end(base, ledger, seed, &mut v) {
        v.other(e);
    }
    let docs = read_docs(base, ledger, &mut v);
    judge(ledger, &receiver.deliveries(), &docs, &mut v);
    v
}

fn run_end(base: &str, ledger: &mut MessageLedger, seed: u64, v: &mut MessageVerdict) -> Result<(), String> {
    let head = commit_final(base, ledger)?;
    drain(base, ledger, seed, v)?;
    wait_for_webhook(base, head)?;
    check_leftovers(base, v)
}

/// Commits the last transaction; returns its outbox position, the head.
fn commit_final(base: &str, ledger: &mut MessageLedger) -> Result<u64, String> {
    let (fate, head) = committed_transaction(base, FINAL_TAG)?;
    ledger.sent.insert(FINAL_TAG.to_owned(), fate);
    Ok(head)
}

/// Receives and acks until the queue's stats show nothing ready, delayed,
/// in flight or waiting (leases cut by the last kill expire meanwhile).
fn drain(base: &str, ledger: &mut MessageLedger, seed: u64, v: &mut MessageVerdict) -> Result<(), String> {
    let agent = agent(REQUEST_TIMEOUT);
    let mut consumer = Consumer::new(base, seed);
    let started = Instant::now();
    loop {
        let got = consumer.round(100, 1, 0.0).ok_or("drain: the server stopped answering")?;
        let stats = get(&agent, base, &queue_path(""))?;
        if got == 0 && pending(&stats) == 0 {
            break;
        }
        if started.elapsed() > DRAIN_TIMEOUT {
            v.other(format!("drain: the queue still holds messages after {DRAIN_TIMEOUT:?}: {stats}"));
            break;
        }
    }
    let report = std::mem::take(&mut consumer.report);
    report.anomalies.iter().for_each(|a| v.other(format!("drain: {a}")));
    report.absorb_into(ledger);
    Ok(())
}

/// Messages the queue's stats count as not yet acked (dead letters apart).
fn pending(stats: &Value) -> u64 {
    ["ready", "delayed", "in_flight", "waiting"].iter().map(|k| stats[k].as_u64().unwrap_or(u64::MAX / 8)).sum()
}

/// Waits until the endpoint's position reaches `head`: every message up to
/// it was accepted by the receiver (or dead-lettered: checked next).
fn wait_for_webhook(base: &str, head: u64) -> Result<(), String> {
    let agent = agent(REQUEST_TIMEOUT);
    let started = Instant::now();
    loop {
        let info = get(&agent, base, &webhook_path(""))?;
        if info["position"].as_u64().is_some_and(|p| p >= head) {
            return Ok(());
        }
        if started.elapsed() > WEBHOOK_TIMEOUT {
            return Err(format!(
                "the webhook endpoint did not reach the outbox head {head} in {WEBHOOK_TIMEOUT:?}: {info}"
            ));
        }
        std::thread::sleep(POLL);
    }
}

/// Nothing left in the queue, no dead letters in the queue or the webhook.
fn check_leftovers(base: &str, v: &mut MessageVerdict) -> Result<(), String> {
    let agent = agent(REQUEST_TIMEOUT);
    let stats = get(&agent, base, &queue_path(""))?;
    if pending(&stats) > 0 || stats["dead"].as_u64() != Some(0) {
        v.other(format!("queue {QUEUE} not empty after the drain: {stats}"));
    }
    let dead = get(&agent, base, &webhook_path("/dead-letters"))?;
    if dead["messages"].as_array().is_none_or(|m| !m.is_empty()) {
        v.other(format!("webhook dead letters: {dead}"));
    }
    Ok(())
}

fn get(agent: &ureq::Agent, base: &str, path: &str) -> Result<Value, String> {
    match send(agent, base, &Request::new("GET", path.to_owned(), None)) {
        Outcome::Acked(_, v) => Ok(v),
        other => Err(format!("GET {path}: {}", other.describe())),
    }
}

/// Whether each document of a transaction not acknowledged exists.
fn read_docs(base: &str, ledger: &MessageLedger, v: &mut MessageVerdict) -> BTreeMap<String, bool> {
    let agent = agent(REQUEST_TIMEOUT);
    let mut out = BTreeMap::new();
    for (tag, _) in ledger.sent.iter().filter(|(_, f)| !matches!(f, Fate::Committed { .. })) {
        match send(&agent, base, &Request::new("GET", order_path(tag), None)) {
            Outcome::Acked(..) => out.insert(tag.clone(), true),
            Outcome::Refused(404, _) => out.insert(tag.clone(), false),
            other => {
                v.other(format!("GET {}: {}", order_path(tag), other.describe()));
                None
            }
        };
    }
    out
}

/// What was seen of one tag.
#[derive(Debug, Default)]
struct Sighting<'a> {
    /// Queue messages carrying it.
    queued: Vec<(&'a String, &'a Seen)>,
    /// Deliveries carrying it.
    delivered: Vec<&'a Delivery>,
}

impl Sighting<'_> {
    fn acked(&self) -> bool {
        self.queued.iter().any(|(_, s)| s.maybe_acked())
    }

    fn accepted(&self) -> bool {
        self.delivered.iter().any(|d| d.accepted)
    }

    fn any(&self) -> bool {
        !self.queued.is_empty() || !self.delivered.is_empty()
    }
}

/// Everything seen, by tag.
fn sightings<'a>(seen: &'a BTreeMap<String, Seen>, deliveries: &'a [Delivery]) -> BTreeMap<&'a str, Sighting<'a>> {
    let mut out: BTreeMap<&str, Sighting> = BTreeMap::new();
    for (id, s) in seen {
        out.entry(s.tag.as_str()).or_default().queued.push((id, s));
    }
    for d in deliveries {
        out.entry(d.tag.as_deref().unwrap_or("")).or_default().delivered.push(d);
    }
    out
}

/// Holds the ledger, the deliveries and the documents against each other.
fn judge(ledger: &MessageLedger, deliveries: &[Delivery], docs: &BTreeMap<String, bool>, v: &mut MessageVerdict) {
    let seen = sightings(&ledger.seen, deliveries);
    let none = Sighting::default();
    for (tag, fate) in &ledger.sent {
        let s = seen.get(tag.as_str()).unwrap_or(&none);
        let doc = docs.get(tag).copied();
        match fate {
            Fate::Committed { queue_id, outbox_id } => judge_committed(tag, queue_id, outbox_id, s, v),
            Fate::Maybe => judge_maybe(tag, s, doc, v),
            Fate::RolledBack => judge_rolled_back(tag, s, doc, v),
        }
    }
    for (tag, _) in seen.iter().filter(|(t, _)| !ledger.sent.contains_key(**t)) {
        v.other(format!("messages tagged {tag:?} seen, yet never sent"));
    }
    count_figures(ledger, deliveries, v);
}

fn judge_committed(tag: &str, queue_id: &str, outbox_id: &str, s: &Sighting, v: &mut MessageVerdict) {
    v.committed += 1;
    if !s.queued.iter().any(|(id, x)| id.as_str() == queue_id && x.maybe_acked()) {
        v.lost(true, format!("{tag}: enqueued as {queue_id}, never acked (received {} times)", received(s)));
    }
    if !s.delivered.iter().any(|d| d.id == outbox_id && d.accepted) {
        v.lost(
            false,
            format!("{tag}: published as {outbox_id}, never accepted by the webhook ({} attempts)", s.delivered.len()),
        );
    }
    let queue_ids: BTreeSet<&str> = s.queued.iter().map(|(id, _)| id.as_str()).collect();
    let outbox_ids: BTreeSet<&str> = s.delivered.iter().map(|d| d.id.as_str()).collect();
    if queue_ids.iter().any(|id| *id != queue_id) || outbox_ids.iter().any(|id| *id != outbox_id) {
        v.other(format!("{tag}: seen under other ids (queue {queue_ids:?}, webhook {outbox_ids:?}) than its response gave ({queue_id}, {outbox_id})"));
    }
}

/// A transaction of unknown outcome: its document, its queue message and
/// its outbox message all exist, or none does.
fn judge_maybe(tag: &str, s: &Sighting, doc: Option<bool>, v: &mut MessageVerdict) {
    v.maybe += 1;
    let (acked, accepted) = (s.acked(), s.accepted());
    match doc {
        Some(d) if d == acked && d == accepted => v.maybe_applied += usize::from(d),
        Some(d) => v.other(format!(
            "{tag} (outcome unknown) visible in part: document {d}, queue message acked {acked}, webhook accepted {accepted}"
        )),
        None => {} // the document could not be read: reported by read_docs
    }
}

fn judge_rolled_back(tag: &str, s: &Sighting, doc: Option<bool>, v: &mut MessageVerdict) {
    v.rolled_back += 1;
    if s.any() {
        v.rolled_back_seen(format!("{tag}: received {} times, delivered {} times", received(s), s.delivered.len()));
    }
    if doc == Some(true) {
        v.rolled_back_seen(format!("{tag}: its document is stored"));
    }
}

fn received(s: &Sighting) -> u32 {
    s.queued.iter().map(|(_, x)| x.received).sum()
}

/// Repeats (figures), acks twice and bad signatures (problems).
fn count_figures(ledger: &MessageLedger, deliveries: &[Delivery], v: &mut MessageVerdict) {
    v.stale_acks = ledger.stale_acks;
    for (id, s) in &ledger.seen {
        v.receives += u64::from(s.received);
        v.received_twice += usize::from(s.received > 1);
        if s.acked > 1 {
            v.other(format!(
                "message {id} ({}) acked {} times: it came back after an acknowledged ack",
                s.tag, s.acked
            ));
        }
    }
    let mut accepted: BTreeMap<&str, usize> = BTreeMap::new();
    for d in deliveries {
        if d.accepted {
            *accepted.entry(&d.id).or_default() += 1;
        }
        v.failed_deliveries += usize::from(!d.accepted);
        if !d.signed {
            v.bad_signatures += 1;
            v.keep(format!("bad signature: delivery of {} ({:?})", d.id, d.tag));
        }
    }
    v.delivered = accepted.len();
    v.delivered_twice = accepted.values().filter(|n| **n > 1).count();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(q: &str, o: &str) -> Fate {
        Fate::Committed { queue_id: q.into(), outbox_id: o.into() }
    }

    fn delivery(id: &str, tag: &str, accepted: bool) -> Delivery {
        Delivery { id: id.into(), tag: Some(tag.into()), accepted, signed: true }
    }

    fn judged(ledger: &MessageLedger, deliveries: &[Delivery], docs: &[(&str, bool)]) -> MessageVerdict {
        let docs = docs.iter().map(|(t, d)| ((*t).to_owned(), *d)).collect();
        let mut v = MessageVerdict::default();
        judge(ledger, deliveries, &docs, &mut v);
        v
    }

    #[test]
    fn committed_messages_must_be_acked_and_delivered_repeats_are_figures() {
        let mut l = MessageLedger::default();
        l.sent.insert("a".into(), committed("q1", "o1"));
        l.sent.insert("b".into(), committed("q2", "o2"));
        l.record_received("q1", "a");
        l.record_received("q1", "a");
        l.record_acked("q1");
        // b's only ack lost its response and b never came back: acked.
        l.record_received("q2", "b");
        l.record_ack_unknown("q2");
        let d = [delivery("o1", "a", false), delivery("o1", "a", true), delivery("o1", "a", true)];
        let v = judged(&l, &d, &[]);
        assert_eq!((v.queue_lost, v.webhook_lost, v.other), (0, 1, 0), "{:?}", v.problems);
        assert!(v.problems[0].contains("o2"), "{:?}", v.problems);
        assert_eq!((v.received_twice, v.delivered, v.delivered_twice, v.failed_deliveries), (1, 1, 1, 1));
    }

    #[test]
    fn rolled_back_unknown_and_twice_acked_messages_are_judged() {
        let mut l = MessageLedger::default();
        l.sent.insert("r".into(), Fate::RolledBack);
        l.sent.insert("m1".into(), Fate::Maybe);
        l.sent.insert("m2".into(), Fate::Maybe);
        l.sent.insert("m3".into(), Fate::Maybe);
        l.record_received("q9", "r");
        // m1 applied in full, m2 not at all, m3 in part.
        l.record_received("q1", "m1");
        l.record_acked("q1");
        l.record_received("q3", "m3");
        l.record_acked("q3");
        l.record_acked("q3");
        let d = [delivery("o1", "m1", true), delivery("o7", "stray", true)];
        let v = judged(&l, &d, &[("r", false), ("m1", true), ("m2", false), ("m3", true)]);
        assert_eq!(v.rolled_back_seen, 1, "{:?}", v.problems);
        assert_eq!((v.maybe, v.maybe_applied), (3, 1));
        // m3 in part, the stray tag, q3 acked twice.
        assert_eq!(v.other, 3, "{:?}", v.problems);
        assert!(!v.clean());
    }
}
