//! The webhook operations of a [`Space`]: endpoints, their attempts and
//! dead letters, replay, and the two calls the dispatcher makes (what is
//! due, and what an attempt came to).

use crate::feed::read::read_page;
use crate::feed::types::{FeedFilter, FeedSource};
use crate::space::Space;
use crate::system::{SCAN_CHUNK_ROWS, System};
use crate::webhooks::prefix;
use crate::webhooks::store::{EndpointRecord, no_endpoint};
use crate::webhooks::types::{
    DeliveryAttempt, Due, NewWebhook, Outcome, WebhookCreated, WebhookDeadLetter, WebhookInfo, secret_key,
};
use engram_core::backend::Reader;
use engram_core::limits::WEBHOOK_LIST_MAX;
use engram_core::names::check_label;
use engram_core::{Error, Result};
use serde::de::DeserializeOwned;

/// Where the dispatcher sends an endpoint's messages.
#[derive(Clone)]
pub struct WebhookTarget {
    pub url: String,
    /// The HMAC-SHA256 key of the endpoint's secret.
    pub key: Vec<u8>,
    /// The endpoint's failures in a row so far (its circuit breaker).
    pub consecutive_failures: u32,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("WebhookTarget").field("url", &self.url).finish_non_exhaustive()
    }
}

impl Space {
    /// Creates an endpoint; it receives the outbox messages published from
    /// now on. The result holds the secret, which no later call returns.
    pub fn create_webhook(&self, name: &str, req: NewWebhook) -> Result<WebhookCreated> {
        check_label("webhook name", name)?;
        req.check()?;
        let n = name.to_owned();
        let (rec, secret) = self.write(move |w| w.create_webhook(&n, &req))?;
        Ok(WebhookCreated { endpoint: rec.info(name), secret })
    }

    /// Every endpoint of the space, by name.
    pub fn webhooks(&self) -> Result<Vec<WebhookInfo>> {
        let Some(coll) = self.inner.reserved_collection(self.id, System::Webhooks)? else { return Ok(Vec::new()) };
        let reader = self.inner.backend.reader()?;
        let docs = reader.scan_docs(coll.row.id, None, false, engram_core::limits::WEBHOOKS_PER_SPACE_MAX)?;
        docs.iter().map(|d| EndpointRecord::parse(&d.id, &d.body).map(|r| r.info(&d.id))).collect()
    }

    /// One endpoint; not found when it does not exist.
    pub fn webhook(&self, name: &str) -> Result<WebhookInfo> {
        check_label("webhook name", name)?;
        let reader = self.inner.backend.reader()?;
        Ok(self.endpoint(&*reader, name)?.info(name))
    }

    /// Deletes an endpoint and its dead letters.
    pub fn delete_webhook(&self, name: &str) -> Result<()> {
        check_label("webhook name", name)?;
        let n = name.to_owned();
        if self.write(move |w| w.delete_webhook(&n))? { Ok(()) } else { Err(no_endpoint(name)) }
    }

    /// The endpoint's latest delivery attempts, newest first (kept 7 days).
    pub fn webhook_attempts(&self, name: &str, limit: usize) -> Result<Vec<DeliveryAttempt>> {
        self.webhook(name)?;
        check_list(limit)?;
        self.scan_records(System::WebhookLog, name, true, limit, |_| true)
    }

    /// The endpoint's dead letters, by message id (topic, then age).
    pub fn webhook_dead_letters(&self, name: &str, limit: usize) -> Result<Vec<WebhookDeadLetter>> {
        self.webhook(name)?;
        check_list(limit)?;
        self.scan_records(System::WebhookDead, name, false, limit, |_| true)
    }

    /// Queues dead letters (one by its message id, or all) for another
    /// delivery; returns how many.
    pub fn replay_webhook(&self, name: &str, message: Option<&str>) -> Result<usize> {
        self.webhook(name)?;
        let (n, m) = (name.to_owned(), message.map(str::to_owned));
        self.write(move |w| w.replay_dead(&n, m.as_deref()))
    }

