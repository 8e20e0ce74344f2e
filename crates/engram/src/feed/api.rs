//! The feed operations of a [`Space`]: read and long-poll the feed, publish
//! outbox messages, and manage durable consumers.

use crate::apply::Writer;
use crate::feed::outbox::check_message;
use crate::feed::read::{may_select, read_page};
use crate::feed::types::{ConsumerInfo, ConsumerStart, FeedFilter, FeedPage, NewConsumer};
use crate::space::Space;
use crate::system::System;
use engram_core::backend::Reader;
use engram_core::limits::FEED_LIMIT_MAX;
use engram_core::names::check_label;
use engram_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Entries an acknowledgement looks past for ones its consumer skips.
const ACK_SKIP_MAX: usize = 1_000;

/// A consumer as stored in `_consumers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ConsumerRecord {
    filter: FeedFilter,
    position: u64,
}

/// A published outbox message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Published {
    pub id: String,
    pub position: u64,
}

impl Space {
    /// Up to `limit` (1 to 1,000) entries after `after` selected by
    /// `filter`; never waits.
    pub fn feed(&self, after: u64, filter: &FeedFilter, limit: usize) -> Result<FeedPage> {
        filter.check()?;
        check_limit(limit)?;
        let reader = self.inner.backend.reader()?;
        read_page(&*reader, self.id, after, filter, limit)
    }

    /// Like [`Space::feed`], but when nothing is selected yet waits up to
    /// `wait` for the log to grow (woken by a commit, not by polling).
    pub fn feed_wait(&self, after: u64, filter: &FeedFilter, limit: usize, wait: Duration) -> Result<FeedPage> {
        let deadline = Instant::now() + wait;
        let signal = self.watch();
        let mut after = after;
        loop {
            let seen = signal.generation();
            let page = self.feed(after, filter, limit)?;
            let now = Instant::now();
            if !page.entries.is_empty() || now >= deadline {
                return Ok(page);
            }
            after = page.next_after;
            signal.wait(seen, deadline - now);
        }
    }

    /// Publishes an outbox message alone (see `Op::Publish` to publish in
    /// a transaction with other writes).
    pub fn publish(&self, topic: &str, payload: Value) -> Result<Published> {
        check_message(topic, &payload)?;
        let topic = topic.to_owned();
        let (id, position) = self.write(move |w| w.publish(&topic, &payload))?;
        Ok(Published { id, position })
    }

    /// Creates a durable consumer; a conflict when the name is taken.
    pub fn create_consumer(&self, name: &str, req: NewConsumer) -> Result<ConsumerInfo> {
        check_label("consumer name", name)?;
        req.filter.check()?;
        let name = name.to_owned();
        let rec = self.write(move |w| w.create_consumer(&name, &req))?;
        self.consumer(&rec)
    }

    /// A consumer with its position and lag; not found when it does not exist.
    pub fn consumer(&self, name: &str) -> Result<ConsumerInfo> {
        check_label("consumer name", name)?;
        let reader = self.inner.backend.reader()?;
        let rec = read_consumer(&*reader, self, name)?;
        let head = reader.change_head(self.id)?.position;
        Ok(info(name, rec, head))
    }

    /// Every consumer of the space, by name.
    pub fn consumers(&self) -> Result<Vec<ConsumerInfo>> {
        let Some(coll) = self.inner.reserved_collection(self.id, System::Consumers)? else { return Ok(Vec::new()) };
        let reader = self.inner.backend.reader()?;
        let head = reader.change_head(self.id)?.position;
        let docs = crate::system::all_docs(&*reader, coll.row.id)?;
        docs.iter().map(|d| Ok(info(&d.id, parse_record(&d.id, &d.body)?, head))).collect()
    }

    /// The consumer's next entries after its acknowledged position, waiting
    /// up to `wait` when there are none. Polling does not move the position.
    pub fn consumer_poll(&self, name: &str, limit: usize, wait: Duration) -> Result<FeedPage> {
        let rec = {
            let reader = self.inner.backend.reader()?;
            read_consumer(&*reader, self, name)?
        };
        self.feed_wait(rec.position, &rec.filter, limit, wait)
    }

    /// Stores `position` as processed: the consumer resumes after it (here
    /// or on another server). Positions only move forward, up to the head;
    /// acknowledging a position already passed changes nothing.
    pub fn consumer_ack(&self, name: &str, position: u64) -> Result<ConsumerInfo> {
        check_label("consumer name", name)?;
        let n = name.to_owned();
        self.write(move |w| w.ack_consumer(&n, position))?;
        self.consumer(name)
    }

