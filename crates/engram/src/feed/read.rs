//! Reading a page of a feed: change-log entries after a position, filtered,
//! with documents or outbox payloads attached, all from one reader snapshot.

use crate::feed::outbox_topic;
use crate::feed::types::{FeedEntry, FeedFilter, FeedOp, FeedPage, FeedSource};
use crate::system::System;
use engram_core::backend::{CollectionId, Reader, SpaceId};
use engram_core::changelog::{ChangeEntry, ChangeOp};
use engram_core::hlc::physical_ms;
use engram_core::limits::FEED_SCAN_MAX;
use engram_core::names::CollectionName;
use engram_core::{Error, Result};
use serde_json::Value;
use std::collections::HashMap;

/// Change-log entries read per step.
const CHUNK_ENTRIES: usize = 1_000;

/// Reads up to `limit` entries selected by `filter` after `after`, reading
/// at most [`FEED_SCAN_MAX`] log entries.
pub(crate) fn read_page(
    reader: &dyn Reader,
    space: SpaceId,
    after: u64,
    filter: &FeedFilter,
    limit: usize,
) -> Result<FeedPage> {
    let head = reader.change_head(space)?.position;
    let mut page = Page { reader, space, filter, colls: HashMap::new(), entries: Vec::new() };
    let mut pos = after;
    let mut scanned = 0;
    'read: while page.entries.len() < limit && pos < head && scanned < FEED_SCAN_MAX {
        let run = reader.changes(space, pos, CHUNK_ENTRIES.min(FEED_SCAN_MAX - scanned))?;
        if run.is_empty() {
            break;
        }
        for e in &run {
            pos = e.position;
            scanned += 1;
            if let Some(entry) = page.select(e)? {
                page.entries.push(entry);
                if page.entries.len() == limit {
                    break 'read;
                }
            }
        }
    }
    Ok(FeedPage { entries: page.entries, next_after: pos, head })
}

/// Whether the filter could select this entry, judged from the entry alone
/// (used to skip past entries nobody follows).
pub(crate) fn may_select(filter: &FeedFilter, e: &ChangeEntry) -> bool {
    match filter.source {
        FeedSource::Outbox => {
            e.collection == System::Outbox.name()
                && e.op == ChangeOp::Put
                && (filter.topics.is_empty()
                    || outbox_topic(&e.doc_id).is_some_and(|t| filter.topics.iter().any(|f| f == t)))
        }
        FeedSource::Objects => {
            e.collection == System::Objects.name()
                && FeedOp::of(e.op).is_some_and(|op| filter.ops.is_empty() || filter.ops.contains(&op))
        }
        FeedSource::Documents => {
            let Some(op) = FeedOp::of(e.op) else { return false };
            !e.collection.is_empty()
                && !e.collection.starts_with('_')
                && (filter.collections.is_empty() || filter.collections.contains(&e.collection))
                && (filter.ops.is_empty() || filter.ops.contains(&op))
        }
    }
}

struct Page<'a> {
    reader: &'a dyn Reader,
    space: SpaceId,
    filter: &'a FeedFilter,
    /// Collection ids by name, looked up once per page.
    colls: HashMap<String, Option<CollectionId>>,
    entries: Vec<FeedEntry>,
}

impl Page<'_> {
    fn select(&mut self, e: &ChangeEntry) -> Result<Option<FeedEntry>> {
        if !may_select(self.filter, e) {
            return Ok(None);
        }
        let Some(op) = FeedOp::of(e.op) else { return Ok(None) };
        let mut entry = FeedEntry {
            position: e.position,
            at_ms: physical_ms(e.hlc),
            op,
            collection: None,
            id: e.doc_id.clone(),
            version: e.version,
            document: None,
            superseded: false,
            topic: None,
            payload: None,
        };
        match self.filter.source {
            FeedSource::Outbox => self.attach_payload(&mut entry)?,
            FeedSource::Documents => {
                entry.collection = Some(e.collection.clone());
                if self.filter.include_documents && matches!(op, FeedOp::Put | FeedOp::Patch) {
                    self.attach_document(&e.collection, &mut entry)?;
                }
            }
            FeedSource::Objects => {
                if self.filter.include_documents && op == FeedOp::Put {
                    self.attach_document(System::Objects.name(), &mut entry)?;
                }
            }
        }
        Ok(Some(entry))
    }

    fn collection(&mut self, name: &str) -> Result<Option<CollectionId>> {
        if let Some(id) = self.colls.get(name) {
            return Ok(*id);
        }
        let cname = match name {
            n if n == System::Outbox.name() => System::Outbox.collection_name(),
            n if n == System::Objects.name() => System::Objects.collection_name(),
            n => CollectionName::new(n)?,
        };
        let id = self.reader.collection(self.space, &cname)?.map(|c| c.id);
        self.colls.insert(name.to_owned(), id);
        Ok(id)
    }

    /// The document at the entry's version, if it is still current.
    fn attach_document(&mut self, collection: &str, entry: &mut FeedEntry) -> Result<()> {
        let doc = match self.collection(collection)? {
            Some(id) => self.reader.doc(id, &entry.id)?,
            None => None,
        };
        match doc.filter(|d| d.version == entry.version) {
            Some(d) => entry.document = Some(parse(&d.body, &entry.id)?),
            None => entry.superseded = true,
        }
        Ok(())
    }

    /// The outbox message's topic and payload (gone after its retention).
    fn attach_payload(&mut self, entry: &mut FeedEntry) -> Result<()> {
        entry.topic = outbox_topic(&entry.id).map(str::to_owned);
        let doc = match self.collection(System::Outbox.name())? {
            Some(id) => self.reader.doc(id, &entry.id)?,
            None => None,
        };
        match doc {
            Some(d) => entry.payload = Some(parse(&d.body, &entry.id)?["payload"].take()),
            None => entry.superseded = true,
        }
        Ok(())
    }
}

fn parse(body: &str, id: &str) -> Result<Value> {
    serde_json::from_str(body).map_err(|e| Error::corrupted(format!("stored document {id:?}: {e}")))
}
