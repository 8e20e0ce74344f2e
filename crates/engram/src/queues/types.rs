//! Queue request and result types, with their validation.

use engram_core::limits::{
    DELAY_SECONDS_MAX, ENQUEUE_BATCH_MAX, MAX_ATTEMPTS_MAX, MESSAGE_BYTES_MAX, PRIORITY_MAX, RECEIVE_MAX,
    RECEIVE_WAIT_SECONDS_MAX, RETRY_BACKOFF_MS_MAX, VISIBILITY_SECONDS_MAX,
};
use engram_core::names::check_queue_key;
use engram_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One message to enqueue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageInput {
    /// Any JSON value, at most 256 KiB serialized.
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub body: Value,
    /// Seconds before the message can be received (0 to 7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<u64>,
    /// 0 (default) to 9: higher priorities are received first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(maximum = 9))]
    pub priority: Option<u8>,
    /// Messages of one group are received one at a time, in enqueue order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// While a message with this key is in the queue (not yet acknowledged
    /// or dead-lettered), enqueueing another with it is a no-op that
    /// returns the first message's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
}

impl MessageInput {
    pub fn new(body: Value) -> Self {
        Self { body, delay_seconds: None, priority: None, group: None, dedup_key: None }
    }

    /// Checks every field, and the body's serialized size.
    pub(crate) fn validate(&self) -> Result<()> {
        check_delay(self.delay_seconds)?;
        if self.priority.is_some_and(|p| p > PRIORITY_MAX) {
            return Err(Error::invalid(format!("priority must be 0 to {PRIORITY_MAX}")));
        }
        if let Some(g) = &self.group {
            check_queue_key("message group", g)?;
        }
        if let Some(k) = &self.dedup_key {
            check_queue_key("deduplication key", k)?;
        }
        self.check_size()
    }

    /// Refuses a body above [`MESSAGE_BYTES_MAX`] serialized.
    fn check_size(&self) -> Result<()> {
        let bytes = serde_json::to_vec(&self.body).map_err(|e| Error::invalid(format!("message body: {e}")))?.len();
        if bytes > MESSAGE_BYTES_MAX {
            return Err(Error::too_large(format!(
                "a message body is at most {MESSAGE_BYTES_MAX} bytes serialized, got {bytes}"
            )));
        }
        Ok(())
    }
}

/// Checks a delay given by a caller.
fn check_delay(seconds: Option<u64>) -> Result<()> {
    if seconds.is_some_and(|d| d > DELAY_SECONDS_MAX) {
        return Err(Error::invalid(format!("delay_seconds must be at most {DELAY_SECONDS_MAX}")));
    }
    Ok(())
}

/// Checks the size of an enqueue batch and each of its messages.
pub(crate) fn validate_batch(messages: &[MessageInput]) -> Result<()> {
    let n = messages.len();
    if n == 0 || n > ENQUEUE_BATCH_MAX {
        let msg = format!("an enqueue holds 1 to {ENQUEUE_BATCH_MAX} messages, got {n}");
        return Err(if n == 0 { Error::invalid(msg) } else { Error::too_large(msg) });
    }
    for (i, m) in messages.iter().enumerate() {
        m.validate().map_err(|e| e.context(&format!("messages[{i}]")))?;
    }
    Ok(())
}

/// The outcome of enqueueing one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Enqueued {
    /// The message's id (the first message's when deduplicated).
    pub id: String,
    /// True when a live message already held the deduplication key: nothing
    /// was written.
    pub deduplicated: bool,
    /// Change-log position of the message's entry (0 when deduplicated).
    pub position: u64,
}

/// A queue's settings. Every field has a default; a queue is created with
/// the defaults by its first enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueConfig {
    /// Lease length of a receive that names none (1 s to 12 h; default 30).
    pub visibility_timeout_seconds: u64,
    /// Deliveries before a message is dead-lettered (1 to 1000; default 5).
    pub max_attempts: u32,
    /// First retry delay after a `nack`, in ms; doubled per attempt, with
    /// jitter (default 1000).
    pub retry_base_ms: u64,
    /// Longest retry delay, in ms (at most a day; default 3,600,000).
    pub retry_max_ms: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self { visibility_timeout_seconds: 30, max_attempts: 5, retry_base_ms: 1_000, retry_max_ms: 3_600_000 }
    }
}