    /// What the dispatcher should deliver to the endpoint now: a replayed
    /// dead letter first, else the next outbox message after its position;
    /// `None` when nothing is due (or it waits for its retry time).
    pub fn webhook_due(&self, name: &str) -> Result<Option<(WebhookTarget, Due)>> {
        let reader = self.inner.backend.reader()?;
        let rec = self.endpoint(&*reader, name)?;
        if rec.next_attempt_at_ms > self.inner.hlc.wall_ms() {
            return Ok(None);
        }
        let target = WebhookTarget {
            url: rec.url.clone(),
            key: secret_key(&rec.secret)?,
            consecutive_failures: rec.consecutive_failures,
        };
        let replay = self.scan_records::<WebhookDeadLetter>(System::WebhookDead, name, false, 1, |l| l.replay)?;
        if let Some(l) = replay.into_iter().next() {
            let due = Due {
                message_id: l.message_id,
                position: l.position,
                topic: l.topic,
                payload: l.payload,
                attempt: 0,
                replay: true,
            };
            return Ok(Some((target, due)));
        }
        let filter = FeedFilter { source: FeedSource::Outbox, topics: rec.topics.clone(), ..FeedFilter::default() };
        let page = read_page(&*reader, self.id, rec.position, &filter, 1)?;
        Ok(page.entries.into_iter().next().map(|e| {
            let due = Due {
                topic: e.topic.unwrap_or_default(),
                payload: e.payload.unwrap_or(serde_json::Value::Null),
                message_id: e.id,
                position: e.position,
                attempt: rec.attempt,
                replay: false,
            };
            (target, due)
        }))
    }

    /// Records what an attempt came to; false when the endpoint had already
    /// moved past the message (nothing changed).
    pub fn record_webhook_attempt(
        &self,
        name: &str,
        due: &Due,
        attempt: &DeliveryAttempt,
        outcome: &Outcome,
    ) -> Result<bool> {
        let (n, d, a, o) = (name.to_owned(), due.clone(), attempt.clone(), outcome.clone());
        self.write(move |w| w.record_attempt(&n, &d, &a, &o))
    }

    fn endpoint(&self, reader: &dyn Reader, name: &str) -> Result<EndpointRecord> {
        let coll = self.inner.reserved_collection(self.id, System::Webhooks)?.ok_or_else(|| no_endpoint(name))?;
        let doc = reader.doc(coll.row.id, name)?.ok_or_else(|| no_endpoint(name))?;
        EndpointRecord::parse(name, &doc.body)
    }

    /// Up to `limit` records of an endpoint in a keyed collection that
    /// `keep` accepts, by id (newest first when `newest`).
    fn scan_records<T: DeserializeOwned>(
        &self,
        sys: System,
        name: &str,
        newest: bool,
        limit: usize,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Vec<T>> {
        let Some(coll) = self.inner.reserved_collection(self.id, sys)? else { return Ok(Vec::new()) };
        let reader = self.inner.backend.reader()?;
        let p = prefix(name);
        // '~' sorts after every character of the ids that follow the prefix.
        let mut after = if newest { format!("{p}~") } else { p.clone() };
        let mut out = Vec::new();
        loop {
            let docs = reader.scan_docs(coll.row.id, Some(&after), newest, SCAN_CHUNK_ROWS)?;
            let full = docs.len() == SCAN_CHUNK_ROWS;
            for d in &docs {
                if !d.id.starts_with(&p) {
                    return Ok(out);
                }
                let rec: T = serde_json::from_str(&d.body)
                    .map_err(|e| Error::corrupted(format!("stored webhook record {:?}: {e}", d.id)))?;
                if keep(&rec) {
                    out.push(rec);
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
            match docs.last() {
                Some(last) if full => after = last.id.clone(),
                _ => return Ok(out),
            }
        }
    }
}

fn check_list(limit: usize) -> Result<()> {
    if limit == 0 || limit > WEBHOOK_LIST_MAX {
        return Err(Error::invalid(format!("limit must be 1 to {WEBHOOK_LIST_MAX}")));
    }
    Ok(())
}
