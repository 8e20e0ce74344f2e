//! Publishing outbox messages inside a transaction.

use crate::apply::Writer;
use crate::feed::types::check_topic;
use crate::system::System;
use engram_core::limits::{OUTBOX_PAYLOAD_BYTES_MAX, OUTBOX_RETENTION_SECONDS};
use engram_core::{Error, Result};
use serde_json::{Value, json};

/// Checks a message before its transaction: topic and payload size.
pub(crate) fn check_message(topic: &str, payload: &Value) -> Result<()> {
    check_topic(topic)?;
    let bytes = serde_json::to_vec(payload).map_err(|e| Error::invalid(format!("payload: {e}")))?.len();
    if bytes > OUTBOX_PAYLOAD_BYTES_MAX {
        return Err(Error::too_large(format!(
            "an outbox payload is at most {OUTBOX_PAYLOAD_BYTES_MAX} bytes serialized, got {bytes}"
        )));
    }
    Ok(())
}

impl Writer<'_> {
    /// Writes an outbox message; returns (its id, change-log position).
    pub(crate) fn publish(&mut self, topic: &str, payload: &Value) -> Result<(String, u64)> {
        check_message(topic, payload)?;
        let coll = self.system_created(System::Outbox)?;
        let id = format!("{topic}@{}", uuid::Uuid::now_v7());
        let text = json!({ "topic": topic, "payload": payload }).to_string();
        let (_, position) = self.put_system_text(&coll, &id, text, Some(OUTBOX_RETENTION_SECONDS * 1000))?;
        Ok((id, position))
    }
}
