//! Appends and snapshots inside a transaction.
//!
//! Invariants: a stream's events have versions 1..=n with no gaps, and the
//! newest event is the stream's head (there is no separate head record); an event's `position` is the change-log position of the entry that
//! logs it (checked as it is written); `recorded_at_ms` comes from the HLC,
//! so it never decreases along a stream and reads by time can bisect.

use crate::apply::Writer;
use crate::catalog::Compiled;
use crate::streams::types::{AppendRequest, AppendResult, Appended, EventInput, ExpectedVersion, Snapshot};
use crate::streams::versioned_id;
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
    let docs = reader.scan_docs(events, Some(&versioned_id(stream, u64::MAX)), true, 1)?;
    match docs.first() {
        Some(d) if d.id.strip_prefix(stream).is_some_and(|rest| rest.starts_with('@')) => EventBody::parse(d).map(Some),
        _ => Ok(None),
    }
}

fn check_expected(stream: &str, expected: ExpectedVersion, head: Option<&EventBody>) -> Result<()> {
    let version = head.map_or(0, |h| h.version);
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
        Some(h) => format!("it is at version {}", h.version),
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
    /// The stream's newest event: a stream exists while it has events.
    fn stream_head(&mut self, events: &Compiled, stream: &str) -> Result<Option<EventBody>> {
        let reader: &dyn Reader = &*self.tx;
        last_event(reader, events.row.id, stream)
    }

    /// Events already appended within the window, by request index.
    fn duplicates(&mut self, stream: &str, req: &AppendRequest) -> Result<Vec<Option<Appended>>> {
        let mut found = vec![None; req.events.len()];
        if req.dedup_window_seconds.is_none() {
            return Ok(found);
        }
        let dedup = self.system(System::Dedup, true)?.expect("created on demand");
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
        req.validate(stream)?;
        let events = self.system(System::Events, true)?.expect("created on demand");
        let head = self.stream_head(&events, stream)?;
        let mut version = head.as_ref().map_or(0, |h| h.version);
        let mut outcome = self.duplicates(stream, req)?;
        if outcome.iter().all(Option::is_some) {
            let events = outcome.into_iter().flatten().collect();
            let position = self.tx.change_head(self.space)?.position;
            return Ok((AppendResult { stream: stream.to_owned(), version, events }, position));
        }
        check_expected(stream, req.expected_version, head.as_ref())?;
        let dedup = match req.dedup_window_seconds {
            Some(_) => self.system(System::Dedup, false)?,
            None => None,
        };
        let at_ms = physical_ms(self.tick());
        let mut in_request: HashMap<String, Appended> = HashMap::new();
        let mut position = self.tx.change_head(self.space)?.position;
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
            let body = EventBody {
                stream: stream.to_owned(),
                version,
                position: position + 1,
                event_type: e.event_type.clone(),
                data: e.data.clone(),
                metadata: e.metadata.clone(),
                at_ms,
            };
            let text = serde_json::to_string(&body).expect("events serialize");
            position = self.put_system_text(&events, &versioned_id(stream, version), text, None)?.1;
            if position != body.position {
                return Err(Error::internal(format!("event logged at {position}, expected {}", body.position)));
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
        if version == 0 || version > head.version {
            return Err(Error::invalid(format!(
                "snapshot version must be 1 to the stream's version {}, got {version}",
                head.version
            )));
        }
        let snapshots = self.system(System::Snapshots, true)?.expect("created on demand");
        let at_ms = physical_ms(self.tick());
        let body = json!({"stream": stream, "version": version, "state": state, "at_ms": at_ms});
        let position = self.put_system(&snapshots, &versioned_id(stream, version), &body, None)?.1;
        let snap = Snapshot { stream: stream.to_owned(), version, state: state.clone(), recorded_at_ms: at_ms };
        Ok((snap, position))
    }
}
