//! The event-stream operations of a [`Space`]: append, read by version or
//! time, stream heads and snapshots.

use crate::space::Space;
use crate::streams::types::{AppendRequest, AppendResult, Event, EventPage, ReadDirection, Snapshot, StreamInfo};
use crate::streams::write::{encode_events, last_event};
use crate::streams::{id_version, versioned_id};
use crate::system::System;
use engram_core::backend::{CollectionId, Reader, StoredDoc};
use engram_core::limits::EVENTS_READ_MAX;
use engram_core::names::check_stream_name;
use engram_core::{Error, Result};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

impl Space {
    /// Appends events to a stream (see [`AppendRequest`]).
    pub fn append(&self, stream: &str, req: AppendRequest) -> Result<AppendResult> {
        req.validate(stream)?;
        let stream = stream.to_owned();
        // Serialized here, on the caller's thread, not on the writer's.
        let encoded = encode_events(&req.events);
        self.write(move |w| w.append_encoded(&stream, &req, &encoded)).map(|(r, _)| r)
    }

    /// A stream's head; not found when it has no events.
    pub fn stream(&self, stream: &str) -> Result<StreamInfo> {
        check_stream_name(stream)?;
        let reader = self.inner.backend.reader()?;
        let coll = events_coll(self)?.ok_or_else(|| no_stream(stream))?;
        let head = last_event(&*reader, coll, stream)?.ok_or_else(|| no_stream(stream))?;
        let first = reader.doc(coll, &versioned_id(stream, 1))?.ok_or_else(|| no_stream(stream))?;
        Ok(StreamInfo {
            stream: stream.to_owned(),
            version: head.version,
            created_at_ms: recorded_at(&first)?,
            updated_at_ms: head.at_ms,
            last_position: head.position,
        })
    }

    /// Up to `limit` events from `from_version` (inclusive): forward from 1
    /// or backward from the newest when not given.
    pub fn read_stream(
        &self,
        stream: &str,
        from_version: Option<u64>,
        direction: ReadDirection,
        limit: usize,
    ) -> Result<EventPage> {
        check_stream_name(stream)?;
        check_read_limit(limit)?;
        let reader = self.inner.backend.reader()?;
        let Some(coll) = events_coll(self)? else { return Err(no_stream(stream)) };
        let reverse = direction == ReadDirection::Backward;
        let after = match (direction, from_version) {
            (ReadDirection::Forward, v) => versioned_id(stream, v.unwrap_or(1).saturating_sub(1)),
            (ReadDirection::Backward, Some(v)) => versioned_id(stream, v.saturating_add(1)),
            (ReadDirection::Backward, None) => versioned_id(stream, u64::MAX),
        };
        let docs = reader.scan_docs(coll, Some(&after), reverse, limit)?;
        let events = of_stream(stream, &docs)?;
        if events.is_empty() && last_event(&*reader, coll, stream)?.is_none() {
            return Err(no_stream(stream));
        }
        let next_version = match (events.last(), events.len() == limit) {
            (Some(last), true) if reverse => last.version.checked_sub(1).filter(|v| *v > 0),
            (Some(last), true) => Some(last.version + 1),
            _ => None,
        };
        Ok(EventPage { events, next_version })
    }

    /// Up to `limit` events recorded in [from_ms, until_ms), oldest first.
    pub fn read_stream_time(&self, stream: &str, from_ms: u64, until_ms: u64, limit: usize) -> Result<EventPage> {
        check_stream_name(stream)?;
        check_read_limit(limit)?;
        if until_ms <= from_ms {
            return Err(Error::invalid("until_ms must be after from_ms"));
        }
        let reader = self.inner.backend.reader()?;
        let coll = events_coll(self)?.ok_or_else(|| no_stream(stream))?;
        let head = last_event(&*reader, coll, stream)?.ok_or_else(|| no_stream(stream))?;
        let first = first_at_or_after(&*reader, coll, stream, head.version, from_ms)?;
        if first > head.version {
            return Ok(EventPage { events: Vec::new(), next_version: None });
        }
        let docs = reader.scan_docs(coll, Some(&versioned_id(stream, first - 1)), false, limit)?;
        let mut events = of_stream(stream, &docs)?;
        let full = events.len() == limit;
        events.retain(|e| e.recorded_at_ms < until_ms);
        let next_version = match events.last() {
            Some(last) if full && events.len() == limit => Some(last.version + 1),
            _ => None,
        };
        Ok(EventPage { events, next_version })
    }

