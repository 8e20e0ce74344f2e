//! Event stream request and result types.

use engram_core::limits::{DEDUP_WINDOW_SECONDS_MAX, EVENTS_PER_APPEND_MAX};
use engram_core::names::{check_label, check_stream_name};
use engram_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the stream's version must be for an append to go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ExpectedVersion {
    /// No condition.
    #[default]
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must exist.
    Exists,
    /// The stream must be at exactly this version (0 = no events yet).
    Exact(u64),
}

/// One event to append.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventInput {
    /// A label such as `message_received`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Any JSON value.
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub data: Value,
    /// Any JSON value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub metadata: Option<Value>,
}

impl EventInput {
    pub fn new(event_type: &str, data: Value) -> Self {
        Self { event_type: event_type.to_owned(), data, metadata: None }
    }
}

/// An append of one or many events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppendRequest {
    pub events: Vec<EventInput>,
    #[serde(default)]
    pub expected_version: ExpectedVersion,
    /// Skip an event whose type and data equal one appended to this stream
    /// within this many seconds (retried agents recording twice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_window_seconds: Option<u64>,
}

impl AppendRequest {
    pub fn new(events: Vec<EventInput>) -> Self {
        Self { events, expected_version: ExpectedVersion::Any, dedup_window_seconds: None }
    }

    pub fn expect(mut self, v: ExpectedVersion) -> Self {
        self.expected_version = v;
        self
    }

    pub(crate) fn validate(&self, stream: &str) -> Result<()> {
        check_stream_name(stream)?;
        let n = self.events.len();
        if n == 0 || n > EVENTS_PER_APPEND_MAX {
            let msg = format!("an append holds 1 to {EVENTS_PER_APPEND_MAX} events, got {n}");
            return Err(if n == 0 { Error::invalid(msg) } else { Error::too_large(msg) });
        }
        for (i, e) in self.events.iter().enumerate() {
            check_label("event type", &e.event_type).map_err(|err| err.context(&format!("events[{i}]")))?;
        }
        match self.dedup_window_seconds {
            Some(w) if w == 0 || w > DEDUP_WINDOW_SECONDS_MAX => {
                Err(Error::invalid(format!("dedup_window_seconds must be 1 to {DEDUP_WINDOW_SECONDS_MAX}, got {w}")))
            }
            _ => Ok(()),
        }
    }
}

/// Where one event of an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Appended {
    pub version: u64,
    /// Global position: the event's change-log position in the space.
    pub position: u64,
    /// True when an equal event within the window was found instead.
    pub deduplicated: bool,
}

/// The outcome of an append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppendResult {
    pub stream: String,
    /// The stream's version after the append.
    pub version: u64,
    pub events: Vec<Appended>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub stream: String,
    pub version: u64,
    pub position: u64,
    #[serde(rename = "type")]
    pub event_type: String,
    /// Any JSON value.
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub data: Value,
    /// Any JSON value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub metadata: Option<Value>,
    /// When it was appended (ms since the Unix epoch; non-decreasing
    /// within a stream).
    pub recorded_at_ms: u64,
}

/// A stream's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamInfo {
    pub stream: String,
    pub version: u64,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    /// Global position of the newest event.
    pub last_position: u64,
}

/// Which way a read goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ReadDirection {
    #[default]
    Forward,
    Backward,
}

/// A page of events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventPage {
    pub events: Vec<Event>,
    /// The version to read from next, when more may follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_version: Option<u64>,
}

/// A stored snapshot of a stream's state at a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Snapshot {
    pub stream: String,
    pub version: u64,
    /// Any JSON value.
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub state: Value,
    pub recorded_at_ms: u64,
}
