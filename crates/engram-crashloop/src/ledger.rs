//! The ledger: everything the clients were told, across cycles. For each
//! document, the state its acknowledged writes leave it in; the operations
//! whose outcome is unknown because the server died under them; where each
//! acknowledged write sits in the change log; and the idempotent requests
//! to re-send later.
//!
//! Each writer owns its documents (no other writer touches them), so the
//! acknowledged state of an owned document is exact. The "hot" pairs are
//! shared by all writers and written only by conditional transactions, so
//! their versions only grow and the highest acknowledged one is the floor.

use crate::http::Request;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The space every cycle writes to.
pub const SPACE: &str = "crashloop";
/// Single documents, written one at a time or inside transactions (indexed).
pub const DOCS: &str = "docs";
/// The two sides of the transactional pairs: every write of a pair is one
/// transaction over both sides.
pub const TX_A: &str = "tx_a";
pub const TX_B: &str = "tx_b";
/// Documents each writer owns in [`DOCS`].
pub const DOCS_PER_WRITER: usize = 12;
/// Pairs each writer owns in [`TX_A`] and [`TX_B`].
pub const PAIRS_PER_WRITER: usize = 6;
/// Pairs every writer competes for.
pub const HOT_PAIRS: usize = 4;
/// Acknowledged idempotent requests kept for re-sending in later cycles.
pub const IDEMPOTENT_KEPT: usize = 2_048;

/// The collections and their specs, declared at the first start.
/// Dimensions of the workload's document vectors.
pub const VECTOR_DIMS: usize = 4;

pub fn collection_specs() -> Vec<(&'static str, Value)> {
    vec![
        (
            DOCS,
            json!({"indexes": [
                {"name": "by_k", "paths": ["k"]},
                {"name": "by_k_w", "paths": ["k", "w"]},
                {"name": "by_nested", "paths": ["nested.a"]},
            ], "search": {
                "text": [{"path": "seq"}, {"path": "pad"}],
                "vectors": [{"name": "vec", "dims": VECTOR_DIMS, "metric": "cosine",
                             "model": {"name": "crashloop", "version": "1"}, "hnsw": {"m": 8, "ef_construction": 32}}]
            }}),
        ),
        (TX_A, json!({})),
        (TX_B, json!({"indexes": [{"name": "by_tx", "paths": ["tx"]}]})),
    ]
}

/// A document: (collection, id).
pub type Key = (String, String);

/// A stored document's version and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    pub version: u64,
    pub body: Value,
}

/// A document's state: absent, or present.
pub type State = Option<Doc>;

/// Renders a state for messages.
pub fn show(s: &State) -> String {
    match s {
        None => "absent".into(),
        Some(d) => format!("version {} {}", d.version, d.body),
    }
}

/// The kind of a document operation, as the change log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Put,
    Patch,
    Delete,
}

/// One operation of a request: the document it changes and how.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedOp {
    pub key: Key,
    pub kind: OpKind,
    /// The state the writer knows before the request (for hot pairs: the
    /// state read just before).
    pub before: State,
    /// The state if the request is applied.
    pub after: State,
    /// A hot pair's document (shared by all writers).
    pub hot: bool,
    /// False for the operation planted to fail: it changes nothing.
    pub effective: bool,
}

/// A request planned by a writer, with what it must do.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// `c<cycle>-w<writer>-<seq>`: also the tag written into bodies.
    pub label: String,
    pub request: Request,
    pub ops: Vec<PlannedOp>,
    /// The server must refuse it with 409 (an operation's precondition is
    /// false on purpose).
    pub refusal: bool,
    /// A 409 is a normal outcome (hot pairs: other writers compete).
    pub contended: bool,
    pub transaction: bool,
}

impl Planned {
    /// Whether the request carries an idempotency key.
    pub fn idempotent(&self) -> bool {
        self.request.idempotency_key().is_some()
    }
}

/// A request whose response never arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct Unknown {
    pub writer: usize,
    pub planned: Planned,
    /// Set by the verifier: whether it was applied (None: cannot tell).
    pub applied: Option<bool>,
}

/// An acknowledged idempotent request and the results it returned.
#[derive(Debug, Clone, PartialEq)]
pub struct IdemRecord {
    pub writer: usize,
    pub label: String,
    pub request: Request,
    /// (version, change-log position) of each operation.
    pub results: Vec<(u64, u64)>,
}

/// Where an acknowledged operation says its change-log entry is.
#[derive(Debug, Clone, PartialEq)]
pub struct LogAck {
    pub position: u64,
    pub key: Key,
    pub kind: OpKind,
    pub after: State,
    pub label: String,
}

