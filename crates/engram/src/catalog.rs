//! Compiled collection specs (schema validators, index paths), cached by
//! collection id and generation so a spec change is never served stale.

use crate::search::fields::CompiledSearch;
use engram_core::backend::{CollectionId, CollectionRow, CollectionSpec, IndexEntry, IndexSpec};
use engram_core::embed::EmbedderInfo;
use engram_core::keys::encode_component;
use engram_core::limits::{INDEX_PATHS_MAX, INDEXES_PER_COLLECTION_MAX, TTL_SECONDS_MAX};
use engram_core::names::CollectionName;
use engram_core::path::JsonPath;
use engram_core::schema::CompiledSchema;
use engram_core::{Error, Result};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Compiled collections kept at most (the cache is cleared when full).
const CATALOG_ENTRIES_MAX: usize = 4_096;

/// A declared index with its parsed paths.
pub(crate) struct CompiledIndex {
    pub spec: IndexSpec,
    pub paths: Vec<JsonPath>,
}

/// A collection ready for use.
pub(crate) struct Compiled {
    pub row: CollectionRow,
    pub schema: Option<CompiledSchema>,
    pub indexes: Vec<CompiledIndex>,
    /// Text and vector fields, when the collection declares any.
    pub search: Option<CompiledSearch>,
    /// The spec parts a search index depends on (search fields and
    /// indexes), as canonical JSON: equal fingerprints, same index.
    pub search_fingerprint: String,
}

impl Compiled {
    pub fn compile(row: CollectionRow) -> Result<Self> {
        let schema = row.spec.schema.as_ref().map(CompiledSchema::compile).transpose()?;
        let indexes = row
            .spec
            .indexes
            .iter()
            .map(|spec| {
                let paths = spec.paths.iter().map(|p| JsonPath::parse(p)).collect::<Result<_>>()?;
                Ok(CompiledIndex { spec: spec.clone(), paths })
            })
            .collect::<Result<_>>()?;
        let search = CompiledSearch::compile(row.spec.search.as_ref())?;
        let search_fingerprint = fingerprint(&row.spec);
        Ok(Self { row, schema, indexes, search, search_fingerprint })
    }

    /// Checks a body against the schema and the search declarations.
    pub fn check(&self, body: &Value) -> Result<()> {
        if let Some(schema) = &self.schema {
            schema.check(body)?;
        }
        if let Some(search) = &self.search {
            search.check_doc(body)?;
        }
        Ok(())
    }

    /// The index entries of a document body, one per declared index.
    pub fn index_entries(&self, body: &Value) -> Vec<IndexEntry> {
        self.indexes
            .iter()
            .map(|ix| {
                let mut key = Vec::new();
                for p in &ix.paths {
                    encode_component(&mut key, p.lookup(body));
                }
                IndexEntry { index: ix.spec.id, key }
            })
            .collect()
    }
}

/// The spec parts a search index depends on. A model switch's next
/// generation and the backfill flag are left out: they change what writes
/// carry, not what searches read.
fn fingerprint(spec: &CollectionSpec) -> String {
    let mut search = spec.search.clone();
    for v in search.iter_mut().flat_map(|s| s.vectors.iter_mut()) {
        v.next = None;
        v.backfilling = false;
    }
    serde_json::to_string(&(&search, &spec.indexes)).expect("specs serialize")
}

/// Cache of compiled collections.
///
/// Entries may come from transactions that later rolled back, and a backend
/// may then reuse the rolled-back id, so a hit counts only when the whole
/// stored row (name, space, spec) is the one given.
#[derive(Default)]
pub(crate) struct Catalog {
    cache: Mutex<HashMap<(CollectionId, u64), Arc<Compiled>>>,
}

impl Catalog {
    pub fn get(&self, row: CollectionRow) -> Result<Arc<Compiled>> {
        let key = (row.id, row.generation);
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = cache.get(&key).filter(|c| c.row == row) {
            return Ok(c.clone());
        }
        let compiled = Arc::new(Compiled::compile(row)?);
        if cache.len() >= CATALOG_ENTRIES_MAX {
            cache.clear();
        }
        cache.insert(key, compiled.clone());
        Ok(compiled)
    }
}

/// Validates a spec given by a caller and numbers its new indexes, keeping
/// the ids of indexes that `previous` already had (by name and paths).
pub(crate) fn prepare_spec(
    mut spec: CollectionSpec,
    previous: Option<&CollectionSpec>,
    embedders: &BTreeMap<String, EmbedderInfo>,
) -> Result<CollectionSpec> {
    if let Some(schema) = &spec.schema {
        CompiledSchema::compile(schema)?;
    }
    match spec.default_ttl_seconds {
        Some(0) => return Err(Error::invalid("default_ttl_seconds must be at least 1")),
        Some(t) if t > TTL_SECONDS_MAX => {
            return Err(Error::invalid(format!("default_ttl_seconds must be at most {TTL_SECONDS_MAX}")));
        }
        _ => {}
    }
    check_indexes(&spec.indexes)?;
    if let Some(search) = &mut spec.search {
        crate::embedding::spec::prepare(search, previous.and_then(|p| p.search.as_ref()), embedders)?;
        search.validate()?;
    }
    let old = previous.map(|p| p.indexes.as_slice()).unwrap_or_default();
    let mut next_id = old.iter().map(|i| i.id).max().unwrap_or(0) + 1;
    for ix in &mut spec.indexes {
        match old.iter().find(|o| o.name == ix.name && o.paths == ix.paths) {
            Some(o) => ix.id = o.id,
            None => {
                ix.id = next_id;
                next_id += 1;
            }
        }
    }
    Ok(spec)
}

fn check_indexes(indexes: &[IndexSpec]) -> Result<()> {
    if indexes.len() > INDEXES_PER_COLLECTION_MAX {
        return Err(Error::invalid(format!("at most {INDEXES_PER_COLLECTION_MAX} indexes per collection")));
    }
    for (i, ix) in indexes.iter().enumerate() {
        CollectionName::new(ix.name.as_str()).map_err(|e| e.context(&format!("indexes[{i}].name")))?;
        if ix.paths.is_empty() || ix.paths.len() > INDEX_PATHS_MAX {
            return Err(Error::invalid(format!("indexes[{i}].paths: give 1 to {INDEX_PATHS_MAX} paths")));
        }
        for p in &ix.paths {
            JsonPath::parse(p).map_err(|e| e.context(&format!("indexes[{i}].paths")))?;
        }
        if indexes[..i].iter().any(|o| o.name == ix.name) {
            return Err(Error::invalid(format!("indexes[{i}].name: duplicate index name {:?}", ix.name)));
        }
    }
    Ok(())
}
