//! The full audit of one space: its change-log chain end to end, then
//! every stored document against the last change the log records for it.
//!
//! The log holds, for each live document, the version and the BLAKE3 hash
//! of the canonical body its last write stored; a stored row whose body,
//! version or existence disagrees with that was changed outside the engine.
//! The first disagreement is reported with the change-log position it
//! contradicts (or, for a row the log never wrote, the document's name).

use crate::space::Space;
use engram_core::changelog::{ChangeEntry, ChangeHead, ChangeOp, Digest, verify_run};
use engram_core::json::{content_hash, hex};
use engram_core::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Entries read per step.
const LOG_CHUNK_ENTRIES: usize = 2_000;
/// Documents read per step.
const DOC_CHUNK_ROWS: usize = 1_000;

/// What a full audit checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditReport {
    /// Change-log entries whose hashes and links were recomputed.
    pub entries: u64,
    pub head_position: u64,
    pub head_hash: String,
    /// Stored documents checked against their last change.
    pub documents: u64,
    pub collections: u64,
}

/// The last change the log records for a live document.
struct Last {
    version: u64,
    content: Digest,
    position: u64,
}

/// Live documents by collection name, then id, as the log describes them.
type LiveDocs = HashMap<String, HashMap<String, Last>>;

impl Space {
    /// Checks the whole change log and every stored document against it;
    /// fails (`Corrupted`) at the first disagreement, naming its position.
    pub fn audit_rows(&self) -> Result<AuditReport> {
        let reader = self.inner.backend.reader()?;
        let (mut live, mut head, mut entries) = (LiveDocs::new(), ChangeHead::default(), 0u64);
        loop {
            let run = reader.changes(self.id, head.position, LOG_CHUNK_ENTRIES)?;
            if run.is_empty() {
                break;
            }
            head = verify_run(head, &run)?;
            entries += run.len() as u64;
            run.iter().for_each(|e| replay(&mut live, e));
        }
        if reader.change_head(self.id)? != head {
            return Err(Error::corrupted(format!(
                "change {}: the log's recorded head does not match its last entry",
                head.position
            )));
        }
        let (mut documents, collections) = (0u64, reader.collections(self.id)?);
        let mut findings = Findings::default();
        for coll in &collections {
            let mut expected = live.remove(coll.name.as_str()).unwrap_or_default();
            let mut after: Option<String> = None;
            loop {
                let page = reader.scan_docs(coll.id, after.as_deref(), false, DOC_CHUNK_ROWS)?;
                let Some(last) = page.last() else { break };
                after = Some(last.id.clone());
                for doc in &page {
                    documents += 1;
                    findings.check_doc(coll.name.as_str(), doc, expected.remove(&doc.id));
                }
            }
            expected.iter().for_each(|(id, last)| findings.missing(coll.name.as_str(), id, last));
        }
        // Documents of collections the log says exist but storage lacks.
        for (c, docs) in &live {
            docs.iter().for_each(|(id, last)| findings.missing(c, id, last));
        }
        findings.into_result()?;
        Ok(AuditReport {
            entries,
            head_position: head.position,
            head_hash: hex(&head.hash),
            documents,
            collections: collections.len() as u64,
        })
    }
}

/// Applies one entry to the live-document map.
fn replay(live: &mut LiveDocs, e: &ChangeEntry) {
    match e.op {
        ChangeOp::Put | ChangeOp::Patch => {
            let last = Last { version: e.version, content: e.content_hash, position: e.position };
            live.entry(e.collection.clone()).or_default().insert(e.doc_id.clone(), last);
        }
        ChangeOp::Delete | ChangeOp::Expire => {
            if let Some(docs) = live.get_mut(&e.collection) {
                docs.remove(&e.doc_id);
            }
        }
        ChangeOp::CollectionDrop => {
            live.remove(&e.collection);
        }
        ChangeOp::SpaceCreate | ChangeOp::CollectionCreate | ChangeOp::CollectionUpdate => {}
    }
}

/// What disagrees with the log: by the position each contradicts, and
/// rows no change wrote.
#[derive(Default)]
struct Findings {
    positioned: Vec<(u64, String)>,
    unlogged: Vec<String>,
}

/// Findings named in the error, at most.
const FINDINGS_SHOWN: usize = 5;

impl Findings {
    fn check_doc(&mut self, coll: &str, doc: &engram_core::backend::StoredDoc, last: Option<Last>) {
        let Some(last) = last else {
            self.unlogged.push(format!(
                "document {coll}/{} (version {}) is stored but no change in the log wrote it",
                doc.id, doc.version
            ));
            return;
        };
        if doc.version != last.version {
            let why = format!(
                "document {coll}/{} is stored at version {}, the log wrote version {}",
                doc.id, doc.version, last.version
            );
            self.positioned.push((last.position, why));
        } else if content_hash(doc.body.as_bytes()) != last.content {
            let why = format!("document {coll}/{}'s stored body does not match the hash the log recorded", doc.id);
            self.positioned.push((last.position, why));
        }
    }

    fn missing(&mut self, coll: &str, id: &str, last: &Last) {
        let why = format!("document {coll}/{id} (version {}) is missing from storage", last.version);
        self.positioned.push((last.position, why));
    }

    /// Fails with the findings, earliest position first.
    fn into_result(mut self) -> Result<()> {
        self.positioned.sort();
        let total = self.positioned.len() + self.unlogged.len();
        if total == 0 {
            return Ok(());
        }
        let named = self.positioned.into_iter().map(|(p, why)| format!("change {p}: {why}"));
        let shown: Vec<String> = named.chain(self.unlogged).take(FINDINGS_SHOWN).collect();
        let more = if total > shown.len() { format!(" (and {} more)", total - shown.len()) } else { String::new() };
        Err(Error::corrupted(format!("{}{more}", shown.join("; "))))
    }
}