/// Everything acknowledged so far.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub writers: usize,
    /// Each owned document's acknowledged state (absent documents included).
    pub owned: BTreeMap<Key, State>,
    /// Each hot document's highest acknowledged state.
    pub hot: BTreeMap<Key, State>,
    /// This cycle's requests of unknown outcome.
    pub unknown: Vec<Unknown>,
    /// This cycle's acknowledged operations, by change-log position.
    pub log: Vec<LogAck>,
    /// Acknowledged idempotent requests, oldest first.
    pub idempotent: VecDeque<IdemRecord>,
    /// Last cycle's idempotent requests of unknown outcome, to send again.
    pub retries: Vec<Unknown>,
    /// Pairs found split (already reported).
    pub splits: BTreeSet<String>,
    /// The message workload's own ledger (queue and outbox).
    pub messages: crate::messages::MessageLedger,
    /// The object workload's own ledger.
    pub objects: crate::object_workload::ObjectLedger,
}

/// The id of writer `w`'s `i`-th document.
pub fn doc_id(w: usize, i: usize) -> String {
    format!("w{w:03}-d{i:02}")
}

/// The id of writer `w`'s `i`-th pair.
pub fn pair_id(w: usize, i: usize) -> String {
    format!("w{w:03}-p{i:02}")
}

/// The id of the `i`-th hot pair.
pub fn hot_id(i: usize) -> String {
    format!("hot-{i:02}")
}

/// The documents writer `w` owns.
pub fn owned_keys(w: usize) -> Vec<Key> {
    let docs = (0..DOCS_PER_WRITER).map(|i| (DOCS.to_owned(), doc_id(w, i)));
    let pairs =
        (0..PAIRS_PER_WRITER).flat_map(|i| [(TX_A.to_owned(), pair_id(w, i)), (TX_B.to_owned(), pair_id(w, i))]);
    docs.chain(pairs).collect()
}

/// The hot pairs' documents.
pub fn hot_keys() -> Vec<Key> {
    (0..HOT_PAIRS).flat_map(|i| [(TX_A.to_owned(), hot_id(i)), (TX_B.to_owned(), hot_id(i))]).collect()
}

impl Ledger {
    /// A ledger for `writers` writers on an empty store.
    pub fn new(writers: usize) -> Self {
        let owned = (0..writers).flat_map(owned_keys).map(|k| (k, None)).collect();
        let hot = hot_keys().into_iter().map(|k| (k, None)).collect();
        Self { writers, owned, hot, ..Self::default() }
    }

    /// Writer `w`'s documents and their acknowledged states.
    pub fn owned_by(&self, w: usize) -> BTreeMap<Key, State> {
        owned_keys(w)
            .into_iter()
            .map(|k| {
                let s = self.owned.get(&k).cloned().flatten();
                (k, s)
            })
            .collect()
    }

    /// Whether the workload ever writes `key`.
    pub fn knows(&self, key: &Key) -> bool {
        self.owned.contains_key(key) || self.hot.contains_key(key)
    }

    /// Records a hot document's acknowledged state, keeping the highest.
    pub fn ack_hot(&mut self, key: Key, doc: Doc) {
        let slot = self.hot.entry(key).or_default();
        if slot.as_ref().is_none_or(|d| d.version < doc.version) {
            *slot = Some(doc);
        }
    }

    /// Remembers an acknowledged idempotent request.
    pub fn remember(&mut self, rec: IdemRecord) {
        if self.idempotent.len() == IDEMPOTENT_KEPT {
            self.idempotent.pop_front();
        }
        self.idempotent.push_back(rec);
    }

    /// After verification: the stored states become the new baseline, the
    /// idempotent requests of unknown outcome are queued for retry, and the
    /// split pairs are remembered as reported.
    pub fn settle(&mut self, stored: &BTreeMap<Key, State>, applied: &[Option<bool>], splits: &[String]) {
        self.splits = splits.iter().cloned().collect();
        for (k, s) in self.owned.iter_mut().chain(self.hot.iter_mut()) {
            *s = stored.get(k).cloned().flatten();
        }
        let unknown = std::mem::take(&mut self.unknown);
        self.retries = unknown
            .into_iter()
            .zip(applied.iter().copied().chain(std::iter::repeat(None)))
            .filter(|(u, _)| u.planned.idempotent())
            .map(|(u, a)| Unknown { applied: a, ..u })
            .collect();
        self.log.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_per_writer() {
        let a = owned_keys(1);
        let b = owned_keys(2);
        assert_eq!(a.len(), DOCS_PER_WRITER + 2 * PAIRS_PER_WRITER);
        assert!(a.iter().all(|k| !b.contains(k)));
        assert!(hot_keys().iter().all(|k| !a.contains(k)));
    }

    #[test]
    fn hot_keeps_the_highest_version() {
        let mut l = Ledger::new(1);
        let k = hot_keys().remove(0);
        l.ack_hot(k.clone(), Doc { version: 3, body: json!({"n": 3}) });
        l.ack_hot(k.clone(), Doc { version: 2, body: json!({"n": 2}) });
        assert_eq!(l.hot[&k].as_ref().map(|d| d.version), Some(3));
    }
}
