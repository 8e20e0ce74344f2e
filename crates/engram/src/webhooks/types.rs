//! Webhook endpoint, delivery and dead-letter types.

use engram_core::limits::{FEED_FILTER_NAMES_MAX, WEBHOOK_URL_BYTES_MAX};
use engram_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Creates a webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewWebhook {
    /// `http://` or `https://` URL the messages are POSTed to.
    pub url: String,
    /// Outbox topics delivered (all when empty).
    #[serde(default)]
    pub topics: Vec<String>,
    /// The signing secret (`whsec_` + base64 of 24 to 64 bytes); generated
    /// when absent. Returned once, at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl NewWebhook {
    pub(crate) fn check(&self) -> Result<()> {
        check_url(&self.url)?;
        if self.topics.len() > FEED_FILTER_NAMES_MAX {
            return Err(Error::invalid(format!("an endpoint names at most {FEED_FILTER_NAMES_MAX} topics")));
        }
        for t in &self.topics {
            crate::feed::types::check_topic(t)?;
        }
        if let Some(s) = &self.secret {
            secret_key(s)?;
        }
        Ok(())
    }
}

/// Checks an endpoint URL's form (where it points is checked when it is
/// called: see the server's SSRF rules).
pub fn check_url(url: &str) -> Result<()> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else { return Err(Error::invalid("a webhook URL starts with http:// or https://")) };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if url.len() > WEBHOOK_URL_BYTES_MAX {
        return Err(Error::invalid(format!("a webhook URL is at most {WEBHOOK_URL_BYTES_MAX} bytes")));
    }
    if host.is_empty() || host.contains('@') || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid("a webhook URL needs a host, without credentials or spaces"));
    }
    Ok(())
}

/// The HMAC key of a `whsec_` secret.
pub fn secret_key(secret: &str) -> Result<Vec<u8>> {
    use base64::Engine as _;
    let bad = || Error::invalid("a webhook secret is whsec_ followed by base64 of 24 to 64 bytes");
    let b64 = secret.strip_prefix("whsec_").ok_or_else(bad)?;
    let key = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| bad())?;
    if !(24..=64).contains(&key.len()) {
        return Err(bad());
    }
    Ok(key)
}

/// A new random secret.
pub(crate) fn new_secret() -> String {
    use base64::Engine as _;
    let mut key = [0u8; 32];
    for chunk in key.chunks_mut(8) {
        chunk.copy_from_slice(&getrandom::u64().unwrap_or(0).to_le_bytes());
    }
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key))
}

/// An endpoint as described to callers (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookInfo {
    pub name: String,
    pub url: String,
    pub topics: Vec<String>,
    /// The outbox position delivered up to (or dead-lettered).
    pub position: u64,
    /// Failed attempts of the message now being delivered.
    pub attempt: u32,
    /// Failures in a row, across messages; at 5 the circuit opens.
    pub consecutive_failures: u32,
    /// Open: the endpoint keeps failing, and is tried only on the retry
    /// schedule, also for the messages after a dead-lettered one.
    pub circuit_open: bool,
    /// No attempt before this time (ms since the epoch; 0 = now).
    pub next_attempt_at_ms: u64,
    pub created_at_ms: u64,
}

/// A created endpoint, with the secret to verify its signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookCreated {
    #[serde(flatten)]
    pub endpoint: WebhookInfo,
    pub secret: String,
}

/// One delivery attempt, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryAttempt {
    /// The outbox message (the `webhook-id` header).
    pub message_id: String,
    pub position: u64,
    /// 1 for the first attempt of a message.
    pub attempt: u32,
    /// The HTTP status answered (absent when none was: timeout, refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub latency_ms: u64,
    pub at_ms: u64,
    pub delivered: bool,
}

/// A message the endpoint never accepted within the retry schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDeadLetter {
    pub message_id: String,
    pub position: u64,
    pub topic: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub payload: Value,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub dead_at_ms: u64,
    /// Queued for another delivery by a replay.
    pub replay: bool,
}

/// A message due to an endpoint, as the dispatcher delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// The outbox message id (`webhook-id`).
    pub message_id: String,
    pub position: u64,
    pub topic: String,
    pub payload: Value,
    /// Attempts already made (0 for a first delivery).
    pub attempt: u32,
    /// A dead letter being replayed (outside position order).
    pub replay: bool,
}

/// What a delivery attempt came to, as the dispatcher reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Failed; retry no earlier than this time (ms since the epoch).
    Retry {
        at_ms: u64,
    },
    /// Failed for the last time: dead-letter it; the endpoint's next
    /// message waits until `next_at_ms` (the circuit breaker).
    GiveUp {
        next_at_ms: u64,
    },
}
