//! The full audit of one space: its change-log chain end to end, then
//! every stored document against the last change the log records for it.
//!
//! The log holds, for each live document, the version and the BLAKE3 hash
//! of the canonical body its last write stored; a stored row whose body,
//! version or existence disagrees with that was changed outside the engine.
//! Disagreements are reported by the change-log position they contradict
//! (or, for a row the log never wrote, by the document's name).
//!
//! The audit may run while others write (a live server, other servers on a
//! shared database), and its reads are not one snapshot: a document written
//! after the log was read looks like a disagreement. So each disagreement
//! is checked again against the entries committed since, up to
//! [`RECHECK_ROUNDS`] times; only one that persists without a newer change
//! of its document is reported.

use crate::space::Space;
use engram_core::backend::{Reader, StoredDoc};
use engram_core::changelog::{ChangeEntry, ChangeHead, ChangeOp, Digest, verify_run};
use engram_core::json::{content_hash, hex};
use engram_core::names::CollectionName;
use engram_core::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// Entries read per step.
const LOG_CHUNK_ENTRIES: usize = 2_000;
/// Documents read per step.
const DOC_CHUNK_ROWS: usize = 1_000;
/// Times a disagreement is checked again against newer entries.
const RECHECK_ROUNDS: usize = 5;
/// Findings named in the error, at most.
const FINDINGS_SHOWN: usize = 5;

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

/// What the log says of a document after some entry: live with a version
/// and body hash, or gone.
#[derive(Clone, Copy)]
struct State {
    live: Option<(u64, Digest)>,
    /// The entry that set this state.
    position: u64,
}

/// Documents by collection name, then id, as the log describes them; a
/// collection in `dropped` was dropped (its earlier documents are gone).
#[derive(Default)]
struct LogView {
    docs: HashMap<String, HashMap<String, State>>,
    dropped: HashSet<String>,
}

impl LogView {
    /// Applies one entry.
    fn replay(&mut self, e: &ChangeEntry) {
        let state = |live| State { live, position: e.position };
        match e.op {
            ChangeOp::Put | ChangeOp::Patch => {
                let s = state(Some((e.version, e.content_hash)));
                self.docs.entry(e.collection.clone()).or_default().insert(e.doc_id.clone(), s);
            }
            ChangeOp::Delete | ChangeOp::Expire => {
                self.docs.entry(e.collection.clone()).or_default().insert(e.doc_id.clone(), state(None));
            }
            ChangeOp::CollectionDrop => {
                self.docs.remove(&e.collection);
                self.dropped.insert(e.collection.clone());
            }
            ChangeOp::SpaceCreate | ChangeOp::CollectionCreate | ChangeOp::CollectionUpdate => {}
        }
    }

    /// What the log says of a document, if it says anything.
    fn state(&self, coll: &str, id: &str) -> Option<State> {
        match self.docs.get(coll).and_then(|d| d.get(id)) {
            Some(s) => Some(*s),
            None if self.dropped.contains(coll) => Some(State { live: None, position: 0 }),
            None => None,
        }
    }
}

/// One disagreement between a stored row and the log.
struct Finding {
    coll: String,
    id: String,
    /// The position it contradicts (none for a row no change wrote).
    position: Option<u64>,
    why: String,
}

/// Compares a stored row (if any) with what the log says of it.
fn compare(coll: &str, id: &str, row: Option<&StoredDoc>, said: Option<State>) -> Option<Finding> {
    let finding = |position, why| Some(Finding { coll: coll.to_owned(), id: id.to_owned(), position, why });
    match (row, said.and_then(|s| s.live.map(|l| (l, s.position)))) {
        (None, None) => None,
        (Some(doc), None) => finding(
            said.map(|s| s.position).filter(|p| *p > 0),
            format!("document {coll}/{id} (version {}) is stored but the log does not hold it", doc.version),
        ),
        (None, Some(((version, _), position))) => {
            finding(Some(position), format!("document {coll}/{id} (version {version}) is missing from storage"))
        }
        (Some(doc), Some(((version, content), position))) => {
            if doc.version != version {
                let why = format!(
                    "document {coll}/{id} is stored at version {}, the log wrote version {version}",
                    doc.version
                );
                finding(Some(position), why)
            } else if content_hash(doc.body.as_bytes()) != content {
                let why = format!("document {coll}/{id}'s stored body does not match the hash the log recorded");
                finding(Some(position), why)
            } else {
                None
            }
        }
    }
}