impl QueueConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        check_visibility(self.visibility_timeout_seconds)?;
        if self.max_attempts == 0 || self.max_attempts > MAX_ATTEMPTS_MAX {
            return Err(Error::invalid(format!("max_attempts must be 1 to {MAX_ATTEMPTS_MAX}")));
        }
        if self.retry_base_ms == 0 || self.retry_base_ms > self.retry_max_ms {
            return Err(Error::invalid("retry_base_ms must be at least 1 and at most retry_max_ms"));
        }
        if self.retry_max_ms > RETRY_BACKOFF_MS_MAX {
            return Err(Error::invalid(format!("retry_max_ms must be at most {RETRY_BACKOFF_MS_MAX}")));
        }
        Ok(())
    }
}

pub(crate) fn check_visibility(seconds: u64) -> Result<()> {
    if seconds == 0 || seconds > VISIBILITY_SECONDS_MAX {
        return Err(Error::invalid(format!("visibility_timeout_seconds must be 1 to {VISIBILITY_SECONDS_MAX}")));
    }
    Ok(())
}

/// What a receive asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiveRequest {
    /// 1 to 100 (default 1).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub max_messages: Option<usize>,
    /// The lease's length; the queue's setting when absent.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 43200))]
    pub visibility_timeout_seconds: Option<u64>,
    /// Long poll: wait up to this many seconds (0 to 20) for a message when
    /// none is ready; woken by an enqueue, not by polling. The server ends
    /// a wait a second before its request timeout.
    #[cfg_attr(feature = "openapi", schema(maximum = 20))]
    pub wait_seconds: Option<u64>,
}

impl ReceiveRequest {
    pub(crate) fn validate(&self) -> Result<usize> {
        let n = self.max_messages.unwrap_or(1);
        if n == 0 || n > RECEIVE_MAX {
            return Err(Error::invalid(format!("max_messages must be 1 to {RECEIVE_MAX}")));
        }
        if let Some(v) = self.visibility_timeout_seconds {
            check_visibility(v)?;
        }
        if self.wait_seconds.is_some_and(|w| w > RECEIVE_WAIT_SECONDS_MAX) {
            return Err(Error::invalid(format!("wait_seconds must be at most {RECEIVE_WAIT_SECONDS_MAX}")));
        }
        Ok(n)
    }
}

/// A received message, leased to its receiver until `lease_expires_at_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: String,
    /// Names this delivery: `ack`, `nack` and `extend` take it. A receipt
    /// from an earlier delivery of the same message is refused.
    pub receipt: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub body: Value,
    /// Deliveries so far, this one included.
    pub attempts: u32,
    pub priority: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
    pub enqueued_at_ms: u64,
    pub lease_expires_at_ms: u64,
}

/// A dead-lettered message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeadLetter {
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub body: Value,
    pub attempts: u32,
    pub priority: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub enqueued_at_ms: u64,
    pub dead_at_ms: u64,
    /// Why: the last `nack`'s error, or the lease that expired.
    pub reason: String,
}

/// What an acknowledgement of one receipt did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AckOutcome {
    pub receipt: String,
    /// True when the message was removed; false when the receipt no longer
    /// holds its message's lease (see `error`).
    pub acked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a `nack` asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NackRequest {
    /// Retry after this many seconds instead of the queue's backoff.
    pub delay_seconds: Option<u64>,
    /// Why the delivery failed (kept with a dead letter; at most 1 KiB).
    pub error: Option<String>,
}

/// Longest error text a `nack` keeps.
pub(crate) const NACK_ERROR_BYTES_MAX: usize = 1024;

impl NackRequest {
    pub(crate) fn validate(&self) -> Result<()> {
        check_delay(self.delay_seconds)?;
        if self.error.as_ref().is_some_and(|e| e.len() > NACK_ERROR_BYTES_MAX) {
            return Err(Error::invalid(format!("error must be at most {NACK_ERROR_BYTES_MAX} bytes")));
        }
        Ok(())
    }
}

/// What a `nack` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NackOutcome {
    pub id: String,
    /// True when the message ran out of attempts and was dead-lettered.
    pub dead_lettered: bool,
    /// When it can be received again (absent when dead-lettered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible_at_ms: Option<u64>,
}

/// A queue's settings and counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueStats {
    pub queue: String,
    pub config: QueueConfig,
    /// Receivable now (including messages whose lease expired).
    pub ready: u64,
    /// Waiting for their delay or retry backoff.
    pub delayed: u64,
    /// Leased and not yet expired.
    pub in_flight: u64,
    /// Behind an earlier message of their group.
    pub waiting: u64,
    /// Dead-lettered.
    pub dead: u64,
    /// Age of the oldest receivable message, in ms (0 when none).
    pub oldest_ready_age_ms: u64,
    /// False when the queue holds more messages than one count reads
    /// (100,000); the figures then cover the first ones only.
    pub exact: bool,
}

/// A queue as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueInfo {
    pub queue: String,
    pub config: QueueConfig,
}