    /// Stores a snapshot of the stream's state as of `version`.
    pub fn save_snapshot(&self, stream: &str, version: u64, state: Value) -> Result<Snapshot> {
        let stream = stream.to_owned();
        self.write(move |w| w.save_snapshot(&stream, version, &state)).map(|(s, _)| s)
    }

    /// The newest snapshot at or before `at_or_before` (any when `None`).
    pub fn snapshot(&self, stream: &str, at_or_before: Option<u64>) -> Result<Snapshot> {
        check_stream_name(stream)?;
        let missing = || Error::not_found(format!("stream {stream:?} has no snapshot at or before that version"));
        let reader = self.inner.backend.reader()?;
        let coll = self.inner.reserved_collection(self.id, System::Snapshots)?.ok_or_else(missing)?;
        let after = versioned_id(stream, at_or_before.map_or(u64::MAX, |v| v.saturating_add(1)));
        let docs = reader.scan_docs(coll.row.id, Some(&after), true, 1)?;
        let doc = docs.first().filter(|d| d.id.starts_with(&format!("{stream}@"))).ok_or_else(missing)?;
        let v: Value = serde_json::from_str(&doc.body)
            .map_err(|e| Error::corrupted(format!("stored snapshot {:?} is malformed: {e}", doc.id)))?;
        let num = |k: &str| v[k].as_u64().ok_or_else(|| Error::corrupted(format!("snapshot {:?} lacks {k}", doc.id)));
        Ok(Snapshot {
            stream: stream.to_owned(),
            version: num("version")?,
            state: v["state"].clone(),
            recorded_at_ms: num("at_ms")?,
        })
    }
}

fn no_stream(stream: &str) -> Error {
    Error::not_found(format!("stream {stream:?} does not exist"))
}

fn check_read_limit(limit: usize) -> Result<()> {
    if limit == 0 || limit > EVENTS_READ_MAX {
        return Err(Error::invalid(format!("limit must be 1 to {EVENTS_READ_MAX}, got {limit}")));
    }
    Ok(())
}

fn events_coll(space: &Space) -> Result<Option<CollectionId>> {
    Ok(space.inner.reserved_collection(space.id, System::Events)?.map(|c| c.row.id))
}

/// An event's stored fields that a read returns, parsed without the stream
/// and version (the id holds both) and borrowing the type when it can.
#[derive(Deserialize)]
struct StoredEvent<'a> {
    position: u64,
    #[serde(rename = "type", borrow)]
    event_type: Cow<'a, str>,
    data: Value,
    #[serde(default)]
    metadata: Option<Value>,
    at_ms: u64,
}

/// The events among `docs` that belong to `stream` (a scan runs past the
/// stream's last id into the next stream's).
fn of_stream(stream: &str, docs: &[StoredDoc]) -> Result<Vec<Event>> {
    let mut out = Vec::with_capacity(docs.len());
    for d in docs {
        let Some(version) = id_version(stream, &d.id)? else { break };
        let b: StoredEvent<'_> = serde_json::from_str(&d.body)
            .map_err(|e| Error::corrupted(format!("stored event {:?} is malformed: {e}", d.id)))?;
        out.push(Event {
            stream: stream.to_owned(),
            version,
            position: b.position,
            event_type: b.event_type.into_owned(),
            data: b.data,
            metadata: b.metadata,
            recorded_at_ms: b.at_ms,
        });
    }
    Ok(out)
}

/// An event's time alone (the rest of it is skipped, not built).
#[derive(Deserialize)]
struct EventTime {
    at_ms: u64,
}

/// When a stored event was appended.
fn recorded_at(doc: &StoredDoc) -> Result<u64> {
    let t: EventTime = serde_json::from_str(&doc.body)
        .map_err(|e| Error::corrupted(format!("stored event {:?} is malformed: {e}", doc.id)))?;
    Ok(t.at_ms)
}

/// The first version in 1..=last recorded at or after `ms` (last + 1 if
/// none), by bisection: times never decrease along a stream.
fn first_at_or_after(reader: &dyn Reader, coll: CollectionId, stream: &str, last: u64, ms: u64) -> Result<u64> {
    let (mut lo, mut hi) = (1u64, last + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let doc = reader
            .doc(coll, &versioned_id(stream, mid))?
            .ok_or_else(|| Error::corrupted(format!("stream {stream:?} lacks version {mid}")))?;
        if recorded_at(&doc)? < ms {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}
