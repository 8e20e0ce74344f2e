//! How far a collection's embedded fields are: per field, the current
//! and next generation and how many documents still need embedding,
//! counted from the documents themselves (so any server can answer).

use super::fields::{CompiledEmbed, stale_generation};
use crate::catalog::Compiled;
use crate::query::Query;
use crate::space::Space;
use engram_core::Result;
use engram_core::search_spec::{EmbeddingModel, NextEmbedding};
use serde::Serialize;
use serde_json::Value;

/// One embedded vector field's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmbeddingFieldStatus {
    pub field: String,
    /// The embedder's configured name.
    pub embedder: String,
    /// The model searches read, and its generation.
    pub model: EmbeddingModel,
    pub generation: u32,
    /// The generation a model switch is filling in, if one is.
    pub next: Option<NextEmbedding>,
    /// Whether the background backfill still has work recorded.
    pub backfilling: bool,
    /// Live documents in the collection.
    pub documents: u64,
    /// Documents missing a vector of a generation they need (current or
    /// next), or holding one computed from other text.
    pub pending: u64,
    /// Documents whose source holds something that is not text (they
    /// cannot be embedded until rewritten).
    pub unembeddable: u64,
}

/// A collection's embedded fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmbeddingStatus {
    pub collection: String,
    pub fields: Vec<EmbeddingFieldStatus>,
}

/// What one document needs for one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DocState {
    UpToDate,
    Pending,
    Unembeddable,
}

/// Whether `body` carries every generation `embed` requires.
pub(crate) fn doc_state(body: &Value, value_path: &engram_core::path::JsonPath, embed: &CompiledEmbed) -> DocState {
    let value = value_path.lookup(body).filter(|v| !v.is_null());
    match stale_generation(body, value, embed) {
        Err(_) => DocState::Unembeddable,
        Ok(Some(_)) => DocState::Pending,
        Ok(None) => DocState::UpToDate,
    }
}

/// Visits every live document of `collection` in id order, a page at a time.
pub(crate) fn scan(
    space: &Space,
    collection: &str,
    mut f: impl FnMut(&crate::space::Document) -> Result<()>,
) -> Result<()> {
    let mut cursor = None;
    loop {
        let page = space.query(collection, &Query { limit: Some(SCAN_PAGE_DOCS), cursor, ..Query::default() })?;
        for d in &page.documents {
            f(d)?;
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(()),
        }
    }
}

/// Documents read per page while scanning.
pub(crate) const SCAN_PAGE_DOCS: usize = 256;

impl Space {
    /// The embedded fields of `collection` and how many documents each
    /// still needs to embed. Reads every document (its cost grows with
    /// the collection).
    pub fn embedding_status(&self, collection: &str) -> Result<EmbeddingStatus> {
        let coll: std::sync::Arc<Compiled> = self.inner.collection(self.id, collection)?;
        let Some(search) = &coll.search else {
            return Ok(EmbeddingStatus { collection: collection.to_owned(), fields: Vec::new() });
        };
        let mut fields: Vec<EmbeddingFieldStatus> = search
            .vectors
            .iter()
            .filter_map(|v| {
                let embed = v.spec.embed.as_ref()?;
                Some(EmbeddingFieldStatus {
                    field: v.spec.name.clone(),
                    embedder: embed.model.clone(),
                    model: v.spec.model.clone(),
                    generation: v.spec.generation,
                    next: v.spec.next.clone(),
                    backfilling: v.spec.backfilling,
                    documents: 0,
                    pending: 0,
                    unembeddable: 0,
                })
            })
            .collect();
        if fields.is_empty() {
            return Ok(EmbeddingStatus { collection: collection.to_owned(), fields });
        }
        let embedded: Vec<_> = search.vectors.iter().filter(|v| v.embed.is_some()).collect();
        scan(self, collection, |d| {
            for (f, v) in fields.iter_mut().zip(&embedded) {
                f.documents += 1;
                match doc_state(&d.body, &v.path, v.embed.as_ref().expect("embedded")) {
                    DocState::UpToDate => {}
                    DocState::Pending => f.pending += 1,
                    DocState::Unembeddable => f.unembeddable += 1,
                }
            }
            Ok(())
        })?;
        Ok(EmbeddingStatus { collection: collection.to_owned(), fields })
    }
}