    /// Deletes a consumer; not found when it does not exist.
    pub fn delete_consumer(&self, name: &str) -> Result<()> {
        check_label("consumer name", name)?;
        let n = name.to_owned();
        let found = self.write(move |w| {
            let Some(coll) = w.system(System::Consumers, false)? else { return Ok(false) };
            Ok(w.delete_system(&coll, &n)?.is_some())
        })?;
        if found { Ok(()) } else { Err(no_consumer(name)) }
    }
}

/// Consumers reported at most by [`crate::Engine::consumer_lags`].
pub const CONSUMER_LAGS_MAX: usize = 1_000;

impl crate::Engine {
    /// (space, consumer, lag) of every durable consumer, for metrics; at
    /// most [`CONSUMER_LAGS_MAX`].
    pub fn consumer_lags(&self) -> Result<Vec<(String, String, u64)>> {
        let mut out = Vec::new();
        for info in self.spaces()? {
            let space = match self.space(&info.name) {
                Ok(s) => s,
                Err(e) if e.kind() == engram_core::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for c in space.consumers()? {
                if out.len() == CONSUMER_LAGS_MAX {
                    return Ok(out);
                }
                out.push((info.name.clone(), c.name, c.lag));
            }
        }
        Ok(out)
    }
}

impl Writer<'_> {
    fn create_consumer(&mut self, name: &str, req: &NewConsumer) -> Result<String> {
        let coll = self.system_created(System::Consumers)?;
        if self.tx.doc(coll.row.id, name)?.is_some() {
            return Err(Error::conflict(format!("consumer {name:?} already exists")));
        }
        let position = match req.start {
            ConsumerStart::Beginning => 0,
            ConsumerStart::End => self.tx.change_head(self.space)?.position,
        };
        let rec = ConsumerRecord { filter: req.filter.clone(), position };
        self.put_system_text(&coll, name, serde_json::to_string(&rec).expect("records serialize"), None)?;
        Ok(name.to_owned())
    }

    /// Moves the consumer to `position`, then past every later entry its
    /// filter leaves out; when that reaches the head, past this write's own
    /// entry too, so a consumer that is caught up shows no lag.
    fn ack_consumer(&mut self, name: &str, position: u64) -> Result<()> {
        let coll = self.system(System::Consumers, false)?.ok_or_else(|| no_consumer(name))?;
        let doc = self.tx.doc(coll.row.id, name)?.ok_or_else(|| no_consumer(name))?;
        let mut rec = parse_record(name, &doc.body)?;
        let head = self.tx.change_head(self.space)?.position;
        if position > head {
            return Err(Error::invalid(format!("position {position} is beyond the log's head ({head})")));
        }
        if position < rec.position {
            // Already past it (a retried acknowledgement): positions only
            // move forward, so this is a no-op.
            return Ok(());
        }
        let mut target = position;
        let reader: &dyn Reader = &*self.tx;
        for e in reader.changes(self.space, position, ACK_SKIP_MAX)? {
            if may_select(&rec.filter, &e) {
                break;
            }
            target = e.position;
        }
        // Caught up: this write's entry (head + 1, a reserved collection's,
        // which no filter selects) is skipped as well.
        rec.position = if target == head { head + 1 } else { target };
        let text = serde_json::to_string(&rec).expect("records serialize");
        let (_, written) = self.put_system_text(&coll, name, text, None)?;
        if target == head && written != head + 1 {
            return Err(Error::internal("a consumer's acknowledgement was not the next log entry"));
        }
        Ok(())
    }
}

fn read_consumer(reader: &dyn Reader, space: &Space, name: &str) -> Result<ConsumerRecord> {
    let coll = space.inner.reserved_collection(space.id, System::Consumers)?.ok_or_else(|| no_consumer(name))?;
    let doc = reader.doc(coll.row.id, name)?.ok_or_else(|| no_consumer(name))?;
    parse_record(name, &doc.body)
}

fn parse_record(name: &str, body: &str) -> Result<ConsumerRecord> {
    serde_json::from_str(body).map_err(|e| Error::corrupted(format!("stored consumer {name:?}: {e}")))
}

fn info(name: &str, rec: ConsumerRecord, head: u64) -> ConsumerInfo {
    ConsumerInfo {
        name: name.to_owned(),
        filter: rec.filter,
        position: rec.position,
        head,
        lag: head.saturating_sub(rec.position),
    }
}

fn no_consumer(name: &str) -> Error {
    Error::not_found(format!("consumer {name:?} does not exist"))
}

fn check_limit(limit: usize) -> Result<()> {
    if limit == 0 || limit > FEED_LIMIT_MAX {
        return Err(Error::invalid(format!("limit must be 1 to {FEED_LIMIT_MAX}, got {limit}")));
    }
    Ok(())
}
