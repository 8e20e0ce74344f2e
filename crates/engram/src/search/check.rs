//! `index check`: compares a space's search index with the records it is
//! derived from and reports every divergence (bounded lists).

use crate::catalog::Compiled;
use crate::search::coll_index::CollIndex;
use crate::search::space_index::SpaceIndex;
use engram_core::Result;
use engram_core::backend::Reader;
use engram_core::json::decode_document;
use engram_core::search_spec::VectorMetric;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Document ids listed per kind of divergence at most.
const CHECK_IDS_MAX: usize = 100;
/// Documents read per step.
const CHECK_CHUNK_ROWS: usize = 1_000;
/// Largest per-element difference tolerated between a stored and an indexed
/// vector (normalization rounds).
const VECTOR_TOLERANCE: f32 = 1e-5;

/// What `check` found in one collection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CollectionCheck {
    pub collection: String,
    /// Live documents in the records.
    pub documents: u64,
    /// Documents in the index.
    pub indexed: u64,
    /// Live documents the index lacks.
    pub missing: Vec<String>,
    /// Indexed documents the records no longer hold (or hold expired).
    pub extra: Vec<String>,
    /// Documents indexed at another version than stored.
    pub stale: Vec<String>,
    /// Documents whose indexed text or vectors differ from the stored ones.
    pub content: Vec<String>,
    /// Total divergences (the lists above are capped).
    pub divergences: u64,
}

/// The result of checking a space's search index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IndexCheck {
    /// Change-log position the index and the records were compared at.
    pub position: u64,
    pub collections: Vec<CollectionCheck>,
    /// No divergence anywhere.
    pub ok: bool,
}

fn note(list: &mut Vec<String>, total: &mut u64, id: &str) {
    *total += 1;
    if list.len() < CHECK_IDS_MAX {
        list.push(id.to_owned());
    }
}

/// Compares `index` (caught up with `reader`) with the records `reader` sees.
pub(crate) fn check(
    index: &SpaceIndex,
    reader: &dyn Reader,
    colls: &[std::sync::Arc<Compiled>],
    now_ms: u64,
) -> Result<IndexCheck> {
    let mut out = IndexCheck { position: index.position, collections: Vec::new(), ok: true };
    for c in colls {
        let mut report = CollectionCheck { collection: c.row.name.to_string(), ..Default::default() };
        match index.colls.get(&c.row.id) {
            Some(ci) => check_coll(ci, c, reader, now_ms, &mut report)?,
            None => report.divergences += 1,
        }
        out.ok &= report.divergences == 0;
        out.collections.push(report);
    }
    Ok(out)
}

fn check_coll(ci: &CollIndex, c: &Compiled, reader: &dyn Reader, now_ms: u64, r: &mut CollectionCheck) -> Result<()> {
    let search = c.search.as_ref().expect("searchable collections only");
    let mut seen = HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let docs = reader.scan_docs(c.row.id, after.as_deref(), false, CHECK_CHUNK_ROWS)?;
        for d in &docs {
            let key = ci.by_id.get(&d.id).copied();
            if !d.is_live(now_ms) {
                continue; // an expired document may be indexed until purged; searches skip it
            }
            r.documents += 1;
            let Some(key) = key else {
                note(&mut r.missing, &mut r.divergences, &d.id);
                continue;
            };
            seen.insert(key);
            let slot = ci.slot(key).expect("by_id points at a slot");
            if slot.version != d.version {
                note(&mut r.stale, &mut r.divergences, &d.id);
                continue;
            }
            let body = decode_document(&d.body)?;
            if !content_matches(ci, search, key, &body) {
                note(&mut r.content, &mut r.divergences, &d.id);
            }
        }
        match docs.last() {
            Some(last) if docs.len() == CHECK_CHUNK_ROWS => after = Some(last.id.clone()),
            _ => break,
        }
    }
    r.indexed = ci.len() as u64;
    for (id, key) in &ci.by_id {
        if !seen.contains(key) && ci.slot(*key).is_some_and(|s| s.is_live(now_ms)) {
            note(&mut r.extra, &mut r.divergences, id);
        }
    }
    Ok(())
}

fn content_matches(
    ci: &CollIndex,
    search: &crate::search::fields::CompiledSearch,
    key: u32,
    body: &serde_json::Value,
) -> bool {
    let has_text = !search.texts(body).is_empty();
    if ci.text.as_ref().is_some_and(|t| t.contains(key) != has_text) {
        return false;
    }
    for (i, index) in ci.vectors.iter().enumerate() {
        let stored = search.vector(i, body);
        let ok = match (stored, index.get(key)) {
            (None, None) => true,
            (Some(mut v), Some(indexed)) => {
                if search.vectors[i].spec.metric == VectorMetric::Cosine {
                    normalize(&mut v);
                }
                v.len() == indexed.len() && v.iter().zip(indexed).all(|(a, b)| (a - b).abs() <= VECTOR_TOLERANCE)
            }
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}
