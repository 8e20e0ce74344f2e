//! The queue operations of a [`Space`]: enqueue, receive (with long
//! polling), acknowledge, retry, extend, settings, stats, dead letters,
//! redrive, purge.

use crate::queues::Lane;
use crate::queues::combine::Ask;
use crate::queues::record::{MessageRecord, queue_range};
use crate::queues::types::{
    AckOutcome, DeadLetter, Enqueued, Message, MessageInput, NackOutcome, NackRequest, QueueConfig, QueueInfo,
    QueueStats, ReceiveRequest, check_visibility, validate_batch,
};
use crate::queues::write::next_receivable;
use crate::space::Space;
use crate::system::{System, scan_range};
use crate::wake::{Line, Signal};
use engram_core::limits::{ACK_BATCH_MAX, QUEUE_CHUNK_MAX, QUEUE_STATS_SCAN_MAX};
use engram_core::names::check_queue_name;
use engram_core::{Error, Result};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one receive attempt found (see [`Space::receive_now`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiveAttempt {
    pub messages: Vec<Message>,
    /// How soon the next message not yet receivable comes due (its delay,
    /// backoff or lease ends), when none was received.
    pub next_due_in: Option<Duration>,
}

impl ReceiveAttempt {
    /// After a full batch, wakes the next receiver in line: more messages
    /// may be waiting (see [`Line`]).
    pub fn pass_on(&self, line: &Line, req: ReceiveRequest) {
        if self.messages.len() >= req.max_messages.unwrap_or(1) {
            line.wake_one();
        }
    }

    /// How long a long poll that got nothing sleeps: to its deadline, or
    /// until the next message comes due if that is sooner (plus a
    /// millisecond, so it is due on waking).
    pub fn sleep(&self, now: Instant, deadline: Instant) -> Duration {
        let to_deadline = deadline.saturating_duration_since(now);
        match self.next_due_in {
            Some(due) => to_deadline.min(due + Duration::from_millis(1)),
            None => to_deadline,
        }
    }
}

impl Space {
    /// Enqueues messages in one transaction (see [`MessageInput`]). To
    /// enqueue together with other writes, use `Op::Enqueue` in a
    /// transaction.
    pub fn enqueue(&self, queue: &str, messages: Vec<MessageInput>) -> Result<Vec<Enqueued>> {
        check_queue_name(queue)?;
        validate_batch(&messages)?;
        let queue = queue.to_owned();
        self.write(move |w| messages.iter().map(|m| w.enqueue(&queue, m)).collect())
    }

    /// Creates a queue or replaces its settings.
    pub fn configure_queue(&self, queue: &str, config: QueueConfig) -> Result<QueueInfo> {
        check_queue_name(queue)?;
        config.validate()?;
        let name = queue.to_owned();
        let config = self.write(move |w| w.set_queue_config(&name, config))?;
        Ok(QueueInfo { queue: queue.to_owned(), config })
    }

    /// Every queue of the space, by name.
    pub fn queues(&self) -> Result<Vec<QueueInfo>> {
        let Some(coll) = self.inner.reserved_collection(self.id, System::Queues)? else { return Ok(Vec::new()) };
        let reader = self.inner.backend.reader()?;
        let docs = crate::system::all_docs(&*reader, coll.row.id)?;
        docs.iter().map(|d| Ok(QueueInfo { queue: d.id.clone(), config: parse_config(&d.id, &d.body)? })).collect()
    }

    /// Leases up to `max_messages` messages, waiting up to `wait_seconds`
    /// for one when none is ready (woken by an enqueue or a message coming
    /// due, not by polling).
    pub fn receive(&self, queue: &str, req: ReceiveRequest) -> Result<Vec<Message>> {
        let deadline = Instant::now() + Duration::from_secs(req.wait_seconds.unwrap_or(0));
        let line = self.watch().line(queue);
        loop {
            let seen = line.generation();
            let attempt = self.receive_now(queue, req)?;
            if !attempt.messages.is_empty() {
                attempt.pass_on(&line, req);
                return Ok(attempt.messages);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            line.wait(seen, attempt.sleep(now, deadline));
        }
    }

    /// One receive attempt, without waiting: what long polling is built on.
    pub fn receive_now(&self, queue: &str, req: ReceiveRequest) -> Result<ReceiveAttempt> {
        check_queue_name(queue)?;
        let n = req.validate()?;
        let visibility = req.visibility_timeout_seconds.map(|s| s.saturating_mul(1000));
        let now = self.inner.hlc.wall_ms();
        let due_in = |due: Option<u64>| due.map(|d| Duration::from_millis(d.saturating_sub(now)));
        // A read first: when nothing is due, no write transaction (and no
        // space lock) is taken.
        if let Some(next) = self.nothing_due(queue, now)? {
            return Ok(ReceiveAttempt { messages: Vec::new(), next_due_in: due_in(next) });
        }
        // Attempts of this queue made meanwhile share one write.
        let combiner = self.inner.receives.get(self.id, queue);
        let ask = Ask { n, visibility_ms: visibility };
        let (messages, next_due_ms) = combiner.receive(ask, |asks| {
            let (name, asks) = (queue.to_owned(), asks.to_vec());
            self.write(move |w| w.receive(&name, &asks))
        })?;
        let now = self.inner.hlc.wall_ms();
        let next_due_in = next_due_ms.map(|d| Duration::from_millis(d.saturating_sub(now)));
        Ok(ReceiveAttempt { messages, next_due_in })
    }

    /// `Some(when the next message comes due)` when nothing is receivable
    /// now (read without writing); `None` when something may be.
    fn nothing_due(&self, queue: &str, now: u64) -> Result<Option<Option<u64>>> {
        let Some(coll) = self.inner.reserved_collection(self.id, System::Messages)? else { return Ok(Some(None)) };
        let reader = self.inner.backend.reader()?;
        // The space's time, as a writer would take it (never behind its log).
        let now = now.max(engram_core::hlc::physical_ms(reader.change_head(self.id)?.hlc));
        next_receivable(&*reader, &coll.row, queue, now)
    }

    /// The space's change signal: a long poll reads its generation before
    /// an attempt, then waits for it to move.
    pub fn watch(&self) -> Arc<Signal> {
        self.inner.signals.get(self.id)
    }

    /// Acknowledges deliveries: each leased message is removed. A receipt
    /// that no longer holds its lease is reported, not an error.
    pub fn ack(&self, queue: &str, receipts: Vec<String>) -> Result<Vec<AckOutcome>> {
        check_queue_name(queue)?;
        if receipts.is_empty() || receipts.len() > ACK_BATCH_MAX {
            return Err(Error::invalid(format!("an acknowledgement holds 1 to {ACK_BATCH_MAX} receipts")));
        }
        let name = queue.to_owned();
        self.write(move |w| w.ack(&name, &receipts))
    }

    /// Returns a delivery to the queue: after the queue's backoff (or the
    /// delay given), or to the dead letters when its attempts are spent.
    pub fn nack(&self, queue: &str, receipt: &str, req: NackRequest) -> Result<NackOutcome> {
        check_queue_name(queue)?;
        req.validate()?;
        let (name, receipt) = (queue.to_owned(), receipt.to_owned());
        self.write(move |w| w.nack(&name, &receipt, &req))
    }

    /// Extends a delivery's lease to `visibility_timeout_seconds` from now;
    /// returns the new expiry (ms since the epoch).
    pub fn extend_lease(&self, queue: &str, receipt: &str, visibility_timeout_seconds: u64) -> Result<u64> {
        check_queue_name(queue)?;
        check_visibility(visibility_timeout_seconds)?;
        let (name, receipt) = (queue.to_owned(), receipt.to_owned());
        self.write(move |w| w.extend(&name, &receipt, visibility_timeout_seconds.saturating_mul(1000)))
    }

    /// The queue's settings and counts; not found when it does not exist.
    pub fn queue_stats(&self, queue: &str) -> Result<QueueStats> {
        check_queue_name(queue)?;
        let config = self.queue_info(queue)?.config;
        let mut stats = QueueStats {
            queue: queue.to_owned(),
            config,
            ready: 0,
            delayed: 0,
            in_flight: 0,
            waiting: 0,
            dead: 0,
            oldest_ready_age_ms: 0,
            exact: true,
        };
        let Some(coll) = self.inner.reserved_collection(self.id, System::Messages)? else { return Ok(stats) };
        let reader = self.inner.backend.reader()?;
        let docs = scan_range(&*reader, &coll.row, "lane", &queue_range(queue), QUEUE_STATS_SCAN_MAX + 1)?;
        stats.exact = docs.len() <= QUEUE_STATS_SCAN_MAX;
        let now = self.inner.hlc.wall_ms();
        let mut oldest: Option<u64> = None;
        for doc in docs.iter().take(QUEUE_STATS_SCAN_MAX) {
            let rec = MessageRecord::parse(doc)?;
            let ready = match rec.lane()? {
                Lane::Available if rec.at <= now => true,
                Lane::InFlight if rec.at <= now => true,
                Lane::Available => {
                    stats.delayed += 1;
                    false
                }
                Lane::InFlight => {
                    stats.in_flight += 1;
                    false
                }
                Lane::Waiting => {
                    stats.waiting += 1;
                    false
                }
                Lane::Dead => {
                    stats.dead += 1;
                    false
                }
            };
            if ready {
                stats.ready += 1;
                oldest = Some(oldest.map_or(rec.enqueued_at_ms, |o| o.min(rec.enqueued_at_ms)));
            }
        }
        stats.oldest_ready_age_ms = oldest.map_or(0, |o| now.saturating_sub(o));
        Ok(stats)
    }

    /// The queue's settings; not found when it does not exist.
    pub fn queue_info(&self, queue: &str) -> Result<QueueInfo> {
        check_queue_name(queue)?;
        let missing = || Error::not_found(format!("queue {queue:?} does not exist"));
        let coll = self.inner.reserved_collection(self.id, System::Queues)?.ok_or_else(missing)?;
        let doc = self.inner.backend.read_doc(coll.row.id, queue)?.ok_or_else(missing)?;
        Ok(QueueInfo { queue: queue.to_owned(), config: parse_config(queue, &doc.body)? })
    }

    /// Up to `limit` (1 to 1,000) dead letters, oldest first.
    pub fn dead_letters(&self, queue: &str, limit: usize) -> Result<Vec<DeadLetter>> {
        check_queue_name(queue)?;
        check_chunk(limit)?;
        let Some(coll) = self.inner.reserved_collection(self.id, System::Messages)? else { return Ok(Vec::new()) };
        let reader = self.inner.backend.reader()?;
        let range = crate::queues::record::lane_range(queue, Lane::Dead, None);
        let docs = scan_range(&*reader, &coll.row, "lane", &range, limit)?;
        docs.iter().map(|d| MessageRecord::parse(d).map(|r| r.dead_letter(&d.id))).collect()
    }

    /// Returns up to `limit` (1 to 1,000) dead letters to the queue, oldest
    /// first, with their attempts reset; returns how many.
    pub fn redrive(&self, queue: &str, limit: usize) -> Result<usize> {
        check_queue_name(queue)?;
        check_chunk(limit)?;
        let name = queue.to_owned();
        self.write(move |w| w.redrive(&name, limit))
    }

    /// Deletes every live message of the queue (and the dead letters when
    /// `dead`), a chunk per transaction; returns how many. Messages
    /// enqueued while it runs may be deleted too.
    pub fn purge_queue(&self, queue: &str, dead: bool) -> Result<u64> {
        check_queue_name(queue)?;
        let mut total = 0;
        loop {
            let name = queue.to_owned();
            let n = self.write(move |w| w.purge_queue(&name, dead, QUEUE_CHUNK_MAX))?;
            total += n as u64;
            if n < QUEUE_CHUNK_MAX {
                return Ok(total);
            }
        }
    }

    /// Deletes the queue: its messages, dead letters and settings. Not found
    /// when it does not exist.
    pub fn delete_queue(&self, queue: &str) -> Result<u64> {
        self.queue_info(queue)?;
        let purged = self.purge_queue(queue, true)?;
        let name = queue.to_owned();
        self.write(move |w| w.drop_queue(&name))?;
        Ok(purged)
    }
}

fn parse_config(queue: &str, body: &str) -> Result<QueueConfig> {
    serde_json::from_str(body).map_err(|e| Error::corrupted(format!("stored settings of queue {queue:?}: {e}")))
}

fn check_chunk(limit: usize) -> Result<()> {
    if limit == 0 || limit > QUEUE_CHUNK_MAX {
        return Err(Error::invalid(format!("limit must be 1 to {QUEUE_CHUNK_MAX}")));
    }
    Ok(())
}