impl Space {
    /// Checks the whole change log and every stored document against it;
    /// fails (`Corrupted`) with the disagreements found, by position.
    pub fn audit_rows(&self) -> Result<AuditReport> {
        let reader = self.inner.backend.reader()?;
        let recorded = reader.change_head(self.id)?;
        let mut view = LogView::default();
        let (head, entries, at_recorded) =
            read_log(&*reader, self, ChangeHead::default(), &mut view, recorded.position)?;
        if head.position < recorded.position || at_recorded != Some(recorded.hash) && recorded.position > 0 {
            return Err(Error::corrupted(format!(
                "change {}: the log's recorded head does not match its entries",
                recorded.position
            )));
        }
        let (mut documents, collections) = (0u64, reader.collections(self.id)?);
        let mut findings = Vec::new();
        for coll in &collections {
            let name = coll.name.as_str();
            let mut expected = view.docs.remove(name).unwrap_or_default();
            let mut after: Option<String> = None;
            loop {
                let page = reader.scan_docs(coll.id, after.as_deref(), false, DOC_CHUNK_ROWS)?;
                let Some(last) = page.last() else { break };
                after = Some(last.id.clone());
                for doc in &page {
                    documents += 1;
                    findings.extend(compare(name, &doc.id, Some(doc), expected.remove(&doc.id)));
                }
            }
            findings.extend(expected.iter().filter_map(|(id, s)| compare(name, id, None, Some(*s))));
        }
        // Documents of collections the log says exist but storage lacks.
        for (c, docs) in &view.docs {
            findings.extend(docs.iter().filter_map(|(id, s)| compare(c, id, None, Some(*s))));
        }
        let findings = self.recheck(&*reader, head, findings)?;
        report(findings)?;
        Ok(AuditReport {
            entries,
            head_position: head.position,
            head_hash: hex(&head.hash),
            documents,
            collections: collections.len() as u64,
        })
    }

    /// Checks each finding again against the entries committed since
    /// `head`, while any are: a document written meanwhile is compared with
    /// its newest change.
    fn recheck(&self, reader: &dyn Reader, mut head: ChangeHead, mut findings: Vec<Finding>) -> Result<Vec<Finding>> {
        for _ in 0..RECHECK_ROUNDS {
            if findings.is_empty() {
                break;
            }
            let mut later = LogView::default();
            let (newer, _, _) = read_log(reader, self, head, &mut later, 0)?;
            if newer.position == head.position {
                break; // nothing committed since: the findings stand
            }
            head = newer;
            let mut kept = Vec::new();
            for f in findings {
                let Some(said) = later.state(&f.coll, &f.id) else {
                    kept.push(f);
                    continue;
                };
                let row = match reader.collection(self.id, &CollectionName::stored(&f.coll)?)? {
                    Some(c) => reader.doc(c.id, &f.id)?,
                    None => None,
                };
                kept.extend(compare(&f.coll, &f.id, row.as_ref(), Some(said)));
            }
            findings = kept;
        }
        Ok(findings)
    }
}

/// Reads and chain-checks the log after `from` into `view`; returns the
/// new head, the entries read and the hash of entry `mark` if read.
fn read_log(
    reader: &dyn Reader,
    space: &Space,
    from: ChangeHead,
    view: &mut LogView,
    mark: u64,
) -> Result<(ChangeHead, u64, Option<Digest>)> {
    let (mut head, mut entries, mut marked) = (from, 0u64, None);
    loop {
        let run = reader.changes(space.id, head.position, LOG_CHUNK_ENTRIES)?;
        if run.is_empty() {
            return Ok((head, entries, marked));
        }
        head = verify_run(head, &run)?;
        entries += run.len() as u64;
        for e in &run {
            if e.position == mark {
                marked = Some(e.hash);
            }
            view.replay(e);
        }
    }
}

/// Fails with the findings, earliest position first.
fn report(mut findings: Vec<Finding>) -> Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    findings.sort_by_key(|f| (f.position.is_none(), f.position));
    let total = findings.len();
    let shown: Vec<String> = findings
        .iter()
        .take(FINDINGS_SHOWN)
        .map(|f| match f.position {
            Some(p) => format!("change {p}: {}", f.why),
            None => f.why.clone(),
        })
        .collect();
    let more = if total > shown.len() { format!(" (and {} more)", total - shown.len()) } else { String::new() };
    Err(Error::corrupted(format!("{}{more}", shown.join("; "))))
}
