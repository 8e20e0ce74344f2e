//! Queue operations inside a transaction: enqueue, receive, acknowledge,
//! retry, extend, dead-letter, redrive and purge.
//!
//! Invariants (all kept under the space's write lock):
//! - a message is in exactly one lane (see [`Lane`]);
//! - a group has at most one message outside lane `w` and not dead: its
//!   head, named by the group's record; when the head leaves (acked,
//!   dead-lettered, purged) the oldest waiting message takes its place;
//! - a deduplication key record exists exactly while its message is live
//!   (not acknowledged, not dead-lettered).

use crate::apply::Writer;
use crate::catalog::Compiled;
use crate::queues::combine::{Ask, Served};
use crate::queues::record::{MessageRecord, due_range, lane_range, later_range, new_token, parse_receipt, receipt};
use crate::queues::types::Message;
use crate::queues::types::{AckOutcome, Enqueued, MessageInput, NackOutcome, NackRequest, QueueConfig};
use crate::queues::{Lane, keyed_id};
use crate::system::{System, scan_range};
use crate::system_many::SystemWrite;
use engram_core::backend::{CollectionRow, Reader, StoredDoc};
use engram_core::keys::KeyRange;
use engram_core::limits::{PRIORITY_MAX, RECEIVE_MAX};
use engram_core::{Error, Result};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// The `lane` index of `_messages`.
const LANE_INDEX: &str = "lane";

/// A leased message (its collection, id and record), or why the receipt
/// no longer holds its lease.
type Leased = std::result::Result<(Arc<Compiled>, String, MessageRecord), String>;

