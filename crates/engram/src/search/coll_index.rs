//! The search index of one collection: its documents' slots, filter
//! payloads and key sets, its full-text index and one vector index per
//! declared vector field.
//!
//! Invariant: a slot exists exactly for each live document the index has
//! applied; its text and vectors are in the text and vector indexes under
//! the slot number and nowhere else. Removing a document frees its slot and
//! removes its postings and vectors physically.

use crate::catalog::Compiled;
use crate::search::fields::CompiledSearch;
use engram_core::backend::{CollectionId, IndexEntry, StoredDoc};
use engram_core::filter::Filter;
use engram_core::json::decode_document;
use engram_core::search_spec::VectorMetric;
use engram_core::{Error, Result};
use engram_text::TextIndex;
use engram_vector::{HnswParams, Metric, VectorIndex};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// One indexed document.
pub(crate) struct Slot {
    pub id: String,
    pub version: u64,
    pub expires_at_ms: Option<u64>,
    /// The body without vectors; filters are evaluated on it.
    pub payload: Value,
    /// Keys of the collection's declared indexes, for fast candidate sets.
    pub keys: Vec<IndexEntry>,
}

impl Slot {
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_none_or(|t| t > now_ms)
    }
}

pub(crate) struct CollIndex {
    pub coll: CollectionId,
    /// Canonical JSON of the spec parts the index depends on.
    pub fingerprint: String,
    pub slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    pub by_id: HashMap<String, u32>,
    /// (declared index id, key, slot): answers equality and range filters.
    pub keyset: BTreeSet<(u32, Vec<u8>, u32)>,
    pub text: Option<TextIndex>,
    /// One per declared vector field, in declaration order.
    pub vectors: Vec<VectorIndex>,
    /// Slots whose document has an expiry: while zero, every slot is live
    /// and unfiltered searches skip the per-result liveness check.
    pub expiring: usize,
}

/// The spec parts a collection's search index depends on.
pub(crate) fn fingerprint(coll: &Compiled) -> &str {
    &coll.search_fingerprint
}

fn metric(m: VectorMetric) -> Metric {
    match m {
        VectorMetric::Cosine => Metric::Cosine,
        VectorMetric::Dot => Metric::Dot,
        VectorMetric::L2 => Metric::L2,
    }
}

pub(crate) fn vector_error(e: engram_vector::VectorError) -> Error {
    Error::invalid(e.to_string())
}

pub(crate) fn text_error(e: engram_text::TextError) -> Error {
    Error::invalid(e.to_string())
}

impl CollIndex {
    /// An empty index for a collection that declares search fields.
    pub fn new(coll: &Compiled, search: &CompiledSearch) -> Result<Self> {
        let fields = search.text_fields();
        let text = if fields.is_empty() { None } else { Some(TextIndex::new(&fields).map_err(text_error)?) };
        let vectors = search
            .vectors
            .iter()
            .map(|v| {
                let params = HnswParams {
                    m: v.spec.hnsw.m as usize,
                    ef_construction: v.spec.hnsw.ef_construction as usize,
                    ..HnswParams::default()
                };
                VectorIndex::new(v.spec.dims as usize, metric(v.spec.metric), params).map_err(vector_error)
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            coll: coll.row.id,
            fingerprint: fingerprint(coll).to_owned(),
            slots: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            keyset: BTreeSet::new(),
            text,
            vectors,
            expiring: 0,
        })
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn slot(&self, key: u32) -> Option<&Slot> {
        self.slots.get(key as usize).and_then(Option::as_ref)
    }

    /// Brings one document to its stored state (`None`: gone).
    pub fn apply(&mut self, coll: &Compiled, search: &CompiledSearch, id: &str, doc: Option<&StoredDoc>) -> Result<()> {
        match doc {
            Some(d) => {
                let body = decode_document(&d.body)?;
                self.upsert(coll, search, d, &body)
            }
            None => {
                self.remove(id);
                Ok(())
            }
        }
    }

    fn upsert(&mut self, coll: &Compiled, search: &CompiledSearch, doc: &StoredDoc, body: &Value) -> Result<()> {
        let key = match self.by_id.get(&doc.id) {
            Some(k) => *k,
            None => self.allocate(&doc.id),
        };
        let payload = search.payload(body);
        let keys = coll.index_entries(&payload);
        if let Some(old) = self.slots[key as usize].as_ref() {
            for e in &old.keys {
                self.keyset.remove(&(e.index, e.key.clone(), key));
            }
        }
        for e in &keys {
            self.keyset.insert((e.index, e.key.clone(), key));
        }
        if let Some(text) = &mut self.text {
            let texts = search.texts(body);
            let refs: Vec<(usize, &str)> = texts.iter().map(|(f, t)| (*f, t.as_str())).collect();
            text.upsert(key, &refs).map_err(text_error)?;
        }
        for (i, index) in self.vectors.iter_mut().enumerate() {
            match search.vector(i, body) {
                Some(v) => index.upsert(key, &v).map_err(vector_error)?,
                None => {
                    index.remove(key);
                }
            }
        }
        if let Some(old) = &self.slots[key as usize] {
            self.expiring -= usize::from(old.expires_at_ms.is_some());
        }
        self.expiring += usize::from(doc.expires_at_ms.is_some());
        self.slots[key as usize] =
            Some(Slot { id: doc.id.clone(), version: doc.version, expires_at_ms: doc.expires_at_ms, payload, keys });
        Ok(())
    }

    fn allocate(&mut self, id: &str) -> u32 {
        let key = match self.free.pop() {
            Some(k) => k,
            None => {
                self.slots.push(None);
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 documents per collection")
            }
        };
        self.by_id.insert(id.to_owned(), key);
        key
    }

    /// Removes a document everywhere; its slot becomes free.
    pub fn remove(&mut self, id: &str) {
        let Some(key) = self.by_id.remove(id) else { return };
        if let Some(old) = self.slots[key as usize].take() {
            self.expiring -= usize::from(old.expires_at_ms.is_some());
            for e in &old.keys {
                self.keyset.remove(&(e.index, e.key.clone(), key));
            }
        }
        if let Some(text) = &mut self.text {
            text.remove(key);
        }
        for index in &mut self.vectors {
            index.remove(key);
        }
        self.free.push(key);
    }

    /// Rebuilds the free list and the expiring count after slots were loaded.
    pub fn restore_free_list(&mut self) {
        self.free = (0..self.slots.len()).filter(|i| self.slots[*i].is_none()).map(|i| i as u32).rev().collect();
        self.expiring = self.slots.iter().flatten().filter(|s| s.expires_at_ms.is_some()).count();
    }

    /// Does the document in `key` match `filter` and is it live?
    pub fn matches(&self, key: u32, filter: Option<&Filter>, now_ms: u64) -> bool {
        match self.slot(key) {
            Some(s) => s.is_live(now_ms) && filter.is_none_or(|f| f.matches(&s.payload)),
            None => false,
        }
    }
}
