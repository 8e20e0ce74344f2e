//! Endpoint records and their changes inside a transaction.

use crate::apply::Writer;
use crate::catalog::Compiled;
use crate::system::{System, prefixed_docs};
use crate::webhooks::types::{DeliveryAttempt, Due, NewWebhook, Outcome, WebhookDeadLetter, WebhookInfo, new_secret};
use crate::webhooks::{CIRCUIT_OPEN_FAILURES, prefix};
use engram_core::backend::{Reader, StoredDoc};
use engram_core::limits::{WEBHOOK_LOG_RETENTION_SECONDS, WEBHOOKS_PER_SPACE_MAX};
use engram_core::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An endpoint as stored in `_webhooks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EndpointRecord {
    pub url: String,
    pub topics: Vec<String>,
    pub secret: String,
    pub position: u64,
    pub attempt: u32,
    pub consecutive_failures: u32,
    pub next_attempt_at_ms: u64,
    pub created_at_ms: u64,
}

impl EndpointRecord {
    pub fn parse(name: &str, body: &str) -> Result<Self> {
        serde_json::from_str(body).map_err(|e| Error::corrupted(format!("stored webhook {name:?}: {e}")))
    }

    pub fn info(&self, name: &str) -> WebhookInfo {
        WebhookInfo {
            name: name.to_owned(),
            url: self.url.clone(),
            topics: self.topics.clone(),
            position: self.position,
            attempt: self.attempt,
            consecutive_failures: self.consecutive_failures,
            circuit_open: self.consecutive_failures >= CIRCUIT_OPEN_FAILURES,
            next_attempt_at_ms: self.next_attempt_at_ms,
            created_at_ms: self.created_at_ms,
        }
    }
}

pub(crate) fn no_endpoint(name: &str) -> Error {
    Error::not_found(format!("webhook endpoint {name:?} does not exist"))
}

impl Writer<'_> {
    fn webhooks_coll(&mut self, create: bool) -> Result<Option<Arc<Compiled>>> {
        self.system(System::Webhooks, create)
    }

    /// Creates an endpoint that starts after the log's current head.
    pub(crate) fn create_webhook(&mut self, name: &str, req: &NewWebhook) -> Result<(EndpointRecord, String)> {
        let coll = self.system_created(System::Webhooks)?;
        if self.tx.doc(coll.row.id, name)?.is_some() {
            return Err(Error::conflict(format!("webhook endpoint {name:?} already exists")));
        }
        let existing = self.tx.scan_docs(coll.row.id, None, false, WEBHOOKS_PER_SPACE_MAX)?.len();
        if existing >= WEBHOOKS_PER_SPACE_MAX {
            return Err(Error::too_large(format!("a space has at most {WEBHOOKS_PER_SPACE_MAX} webhook endpoints")));
        }
        let secret = req.secret.clone().unwrap_or_else(new_secret);
        let rec = EndpointRecord {
            url: req.url.clone(),
            topics: req.topics.clone(),
            secret: secret.clone(),
            position: self.tx.change_head(self.space)?.position,
            attempt: 0,
            consecutive_failures: 0,
            next_attempt_at_ms: 0,
            created_at_ms: self.now_ms,
        };
        self.store_endpoint(&coll, name, &rec)?;
        Ok((rec, secret))
    }

    fn store_endpoint(&mut self, coll: &Compiled, name: &str, rec: &EndpointRecord) -> Result<()> {
        let text = serde_json::to_string(rec).expect("records serialize");
        self.put_system_text(coll, name, text, None).map(drop)
    }

    /// Deletes an endpoint with its dead letters; false when it did not exist.
    pub(crate) fn delete_webhook(&mut self, name: &str) -> Result<bool> {
        let Some(coll) = self.webhooks_coll(false)? else { return Ok(false) };
        if self.delete_system(&coll, name)?.is_none() {
            return Ok(false);
        }
        if let Some(dead) = self.system(System::WebhookDead, false)? {
            let reader: &dyn Reader = &*self.tx;
            for d in prefixed_docs(reader, dead.row.id, &prefix(name), usize::MAX)? {
                self.delete_system(&dead, &d.id)?;
            }
        }
        Ok(true)
    }

    /// Records one attempt and moves the endpoint on. A report about a
    /// message the endpoint already moved past changes nothing (false).
    pub(crate) fn record_attempt(
        &mut self,
        name: &str,
        due: &Due,
        attempt: &DeliveryAttempt,
        outcome: &Outcome,
    ) -> Result<bool> {
        let coll = self.webhooks_coll(false)?.ok_or_else(|| no_endpoint(name))?;
        let doc = self.tx.doc(coll.row.id, name)?.ok_or_else(|| no_endpoint(name))?;
        let mut rec = EndpointRecord::parse(name, &doc.body)?;
        if !due.replay && due.position <= rec.position {
            return Ok(false);
        }
        self.log_attempt(name, attempt)?;
        if due.replay {
            self.settle_replay(name, due, outcome)?;
        } else {
            self.advance(&mut rec, due, attempt, outcome)?;
            self.dead_letter_if_given_up(name, due, attempt, outcome)?;
        }
        match outcome {
            Outcome::Delivered => rec.consecutive_failures = 0,
            _ => rec.consecutive_failures = rec.consecutive_failures.saturating_add(1),
        }
        self.store_endpoint(&coll, name, &rec)?;
        Ok(true)
    }

    fn advance(
        &mut self,
        rec: &mut EndpointRecord,
        due: &Due,
        attempt: &DeliveryAttempt,
        outcome: &Outcome,
    ) -> Result<()> {
        match *outcome {
            Outcome::Delivered => {
                rec.position = due.position;
                rec.attempt = 0;
                rec.next_attempt_at_ms = 0;
            }
            Outcome::Retry { at_ms } => {
                rec.attempt = attempt.attempt;
                rec.next_attempt_at_ms = at_ms;
            }
            Outcome::GiveUp { next_at_ms } => {
                rec.position = due.position;
                rec.attempt = 0;
                rec.next_attempt_at_ms = next_at_ms;
            }
        }
        Ok(())
    }

    fn dead_letter_if_given_up(
        &mut self,
        name: &str,
        due: &Due,
        attempt: &DeliveryAttempt,
        outcome: &Outcome,
    ) -> Result<()> {
        if !matches!(outcome, Outcome::GiveUp { .. }) {
            return Ok(());
        }
        let dead = self.system_created(System::WebhookDead)?;
        let letter = WebhookDeadLetter {
            message_id: due.message_id.clone(),
            position: due.position,
            topic: due.topic.clone(),
            payload: due.payload.clone(),
            attempts: attempt.attempt,
            last_error: attempt.error.clone().or_else(|| attempt.status.map(|s| format!("HTTP {s}"))),
            dead_at_ms: self.now_ms,
            replay: false,
        };
        let text = serde_json::to_string(&letter).expect("records serialize");
        self.put_system_text(&dead, &format!("{}{}", prefix(name), due.message_id), text, None).map(drop)
    }

    /// A replayed dead letter: gone when delivered, back in the list (not
    /// queued) when it failed again.
    fn settle_replay(&mut self, name: &str, due: &Due, outcome: &Outcome) -> Result<()> {
        let Some(dead) = self.system(System::WebhookDead, false)? else { return Ok(()) };
        let id = format!("{}{}", prefix(name), due.message_id);
        let Some(doc) = self.tx.doc(dead.row.id, &id)? else { return Ok(()) };
        if *outcome == Outcome::Delivered {
            self.delete_system(&dead, &id)?;
            return Ok(());
        }
        let now = self.now_ms;
        self.rewrite_dead(&dead, &doc, |letter| {
            letter.replay = false;
            letter.attempts = letter.attempts.saturating_add(1);
            letter.dead_at_ms = now;
        })
    }

    /// Rewrites a stored dead letter after `change`.
    fn rewrite_dead(
        &mut self,
        dead: &Compiled,
        doc: &StoredDoc,
        change: impl FnOnce(&mut WebhookDeadLetter),
    ) -> Result<()> {
        let mut letter: WebhookDeadLetter = serde_json::from_str(&doc.body)
            .map_err(|e| Error::corrupted(format!("stored dead letter {:?}: {e}", doc.id)))?;
        change(&mut letter);
        let text = serde_json::to_string(&letter).expect("records serialize");
        self.put_system_text(dead, &doc.id, text, None).map(drop)
    }

    fn log_attempt(&mut self, name: &str, attempt: &DeliveryAttempt) -> Result<()> {
        let log = self.system_created(System::WebhookLog)?;
        let id = format!("{}{}", prefix(name), uuid::Uuid::now_v7());
        let text = serde_json::to_string(attempt).expect("records serialize");
        self.put_system_text(&log, &id, text, Some(WEBHOOK_LOG_RETENTION_SECONDS * 1000)).map(drop)
    }

    /// Queues dead letters for another delivery (one, or all); returns how
    /// many.
    pub(crate) fn replay_dead(&mut self, name: &str, message: Option<&str>) -> Result<usize> {
        let Some(dead) = self.system(System::WebhookDead, false)? else { return Ok(0) };
        let p = prefix(name);
        let docs = match message {
            Some(m) => self.tx.doc(dead.row.id, &format!("{p}{m}"))?.into_iter().collect(),
            None => {
                let reader: &dyn Reader = &*self.tx;
                prefixed_docs(reader, dead.row.id, &p, engram_core::limits::WEBHOOK_LIST_MAX)?
            }
        };
        for d in &docs {
            self.rewrite_dead(&dead, d, |letter| letter.replay = true)?;
        }
        Ok(docs.len())
    }
}
