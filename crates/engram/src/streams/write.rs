//! Appends and snapshots inside a transaction.
//!
//! Invariants: a stream's events have versions 1..=n with no gaps, and the
//! newest event is the stream's head (there is no separate head record); an event's `position` is the change-log position of the entry that
//! logs it (checked as it is written); `recorded_at_ms` comes from the HLC,
//! so it never decreases along a stream and reads by time can bisect.

use crate::apply::Writer;
use crate::catalog::Compiled;
use crate::streams::types::{AppendRequest, AppendResult, Appended, EventInput, ExpectedVersion, Snapshot};
use crate::streams::{id_version, versioned_id};
use crate::system::System;
use engram_core::backend::{CollectionId, Reader, StoredDoc};
use engram_core::hlc::physical_ms;
use engram_core::json::{canonical, hex};
use engram_core::names::check_stream_name;
use engram_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;

/// An event as stored in `_events`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EventBody {
    pub stream: String,
    pub version: u64,
    pub position: u64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub at_ms: u64,
}

impl EventBody {
    pub fn parse(doc: &StoredDoc) -> Result<Self> {
        serde_json::from_str(&doc.body)
            .map_err(|e| Error::corrupted(format!("stored event {:?} is malformed: {e}", doc.id)))
    }
}

/// An event's type, data and metadata as JSON text, serialized before the
/// transaction (on the caller's thread when it goes through
/// `Space::append`: the single writer thread is the throughput limit).
pub(crate) struct EncodedEvent {
    /// The stored body's members from `"type"` to the end of `"metadata"`.
    members: String,
}

/// The members of [`EventBody`] that do not depend on where the event lands,
/// in the same order (serialized without braces, they are the same text).
#[derive(Serialize)]
struct EventMembers<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    data: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a Value>,
}

/// Serializes every event of a request (see [`EncodedEvent`]).
pub(crate) fn encode_events(events: &[EventInput]) -> Vec<EncodedEvent> {
    events
        .iter()
        .map(|e| {
            let members = EventMembers { event_type: &e.event_type, data: &e.data, metadata: e.metadata.as_ref() };
            let mut members = serde_json::to_string(&members).expect("events serialize");
            // `{…}` to `…`: the members alone.
            members.pop();
            members.remove(0);
            EncodedEvent { members }
        })
        .collect()
}

/// The stored text of an event: what serializing its [`EventBody`] gives.
fn event_text(stream_json: &str, version: u64, position: u64, e: &EncodedEvent, at_ms: u64) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(stream_json.len() + e.members.len() + 96);
    text.push_str("{\"stream\":");
    text.push_str(stream_json);
    write!(text, ",\"version\":{version},\"position\":{position},").expect("writing to a string");
    text.push_str(&e.members);
    write!(text, ",\"at_ms\":{at_ms}}}").expect("writing to a string");
    text
}

/// The deduplication key of an event: its type and data.
fn content_key(stream: &str, e: &EventInput) -> String {
    let mut h = blake3::Hasher::new();
    h.update(e.event_type.as_bytes());
    h.update(&[0]);
    h.update(canonical(&e.data).as_bytes());
    format!("{stream}@{}", hex(&h.finalize().as_bytes()[..16]))
}

/// The newest event of `stream` among the reader's documents of `_events`.
pub(crate) fn last_event(reader: &dyn Reader, events: CollectionId, stream: &str) -> Result<Option<EventBody>> {
    match newest_doc(reader, events, stream)? {
        Some(d) => EventBody::parse(&d).map(Some),
        None => Ok(None),
    }
}

/// The stored document of the newest event of `stream`, if any.
fn newest_doc(reader: &dyn Reader, events: CollectionId, stream: &str) -> Result<Option<StoredDoc>> {
    let docs = reader.scan_docs(events, Some(&versioned_id(stream, u64::MAX)), true, 1)?;
    Ok(docs.into_iter().next().filter(|d| d.id.strip_prefix(stream).is_some_and(|rest| rest.starts_with('@'))))
}