impl Writer<'_> {
    /// The queue's settings; with `create`, a missing queue is created with
    /// the defaults.
    pub(crate) fn queue_config(&mut self, queue: &str, create: bool) -> Result<Option<QueueConfig>> {
        let Some(coll) = self.system(System::Queues, create)? else { return Ok(None) };
        if let Some(doc) = self.tx.doc(coll.row.id, queue)? {
            let config = serde_json::from_str(&doc.body)
                .map_err(|e| Error::corrupted(format!("stored settings of queue {queue:?}: {e}")))?;
            return Ok(Some(config));
        }
        if !create {
            return Ok(None);
        }
        self.store_config(&coll, queue, QueueConfig::default()).map(Some)
    }

    /// Replaces the queue's settings (creating the queue).
    pub(crate) fn set_queue_config(&mut self, queue: &str, config: QueueConfig) -> Result<QueueConfig> {
        config.validate()?;
        let coll = self.system_created(System::Queues)?;
        self.store_config(&coll, queue, config)
    }

    fn store_config(&mut self, coll: &Compiled, queue: &str, config: QueueConfig) -> Result<QueueConfig> {
        let text = serde_json::to_string(&config).expect("settings serialize");
        self.put_system_text(coll, queue, text, None)?;
        Ok(config)
    }

    /// Enqueues one message (its body already checked by
    /// `MessageInput::validate`).
    pub(crate) fn enqueue(&mut self, queue: &str, input: &MessageInput) -> Result<Enqueued> {
        self.queue_config(queue, true)?;
        let messages = self.system_created(System::Messages)?;
        if let Some(key) = &input.dedup_key
            && let Some(id) = self.live_key(queue, key)?
        {
            return Ok(Enqueued { id, deduplicated: true, position: 0 });
        }
        let id = uuid::Uuid::now_v7().to_string();
        let now = self.now_ms;
        let mut rec = MessageRecord {
            queue: queue.to_owned(),
            lane: String::new(),
            k: Value::Null,
            at: 0,
            seq: self.tick(),
            priority: input.priority.unwrap_or(0).min(PRIORITY_MAX),
            group: input.group.clone(),
            dedup: input.dedup_key.clone(),
            attempts: 0,
            enqueued_at_ms: now,
            not_before_ms: now.saturating_add(input.delay_seconds.unwrap_or(0).saturating_mul(1000)),
            lease: None,
            error: None,
            body: input.body.clone(),
        };
        self.place(&id, &mut rec)?;
        // A new id (UUIDv7): nothing stored to read first.
        let new = SystemWrite { id: id.clone(), old: None, new: Some(rec.to_value()) };
        let position = self.write_system(&messages, &[new])?[0];
        if let Some(key) = &input.dedup_key {
            let keys = self.system_created(System::QueueKeys)?;
            self.put_system_text(&keys, &keyed_id(queue, key), json!({ "message": id }).to_string(), None)?;
        }
        Ok(Enqueued { id, deduplicated: false, position })
    }

    /// The message holding a live deduplication key, if any.
    fn live_key(&mut self, queue: &str, key: &str) -> Result<Option<String>> {
        let Some(keys) = self.system(System::QueueKeys, false)? else { return Ok(None) };
        let Some(doc) = self.tx.doc(keys.row.id, &keyed_id(queue, key))? else { return Ok(None) };
        let v: Value = serde_json::from_str(&doc.body)
            .map_err(|e| Error::corrupted(format!("stored deduplication key {:?}: {e}", doc.id)))?;
        Ok(v["message"].as_str().map(str::to_owned))
    }

    /// Notes that messages of `queue` may have become receivable (see
    /// `Writer::readied`).
    fn readied(&mut self, queue: &str) {
        if !self.readied.iter().any(|q| q == queue) {
            self.readied.push(queue.to_owned());
        }
    }

    /// Puts a message entering the queue (new or redriven) in its lane: the
    /// head of its group or waiting behind it; available after its delay.
    fn place(&mut self, id: &str, rec: &mut MessageRecord) -> Result<()> {
        if let Some(group) = rec.group.clone() {
            let groups = self.system_created(System::QueueGroups)?;
            let gid = keyed_id(&rec.queue, &group);
            if self.tx.doc(groups.row.id, &gid)?.is_some() {
                rec.set_lane(Lane::Waiting, 0);
                return Ok(());
            }
            self.put_system_text(&groups, &gid, json!({ "head": id }).to_string(), None)?;
        }
        let at = rec.not_before_ms.max(self.now_ms);
        rec.set_lane(Lane::Available, at);
        self.readied(&rec.queue);
        Ok(())
    }

    /// Leases receivable messages, highest priority first, for the
    /// receive attempts `asks` in turn (each its `n` messages for its
    /// visibility, or the queue's): every message leased goes to one of
    /// them. Leases that expired return to the queue first (dead-lettered
    /// when their attempts are spent). When the queue runs out, also when
    /// its next message comes due, read here under the lock, so a
    /// receiver that got nothing sleeps until then without missing a
    /// message that comes due meanwhile (what is enqueued after this write
    /// wakes a receiver).
    pub(crate) fn receive(&mut self, queue: &str, asks: &[Ask]) -> Result<Served> {
        let mut served = Served { shares: vec![Vec::new(); asks.len()], next_due_ms: None };
        let Some(config) = self.queue_config(queue, false)? else { return Ok(served) };
        let Some(messages) = self.system(System::Messages, false)? else { return Ok(served) };
        self.return_expired(&messages, queue, &config)?;
        let wanted: usize = asks.iter().map(|a| a.n).sum();
        let due = {
            let reader: &dyn Reader = &*self.tx;
            due_messages(reader, &messages.row, queue, self.now_ms, wanted)?
        };
        let ran_out = due.messages.len() < wanted;
        let mut due_now = due.messages.into_iter();
        let mut writes = Vec::new();
        for (ask, share) in asks.iter().zip(&mut served.shares) {
            let visibility = ask.visibility_ms.unwrap_or(config.visibility_timeout_seconds.saturating_mul(1000));
            for (doc, rec) in due_now.by_ref().take(ask.n) {
                let (write, message) = self.lease(doc, rec, visibility);
                writes.push(write);
                share.push(message);
            }
        }
        self.write_system(&messages, &writes)?;
        if ran_out {
            let expiry = self.next_expiry(&messages, queue)?;
            served.next_due_ms = [due.next_ms, expiry].into_iter().flatten().min();
        }
        Ok(served)
    }

    /// When the first lease after now ends.
    fn next_expiry(&mut self, messages: &Compiled, queue: &str) -> Result<Option<u64>> {
        let range = later_range(queue, Lane::InFlight, 0, self.now_ms);
        self.scan_lane(messages, &range, 1)?.first().map(|doc| MessageRecord::parse(doc).map(|r| r.at)).transpose()
    }

    fn scan_lane(&mut self, messages: &Compiled, range: &KeyRange, limit: usize) -> Result<Vec<StoredDoc>> {
        let reader: &dyn Reader = &*self.tx;
        scan_range(reader, &messages.row, LANE_INDEX, range, limit)
    }

    /// Returns expired leases to lane `a` at their expiry (so they keep
    /// their place), or dead-letters them when their attempts are spent.
    fn return_expired(&mut self, messages: &Compiled, queue: &str, config: &QueueConfig) -> Result<()> {
        let range = due_range(queue, Lane::InFlight, 0, self.now_ms);
        let mut returned = Vec::new();
        for doc in self.scan_lane(messages, &range, RECEIVE_MAX)? {
            let mut rec = MessageRecord::parse(&doc)?;
            rec.lease = None;
            if rec.attempts >= config.max_attempts {
                let reason = format!("lease expired on attempt {} of {}", rec.attempts, config.max_attempts);
                self.kill(messages, &doc.id, rec, reason)?;
            } else {
                let at = rec.at;
                rec.set_lane(Lane::Available, at);
                self.readied(queue);
                returned.push(SystemWrite { id: doc.id.clone(), new: Some(rec.to_value()), old: Some(doc) });
            }
        }
        self.write_system(messages, &returned).map(drop)
    }

    /// Leases one available message (`doc` as stored): its new record to
    /// write, and the message as delivered.
    fn lease(&self, doc: StoredDoc, mut rec: MessageRecord, visibility_ms: u64) -> (SystemWrite, Message) {
        let token = new_token();
        rec.attempts = rec.attempts.saturating_add(1);
        rec.lease = Some(token.clone());
        rec.set_lane(Lane::InFlight, self.now_ms.saturating_add(visibility_ms));
        let message = rec.delivered(&doc.id, receipt(&doc.id, &token));
        (SystemWrite { id: doc.id.clone(), new: Some(rec.to_value()), old: Some(doc) }, message)
    }

    /// The message a receipt leases, if the receipt still holds the lease.
    fn leased(&mut self, queue: &str, receipt: &str) -> Result<Leased> {
        let (id, token) = parse_receipt(receipt)?;
        let Some(messages) = self.system(System::Messages, false)? else {
            return Ok(Err("the message no longer exists".to_owned()));
        };
        let doc = self.tx.doc(messages.row.id, id)?;
        Ok(holds_lease(queue, token, doc.as_ref())?.map(|rec| (messages, id.to_owned(), rec)))
    }

    /// Removes leased messages, reading them with one call and deleting
    /// them with another. A lease that expired but was not yet handed to
    /// another receiver still holds. The outcomes are those of the
    /// receipts acknowledged one by one: a second receipt of one message
    /// finds it gone.
    pub(crate) fn ack(&mut self, queue: &str, receipts: &[String]) -> Result<Vec<AckOutcome>> {
        let parsed = receipts.iter().map(|r| parse_receipt(r)).collect::<Result<Vec<_>>>()?;
        let outcome = |receipt: &str, why: Option<String>| AckOutcome {
            receipt: receipt.to_owned(),
            acked: why.is_none(),
            error: why,
        };
        let Some(messages) = self.system(System::Messages, false)? else {
            let gone = || Some("the message no longer exists".to_owned());
            return Ok(receipts.iter().map(|r| outcome(r, gone())).collect());
        };
        let ids: Vec<&str> = parsed.iter().map(|(id, _)| *id).collect();
        let mut stored: HashMap<String, StoredDoc> =
            self.tx.docs(messages.row.id, &ids)?.into_iter().map(|d| (d.id.clone(), d)).collect();
        let (mut outcomes, mut deletes, mut released) = (Vec::new(), Vec::new(), Vec::new());
        for (receipt, (id, token)) in receipts.iter().zip(parsed) {
            match holds_lease(queue, token, stored.get(id))? {
                Err(why) => outcomes.push(outcome(receipt, Some(why))),
                Ok(rec) => {
                    let old = stored.remove(id);
                    deletes.push(SystemWrite { id: id.to_owned(), old, new: None });
                    released.push((id, rec));
                    outcomes.push(outcome(receipt, None));
                }
            }
        }
        self.write_system(&messages, &deletes)?;
        // No message released here is another's lease: a group has one
        // message out at a time, and a key names one message.
        for (id, rec) in released {
            self.release(id, &rec)?;
        }
        Ok(outcomes)
    }

    /// Returns a leased message to the queue after a backoff (or the delay
    /// given), or dead-letters it when its attempts are spent.
    pub(crate) fn nack(&mut self, queue: &str, receipt: &str, req: &NackRequest) -> Result<NackOutcome> {
        let (messages, id, mut rec) = self.leased(queue, receipt)?.map_err(Error::conflict)?;
        let config = self.queue_config(&rec.queue.clone(), false)?.unwrap_or_default();
        rec.lease = None;
        rec.error = req.error.clone();
        if rec.attempts >= config.max_attempts {
            let reason = match &req.error {
                Some(e) => format!("attempt {} of {} failed: {e}", rec.attempts, config.max_attempts),
                None => format!("attempt {} of {} failed", rec.attempts, config.max_attempts),
            };
            self.kill(&messages, &id, rec, reason)?;
            return Ok(NackOutcome { id, dead_lettered: true, visible_at_ms: None });
        }
        let delay_ms = match req.delay_seconds {
            Some(s) => s.saturating_mul(1000),
            None => backoff_ms(&config, rec.attempts),
        };
        let at = self.now_ms.saturating_add(delay_ms);
        rec.set_lane(Lane::Available, at);
        self.readied(queue);
        self.put_system(&messages, &id, &rec.to_value(), None)?;
        Ok(NackOutcome { id, dead_lettered: false, visible_at_ms: Some(at) })
    }

    /// Extends a lease to `visibility_ms` from now; returns the new expiry.
    pub(crate) fn extend(&mut self, queue: &str, receipt: &str, visibility_ms: u64) -> Result<u64> {
        let (messages, id, mut rec) = self.leased(queue, receipt)?.map_err(Error::conflict)?;
        let at = self.now_ms.saturating_add(visibility_ms);
        rec.set_lane(Lane::InFlight, at);
        self.put_system(&messages, &id, &rec.to_value(), None)?;
        Ok(at)
    }

    /// Moves a message to the dead letters and lets its group go on.
    fn kill(&mut self, messages: &Compiled, id: &str, mut rec: MessageRecord, reason: String) -> Result<()> {
        rec.error = Some(reason);
        rec.lease = None;
        rec.set_lane(Lane::Dead, self.now_ms);
        self.put_system(messages, id, &rec.to_value(), None)?;
        self.release(id, &rec)
    }

    /// A message left the live queue: frees its deduplication key and, if
    /// it headed its group, hands the group to the oldest waiting message.
    fn release(&mut self, id: &str, rec: &MessageRecord) -> Result<()> {
        self.free_key(id, rec)?;
        if let Some((groups, gid, group)) = self.headed_group(id, rec)? {
            self.promote(&groups, &gid, &rec.queue, &group)?;
        }
        Ok(())
    }

    /// Deletes the message's deduplication key record, if it still names
    /// this message.
    fn free_key(&mut self, id: &str, rec: &MessageRecord) -> Result<()> {
        if let Some(key) = &rec.dedup
            && let Some(keys) = self.system(System::QueueKeys, false)?
            && self.live_key(&rec.queue, key)?.as_deref() == Some(id)
        {
            self.delete_system(&keys, &keyed_id(&rec.queue, key))?;
        }
        Ok(())
    }

    /// The group the message heads, if any: (the groups collection, the
    /// group record's id, the group).
    fn headed_group(&mut self, id: &str, rec: &MessageRecord) -> Result<Option<(Arc<Compiled>, String, String)>> {
        let Some(group) = &rec.group else { return Ok(None) };
        let Some(groups) = self.system(System::QueueGroups, false)? else { return Ok(None) };
        let gid = keyed_id(&rec.queue, group);
        if self.group_head(&groups, &gid)?.as_deref() != Some(id) {
            return Ok(None);
        }
        Ok(Some((groups, gid, group.clone())))
    }

    /// Makes the oldest waiting message of a group its head, or forgets the
    /// group when none waits.
    fn promote(&mut self, groups: &Compiled, gid: &str, queue: &str, group: &str) -> Result<()> {
        let messages = self.system_created(System::Messages)?;
        let range = lane_range(queue, Lane::Waiting, Some(&json!(group)));
        let Some(doc) = self.scan_lane(&messages, &range, 1)?.into_iter().next() else {
            self.delete_system(groups, gid)?;
            return Ok(());
        };
        let mut next = MessageRecord::parse(&doc)?;
        let at = next.not_before_ms.max(self.now_ms);
        next.set_lane(Lane::Available, at);
        self.readied(queue);
        self.put_system(&messages, &doc.id, &next.to_value(), None)?;
        self.put_system_text(groups, gid, json!({ "head": doc.id }).to_string(), None)?;
        Ok(())
    }

    /// Returns up to `limit` dead letters to the queue with fresh attempts;
    /// returns how many.
    pub(crate) fn redrive(&mut self, queue: &str, limit: usize) -> Result<usize> {
        let Some(messages) = self.system(System::Messages, false)? else { return Ok(0) };
        let docs = self.scan_lane(&messages, &lane_range(queue, Lane::Dead, None), limit)?;
        for doc in &docs {
            let mut rec = MessageRecord::parse(doc)?;
            rec.attempts = 0;
            rec.error = None;
            rec.not_before_ms = self.now_ms;
            self.place(&doc.id, &mut rec)?;
            self.put_system(&messages, &doc.id, &rec.to_value(), None)?;
        }
        Ok(docs.len())
    }

    /// Deletes up to `limit` of the queue's messages (the live ones, and the
    /// dead letters when `dead`), with their group and key records;
    /// returns how many.
    pub(crate) fn purge_queue(&mut self, queue: &str, dead: bool, limit: usize) -> Result<usize> {
        let Some(messages) = self.system(System::Messages, false)? else { return Ok(0) };
        let mut lanes = vec![Lane::Available, Lane::InFlight, Lane::Waiting];
        if dead {
            lanes.push(Lane::Dead);
        }
        let mut n = 0;
        for lane in lanes {
            for doc in self.scan_lane(&messages, &lane_range(queue, lane, None), limit - n)? {
                let rec = MessageRecord::parse(&doc)?;
                self.delete_system(&messages, &doc.id)?;
                self.forget_records(&doc.id, &rec)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Deletes a purged message's key record, and its group's record when
    /// it headed the group (a message enqueued while a purge runs may head
    /// the group by now: its record stays).
    fn forget_records(&mut self, id: &str, rec: &MessageRecord) -> Result<()> {
        self.free_key(id, rec)?;
        if let Some((groups, gid, _)) = self.headed_group(id, rec)? {
            self.delete_system(&groups, &gid)?;
        }
        Ok(())
    }

    /// The head named by a group's record, if the group is busy.
    fn group_head(&mut self, groups: &Compiled, gid: &str) -> Result<Option<String>> {
        let Some(doc) = self.tx.doc(groups.row.id, gid)? else { return Ok(None) };
        let v: Value =
            serde_json::from_str(&doc.body).map_err(|e| Error::corrupted(format!("stored group {gid:?}: {e}")))?;
        Ok(v["head"].as_str().map(str::to_owned))
    }

    /// Deletes the queue's settings (after its messages were purged).
    pub(crate) fn drop_queue(&mut self, queue: &str) -> Result<bool> {
        let Some(coll) = self.system(System::Queues, false)? else { return Ok(false) };
        Ok(self.delete_system(&coll, queue)?.is_some())
    }
}

/// The record of a message (`doc`, as stored) whose lease `token` still
/// holds, or why it does not.
fn holds_lease(
    queue: &str,
    token: &str,
    doc: Option<&StoredDoc>,
) -> Result<std::result::Result<MessageRecord, String>> {
    let Some(doc) = doc else {
        return Ok(Err("the message no longer exists (acknowledged or purged)".to_owned()));
    };
    let rec = MessageRecord::parse(doc)?;
    if rec.queue != queue {
        return Ok(Err(format!("the receipt is for another queue than {queue:?}")));
    }
    if rec.lane()? != Lane::InFlight || rec.lease.as_deref() != Some(token) {
        return Ok(Err("the lease was lost: the message was delivered again or returned to the queue".to_owned()));
    }
    Ok(Ok(rec))
}

/// What a receive at `now` would find, read without writing (an idle long
/// poll then costs reads, not write transactions): `None` when something
/// is receivable (a due message or an expired lease), else `Some` of when
/// the next message comes due, if any. Two or three index scans: the
/// first lease of lane `f` (the soonest to end), and lane `a` as a
/// receive of one message reads it.
pub(crate) fn next_receivable(
    reader: &dyn Reader,
    messages: &CollectionRow,
    queue: &str,
    now: u64,
) -> Result<Option<Option<u64>>> {
    let first_lease = scan_range(reader, messages, LANE_INDEX, &lane_range(queue, Lane::InFlight, None), 1)?;
    let lease_end = first_lease.first().map(|d| MessageRecord::parse(d).map(|r| r.at)).transpose()?;
    if lease_end.is_some_and(|at| at <= now) {
        return Ok(None);
    }
    let due = due_messages(reader, messages, queue, now, 1)?;
    if !due.messages.is_empty() {
        return Ok(None);
    }
    Ok(Some([lease_end, due.next_ms].into_iter().flatten().min()))
}

/// What a scan of lane `a` found (see [`due_messages`]).
pub(crate) struct Due {
    pub messages: Vec<(StoredDoc, MessageRecord)>,
    /// When the first delayed message comes due; the lane's next when
    /// fewer messages than asked for were due (the scan then saw every
    /// priority's first delayed message).
    pub next_ms: Option<u64>,
}

/// Up to `n` available messages due at `now`, highest priority first, then
/// longest visible. One index scan over lane `a` in key order (priority,
/// then visibility time); a delayed message ends its priority's due part,
/// so the scan then restarts at the next priority: as many scans as
/// priorities holding delayed messages, one when none do.
pub(crate) fn due_messages(
    reader: &dyn Reader,
    messages: &CollectionRow,
    queue: &str,
    now: u64,
    n: usize,
) -> Result<Due> {
    let mut due = Due { messages: Vec::new(), next_ms: None };
    let mut k: u8 = 0;
    'ranks: while due.messages.len() < n && k <= PRIORITY_MAX {
        let range = from_rank(queue, k);
        // A few more than needed, so a delayed entry or two does not cost a
        // second scan.
        let limit = n - due.messages.len() + 8;
        for doc in scan_range(reader, messages, LANE_INDEX, &range, limit)? {
            let rec = MessageRecord::parse(&doc)?;
            if rec.at > now {
                // The rest of this priority is later still.
                due.next_ms = Some(due.next_ms.map_or(rec.at, |t| t.min(rec.at)));
                k = rank_of(&rec)?.saturating_add(1);
                continue 'ranks;
            }
            due.messages.push((doc, rec));
            if due.messages.len() == n {
                break 'ranks;
            }
        }
        // The lane ended before `n` due messages (a read of `limit` due
        // entries would have held enough).
        break;
    }
    Ok(due)
}

/// Lane `a` from priority rank `k` to its end.
fn from_rank(queue: &str, k: u8) -> engram_core::keys::KeyRange {
    let start = crate::queues::record::lane_prefix(queue, Lane::Available, Some(&json!(k)));
    let lane = crate::queues::record::lane_prefix(queue, Lane::Available, None);
    let end = engram_core::keys::prefix_successor(&lane).map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
    engram_core::keys::KeyRange { start: std::ops::Bound::Included(start), end }
}

/// The rank of an available message's key.
fn rank_of(rec: &MessageRecord) -> Result<u8> {
    rec.k
        .as_u64()
        .and_then(|k| u8::try_from(k).ok())
        .ok_or_else(|| Error::corrupted(format!("queue message of rank {}", rec.k)))
}

/// The retry delay after `attempts` deliveries: `base · 2^(attempts-1)`,
/// capped, with "equal jitter" (uniform in the upper half) so consumers that
/// failed together do not retry together.
pub(crate) fn backoff_ms(config: &QueueConfig, attempts: u32) -> u64 {
    let exp = attempts.saturating_sub(1).min(40);
    let full = config.retry_base_ms.saturating_mul(1u64 << exp).min(config.retry_max_ms);
    let half = full / 2;
    half + getrandom::u64().unwrap_or(0) % (full - half + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let config = QueueConfig { retry_base_ms: 100, retry_max_ms: 10_000, ..QueueConfig::default() };
        for _ in 0..200 {
            let b1 = backoff_ms(&config, 1);
            assert!((50..=100).contains(&b1), "{b1}");
            let b4 = backoff_ms(&config, 4);
            assert!((400..=800).contains(&b4), "{b4}");
            let b30 = backoff_ms(&config, 30);
            assert!((5_000..=10_000).contains(&b30), "{b30}");
            let b_max = backoff_ms(&config, u32::MAX);
            assert!((5_000..=10_000).contains(&b_max), "{b_max}");
        }
    }
}
