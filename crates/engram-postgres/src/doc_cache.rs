//! Documents a write transaction read under its space's lock, kept until
//! it writes them: every job of a batch reads its queue's settings, and
//! each read was a round trip on the lock.
//!
//! Safe for the reason the collection rows are (see `tx.rs`): while this
//! transaction holds a space's row lock, no other transaction can change
//! that space's rows, so a document read stays what this transaction last
//! saw until it writes the document itself, which forgets it. The writer
//! forgets everything when a savepoint rolls back and when the transaction
//! ends (`TxState::forget`).

use engram_core::backend::{CollectionId, StoredDoc};
use std::collections::HashMap;

/// Documents kept at most (a bound on memory, not a cache policy).
const DOCS_MAX: usize = 4_096;

/// Documents (or their absence) by collection and id.
#[derive(Debug, Default)]
pub(crate) struct DocCache(HashMap<(CollectionId, String), Option<StoredDoc>>);

impl DocCache {
    /// The document as last read, if it was read and not written since.
    pub(crate) fn get(&self, coll: CollectionId, id: &str) -> Option<Option<StoredDoc>> {
        self.0.get(&(coll, id.to_owned())).cloned()
    }

    /// Keeps what a read under the space's lock found.
    pub(crate) fn insert(&mut self, coll: CollectionId, id: &str, doc: Option<StoredDoc>) {
        if self.0.len() >= DOCS_MAX {
            self.0.clear();
        }
        self.0.insert((coll, id.to_owned()), doc);
    }

    /// The transaction is writing the document.
    pub(crate) fn forget(&mut self, coll: CollectionId, id: &str) {
        self.0.remove(&(coll, id.to_owned()));
    }

    /// The transaction is deleting collections or a space, or ended.
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}