/// The version of the newest event of `stream`, read from its id (id order
/// is version order) without parsing the event.
fn head_version(reader: &dyn Reader, events: CollectionId, stream: &str) -> Result<Option<u64>> {
    match newest_doc(reader, events, stream)? {
        Some(d) => id_version(stream, &d.id),
        None => Ok(None),
    }
}

fn check_expected(stream: &str, expected: ExpectedVersion, head: Option<u64>) -> Result<()> {
    let version = head.unwrap_or(0);
    let ok = match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => head.is_none(),
        ExpectedVersion::Exists => head.is_some(),
        ExpectedVersion::Exact(v) => v == version,
    };
    if ok {
        return Ok(());
    }
    let state = match head {
        None => "it does not exist".to_owned(),
        Some(v) => format!("it is at version {v}"),
    };
    let wanted = match expected {
        ExpectedVersion::NoStream => "not to exist".to_owned(),
        ExpectedVersion::Exists => "to exist".to_owned(),
        ExpectedVersion::Exact(v) => format!("version {v}"),
        ExpectedVersion::Any => unreachable!("Any always holds"),
    };
    Err(Error::conflict(format!("stream {stream:?}: expected {wanted}, but {state}")))
}

impl Writer<'_> {
    /// The stream's version (its newest event's): a stream exists while it
    /// has events.
    fn stream_head(&mut self, events: &Compiled, stream: &str) -> Result<Option<u64>> {
        let reader: &dyn Reader = &*self.tx;
        head_version(reader, events.row.id, stream)
    }

    /// Events already appended within the window, by request index.
    fn duplicates(&mut self, stream: &str, req: &AppendRequest) -> Result<Vec<Option<Appended>>> {
        let mut found = vec![None; req.events.len()];
        if req.dedup_window_seconds.is_none() {
            return Ok(found);
        }
        let dedup = self.system_created(System::Dedup)?;
        for (i, e) in req.events.iter().enumerate() {
            let key = content_key(stream, e);
            if let Some(doc) = self.tx.doc(dedup.row.id, &key)?.filter(|d| d.is_live(self.now_ms)) {
                found[i] = Some(serde_json::from_str::<Appended>(&doc.body).map_err(|err| {
                    Error::corrupted(format!("stored deduplication mark {key:?} is malformed: {err}"))
                })?);
            }
        }
        Ok(found)
    }

    /// Appends events to a stream after checking its expected version.
    /// When every event is a duplicate within the window, the append is a
    /// retry: it returns the first outcome and checks nothing.
    pub fn append(&mut self, stream: &str, req: &AppendRequest) -> Result<(AppendResult, u64)> {
        self.append_encoded(stream, req, &encode_events(&req.events))
    }

    /// [`Writer::append`] with the request's events already serialized
    /// (`encoded[i]` is `req.events[i]`).
    pub fn append_encoded(
        &mut self,
        stream: &str,
        req: &AppendRequest,
        encoded: &[EncodedEvent],
    ) -> Result<(AppendResult, u64)> {
        req.validate(stream)?;
        if encoded.len() != req.events.len() {
            return Err(Error::internal("an append's encoded events do not match its events"));
        }
        let events = self.system_created(System::Events)?;
        let head = self.stream_head(&events, stream)?;
        let mut version = head.unwrap_or(0);
        let mut outcome = self.duplicates(stream, req)?;
        if outcome.iter().all(Option::is_some) {
            let events = outcome.into_iter().flatten().collect();
            let position = self.tx.change_head(self.space)?.position;
            return Ok((AppendResult { stream: stream.to_owned(), version, events }, position));
        }
        check_expected(stream, req.expected_version, head)?;
        let dedup = match req.dedup_window_seconds {
            Some(_) => self.system(System::Dedup, false)?,
            None => None,
        };
        let at_ms = physical_ms(self.tick());
        let mut in_request: HashMap<String, Appended> = HashMap::new();
        let mut position = self.tx.change_head(self.space)?.position;
        let stream_json = serde_json::to_string(stream).expect("a string serializes");
        for (i, e) in req.events.iter().enumerate() {
            if outcome[i].is_some() {
                continue;
            }
            let key = dedup.as_ref().map(|_| content_key(stream, e));
            if let Some(first) = key.as_ref().and_then(|k| in_request.get(k)) {
                outcome[i] = Some(Appended { deduplicated: true, ..*first });
                continue;
            }
            version += 1;
            let expected = position + 1;
            let text = event_text(&stream_json, version, expected, &encoded[i], at_ms);
            position = self.put_system_text(&events, &versioned_id(stream, version), text, None)?.1;
            if position != expected {
                return Err(Error::internal(format!("event logged at {position}, expected {expected}")));
            }
            let appended = Appended { version, position, deduplicated: false };
            if let (Some(dedup), Some(key), Some(window)) = (&dedup, key, req.dedup_window_seconds) {
                let mark = serde_json::to_value(Appended { deduplicated: true, ..appended }).expect("serializes");
                position = self.put_system(dedup, &key, &mark, Some(window.saturating_mul(1000)))?.1;
                in_request.insert(key, appended);
            }
            outcome[i] = Some(appended);
        }
        let events = outcome.into_iter().flatten().collect();
        Ok((AppendResult { stream: stream.to_owned(), version, events }, position))
    }

    /// Stores a snapshot of a stream's state as of `version` (1 to the
    /// stream's version), replacing one stored at the same version.
    pub fn save_snapshot(&mut self, stream: &str, version: u64, state: &Value) -> Result<(Snapshot, u64)> {
        check_stream_name(stream)?;
        let missing = || Error::not_found(format!("stream {stream:?} does not exist"));
        let events = self.system(System::Events, false)?.ok_or_else(missing)?;
        let head = self.stream_head(&events, stream)?.ok_or_else(missing)?;
        if version == 0 || version > head {
            return Err(Error::invalid(format!(
                "snapshot version must be 1 to the stream's version {head}, got {version}"
            )));
        }
        let snapshots = self.system_created(System::Snapshots)?;
        let at_ms = physical_ms(self.tick());
        let body = json!({"stream": stream, "version": version, "state": state, "at_ms": at_ms});
        let position = self.put_system(&snapshots, &versioned_id(stream, version), &body, None)?.1;
        let snap = Snapshot { stream: stream.to_owned(), version, state: state.clone(), recorded_at_ms: at_ms };
        Ok((snap, position))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembled_event_text_is_the_serialized_body() {
        let plain = EventInput::new("observed", json!({"n": 1, "text": "a \"quoted\" line\n", "z": [1.5, null]}));
        let with_meta = EventInput {
            event_type: "tool \u{1F600} call".to_owned(),
            data: json!({}),
            metadata: Some(json!({"agent": "a/17", "nested": {"b": 1, "a": 2}})),
        };
        let encoded = encode_events(&[plain.clone(), with_meta.clone()]);
        for (e, enc) in [plain, with_meta].into_iter().zip(&encoded) {
            for (stream, version, position, at_ms) in
                [("s", 1, 1, 0), ("chat/\"x\"", 12_345, u64::MAX, 1_733_036_000_000)]
            {
                let body = EventBody {
                    stream: stream.to_owned(),
                    version,
                    position,
                    event_type: e.event_type.clone(),
                    data: e.data.clone(),
                    metadata: e.metadata.clone(),
                    at_ms,
                };
                let stream_json = serde_json::to_string(stream).expect("serializes");
                let text = event_text(&stream_json, version, position, enc, at_ms);
                assert_eq!(text, serde_json::to_string(&body).expect("serializes"));
                let doc = StoredDoc {
                    id: versioned_id(stream, version),
                    version: 1,
                    body: text,
                    expires_at_ms: None,
                    updated_hlc: 1,
                };
                let parsed = EventBody::parse(&doc).expect("parses");
                assert_eq!((parsed.data, parsed.metadata), (e.data.clone(), e.metadata.clone()));
            }
        }
    }
}
