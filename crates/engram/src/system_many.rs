//! Several documents of one indexed reserved collection written or
//! deleted at once: one backend call for the documents and their index
//! entries, then one change-log entry each, in order. What a queue step
//! does to a batch of messages.

use crate::apply::Writer;
use crate::catalog::Compiled;
use engram_core::Result;
use engram_core::backend::{DocWrite, IndexEntry, StoredDoc};
use engram_core::changelog::{ChangeOp, Digest};
use engram_core::json::{content_hash, decode_document, encode_document};
use serde_json::Value;

/// A document to write (`new`) or delete (`new` is `None`), with what is
/// stored under its id now (`old`, as read in this transaction; `None`
/// when absent).
pub(crate) struct SystemWrite {
    pub id: String,
    pub old: Option<StoredDoc>,
    pub new: Option<Value>,
}

/// A write stamped and encoded, before the backend call.
struct Staged {
    hlc: u64,
    doc: Option<StoredDoc>,
    old: Vec<IndexEntry>,
    new: Vec<IndexEntry>,
    hash: Digest,
}

impl Writer<'_> {
    /// Writes `writes` (distinct ids) to `coll`, without expiry; returns
    /// each one's change-log position. Logged as the same puts and deletes
    /// one by one would be: a put is version `old + 1` stamped with its
    /// entry's time, a delete is version 0.
    pub(crate) fn write_system(&mut self, coll: &Compiled, writes: &[SystemWrite]) -> Result<Vec<u64>> {
        // Stamped in order, so timestamps increase along the log.
        let staged = writes.iter().map(|w| self.stage(coll, w)).collect::<Result<Vec<Staged>>>()?;
        let docs: Vec<DocWrite<'_>> = writes
            .iter()
            .zip(&staged)
            .map(|(w, s)| DocWrite { id: &w.id, doc: s.doc.as_ref(), old: &s.old, new: &s.new })
            .collect();
        self.tx.write_docs(coll.row.id, &docs)?;
        let name = coll.row.name.as_str();
        writes
            .iter()
            .zip(staged)
            .map(|(w, s)| {
                let (op, version) = s.doc.map_or((ChangeOp::Delete, 0), |d| (ChangeOp::Put, d.version));
                self.log_stamped(s.hlc, op, name, &w.id, version, s.hash)
            })
            .collect()
    }

    fn stage(&self, coll: &Compiled, w: &SystemWrite) -> Result<Staged> {
        let hlc = self.tick();
        let old = match &w.old {
            Some(d) => coll.index_entries(&decode_document(&d.body)?),
            None => Vec::new(),
        };
        let Some(body) = &w.new else { return Ok(Staged { hlc, doc: None, old, new: Vec::new(), hash: [0; 32] }) };
        let text = encode_document(body)?;
        let hash = content_hash(text.as_bytes());
        let version = w.old.as_ref().map_or(1, |d| d.version + 1);
        let doc = StoredDoc { id: w.id.clone(), version, body: text, expires_at_ms: None, updated_hlc: hlc };
        Ok(Staged { hlc, doc: Some(doc), old, new: coll.index_entries(body), hash })
    }
}
