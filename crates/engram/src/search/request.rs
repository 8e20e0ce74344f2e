//! Search requests and results: full-text, vector k-NN and hybrid.

use crate::space::Document;
use engram_core::limits::{SEARCH_EF_MAX, SEARCH_K_MAX, SEARCH_TEXT_BYTES_MAX, VECTOR_DIMS_MAX};
use engram_core::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Results when the request gives no `k`.
pub const SEARCH_K_DEFAULT: usize = 10;

/// How text and vector results are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Fusion {
    /// Reciprocal rank fusion: score = sum of 1 / (60 + rank).
    #[default]
    Rrf,
    /// Weighted sum of min-max normalized scores (`text_weight`, `vector_weight`).
    Weighted,
}

/// Which k-NN strategy to use; `auto` lets the planner choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum VectorPlan {
    #[default]
    Auto,
    /// The HNSW graph, the filter applied during traversal.
    Hnsw,
    /// An exact scan of the documents matching the filter.
    Exact,
}

/// A search over one collection. Give `text`, `vector`, or both (hybrid).
///
/// The search sees every write that returned before it started: the index
/// catches up with the change log first. Results never include a deleted,
/// expired or filtered-out document, and returned documents are read from
/// the records, never from the index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchRequest {
    /// Full-text query: words (OR), `+word` (required), `-word` (excluded),
    /// `"a phrase"`, `pre*` (prefix), `field:word`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Query vector, with the dimensions of the vector field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
    /// Text the vector field's embedder turns into the query vector (the
    /// field must declare `embed`); instead of `vector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector_text: Option<String>,
    /// One string for both sides: its words (plain, no query syntax) over
    /// the text fields, when the collection declares any, and k-NN over
    /// its embedding, when the vector field has an embedder; fused.
    /// Instead of `text`, `vector` and `vector_text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Vector field to search (the collection's default when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector_field: Option<String>,
    /// Filter expression applied to both text and vector results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub filter: Option<Value>,
    /// Results wanted, 1 to 1000 (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    /// HNSW candidate-list width (default max(k, 64)); higher is slower and
    /// more accurate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ef: Option<usize>,
    /// k-NN strategy (default auto).
    #[serde(default)]
    pub plan: VectorPlan,
    /// How hybrid results are combined (default rrf).
    #[serde(default)]
    pub fusion: Fusion,
    /// Weight of the text score in weighted fusion (default 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_weight: Option<f32>,
    /// Weight of the vector score in weighted fusion (default 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector_weight: Option<f32>,
    /// Per-text-field boosts replacing the declared ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boosts: Option<BTreeMap<String, f32>>,
    /// Return the documents (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_documents: Option<bool>,
    /// Keep vectors in returned documents (default false).
    #[serde(default)]
    pub include_vectors: bool,
    /// Highlighted snippets for text matches (default true with `text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippets: Option<bool>,
}

impl SearchRequest {
    /// Checks the request's shape and limits, naming the first problem.
    pub fn validate(&self) -> Result<()> {
        if self.query.is_some() && (self.text.is_some() || self.vector.is_some() || self.vector_text.is_some()) {
            return Err(Error::invalid("`query` sets both sides; give it alone, or `text` and `vector`/`vector_text`"));
        }
        if self.vector.is_some() && self.vector_text.is_some() {
            return Err(Error::invalid("give `vector` or `vector_text`, not both"));
        }
        if self.text.is_none() && self.vector.is_none() && self.vector_text.is_none() && self.query.is_none() {
            return Err(Error::invalid("give `text`, `vector` (or `vector_text`), both, or `query`"));
        }
        if self.vector_field.is_some() && self.vector.is_none() && self.vector_text.is_none() && self.query.is_none() {
            return Err(Error::invalid("`vector_field` names the field a `vector` is searched in; give the vector"));
        }
        for (what, t) in [("vector_text", &self.vector_text), ("query", &self.query)] {
            if let Some(t) = t
                && t.len() > SEARCH_TEXT_BYTES_MAX
            {
                return Err(Error::new(
                    ErrorKind::TooLarge,
                    format!("{what} is {} bytes, at most {SEARCH_TEXT_BYTES_MAX}", t.len()),
                ));
            }
        }
        let k = self.k();
        if k == 0 || k > SEARCH_K_MAX {
            return Err(Error::invalid(format!("k must be 1 to {SEARCH_K_MAX}, got {k}")));
        }
        if let Some(ef) = self.ef
            && (ef == 0 || ef > SEARCH_EF_MAX)
        {
            return Err(Error::invalid(format!("ef must be 1 to {SEARCH_EF_MAX}, got {ef}")));
        }
        if let Some(t) = &self.text
            && t.len() > SEARCH_TEXT_BYTES_MAX
        {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!("text query is {} bytes, at most {SEARCH_TEXT_BYTES_MAX}", t.len()),
            ));
        }
        if let Some(v) = &self.vector {
            if v.len() > VECTOR_DIMS_MAX as usize {
                return Err(Error::new(
                    ErrorKind::TooLarge,
                    format!("vector has {} dimensions, at most {VECTOR_DIMS_MAX}", v.len()),
                ));
            }
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(Error::invalid(format!("vector element {i} is not a finite number")));
            }
        }
        for w in [self.text_weight, self.vector_weight].into_iter().flatten() {
            if !(w.is_finite() && w >= 0.0) {
                return Err(Error::invalid("text_weight and vector_weight must be finite and non-negative"));
            }
        }
        Ok(())
    }

    pub fn k(&self) -> usize {
        self.k.unwrap_or(SEARCH_K_DEFAULT)
    }
}

/// A highlighted piece of one text field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Snippet {
    pub field: String,
    pub text: String,
    /// Byte ranges of `text` that matched the query.
    pub highlights: Vec<(usize, usize)>,
}

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchHit {
    pub id: String,
    /// Higher is better: BM25 for text alone, similarity for vectors alone
    /// (cosine similarity, dot product, or minus the squared L2 distance),
    /// the fused score for hybrid searches.
    pub score: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_score: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector_distance: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Document>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snippets: Vec<Snippet>,
}

/// How the search was run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchPlan {
    /// `hnsw`, `exact`, or absent without a vector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<String>,
    /// Documents the filter admits, when counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<usize>,
    /// The HNSW search found fewer than k and an exact scan completed it.
    #[serde(default)]
    pub fallback: bool,
}

/// The results of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    pub plan: SearchPlan,
    /// Change-log position the index covered when searched.
    pub position: u64,
}
