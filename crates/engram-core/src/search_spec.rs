//! What a collection declares searchable: text fields (full-text, BM25) and
//! named vector fields (k-NN), stored as part of its spec.
//!
//! Both are read from the documents themselves at declared paths, so a
//! document, its text and its vectors change in one transaction by
//! construction. The search index built from them is derived state.

use crate::limits::{EMBED_FROM_PATHS_MAX, MODEL_NAME_BYTES_MAX, TEXT_FIELDS_MAX, VECTOR_DIMS_MAX, VECTOR_FIELDS_MAX};
use crate::names::CollectionName;
use crate::path::JsonPath;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Searchable fields of a collection.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchSpec {
    /// Fields indexed for full-text search.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub text: Vec<TextFieldSpec>,
    /// Named vector fields indexed for k-NN search.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vectors: Vec<VectorFieldSpec>,
    /// The vector field a query uses when it names none (the first declared
    /// one when unset). Switching embedding models is changing this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_vector: Option<String>,
}

/// One full-text field: a string (or array of strings) at `path`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TextFieldSpec {
    pub path: String,
    /// Weight of this field's BM25 score (default 1).
    #[serde(default = "one")]
    pub boost: f32,
}

fn one() -> f32 {
    1.0
}

/// Distance between vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum VectorMetric {
    /// 1 - cosine similarity (vectors are normalized).
    Cosine,
    /// Negative dot product.
    Dot,
    /// Squared Euclidean distance.
    L2,
}

/// The embedding model that produced a field's vectors.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmbeddingModel {
    pub name: String,
    pub version: String,
}

/// HNSW graph parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HnswSpec {
    /// Links per node (level 0 keeps twice as many).
    #[serde(default = "default_m")]
    pub m: u32,
    /// Candidate-list width while building.
    #[serde(default = "default_ef_construction")]
    pub ef_construction: u32,
}

impl Default for HnswSpec {
    fn default() -> Self {
        Self { m: default_m(), ef_construction: default_ef_construction() }
    }
}

fn default_m() -> u32 {
    16
}

fn default_ef_construction() -> u32 {
    200
}

/// One named vector field: an array of `dims` numbers at `path`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VectorFieldSpec {
    /// Name used by queries (a collection-name-like identifier).
    pub name: String,
    /// Where the vector sits in documents (defaults to `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Dimensions; with `embed`, the embedder's (may be left out).
    #[serde(default)]
    pub dims: u32,
    pub metric: VectorMetric,
    /// The model that made the vectors. With `embed`, the engine sets it
    /// from the embedder (name and version); a given one must match.
    #[serde(default)]
    pub model: EmbeddingModel,
    #[serde(default)]
    pub hnsw: HnswSpec,
    /// Computed by the engine from the document's text: writes carry the
    /// text, and the engine stores the vector with it in the same commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embed: Option<EmbedSpec>,
    /// The embedding generation searches read (set by the engine; each
    /// model or source change is a new generation).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u32,
    /// Set by the engine while a model switch is backfilling: the next
    /// generation, written beside the current one until every document has
    /// it, then made current. Searches use the current one meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<NextEmbedding>,
    /// Set by the engine while documents written before this field's
    /// current or next generation are being embedded in the background.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backfilling: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// How a vector field's vectors are computed: the text at `from` (strings
/// or arrays of strings, joined by newlines) embedded by a configured
/// embedder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmbedSpec {
    /// Document paths whose text is embedded, in order.
    pub from: Vec<String>,
    /// The embedder's name in the server's configuration (`--embedder`).
    pub model: String,
}

/// The generation a model switch is moving to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NextEmbedding {
    pub embed: EmbedSpec,
    pub model: EmbeddingModel,
    pub dims: u32,
    pub generation: u32,
}

impl VectorFieldSpec {
    /// The document path holding the vector.
    pub fn path(&self) -> &str {
        self.path.as_deref().unwrap_or(&self.name)
    }
}

/// The key of an embedding generation inside an embedded field's value.
pub fn generation_key(generation: u32) -> String {
    format!("g{generation}")
}

impl SearchSpec {
    /// True when nothing is declared.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.vectors.is_empty()
    }

    /// The vector field queries use by default.
    pub fn default_vector(&self) -> Option<&VectorFieldSpec> {
        match &self.default_vector {
            Some(name) => self.vectors.iter().find(|v| &v.name == name),
            None => self.vectors.first(),
        }
    }

    /// Checks every declaration, naming the first problem.
    pub fn validate(&self) -> Result<()> {
        if self.text.len() > TEXT_FIELDS_MAX {
            return Err(Error::invalid(format!("search.text: at most {TEXT_FIELDS_MAX} text fields")));
        }
        for (i, t) in self.text.iter().enumerate() {
            JsonPath::parse(&t.path).map_err(|e| e.context(&format!("search.text[{i}].path")))?;
            if !(t.boost.is_finite() && t.boost > 0.0 && t.boost <= 1000.0) {
                return Err(Error::invalid(format!("search.text[{i}].boost must be in (0, 1000]")));
            }
            if self.text[..i].iter().any(|o| o.path == t.path) {
                return Err(Error::invalid(format!("search.text[{i}].path: duplicate text field {:?}", t.path)));
            }
        }
        if self.vectors.len() > VECTOR_FIELDS_MAX {
            return Err(Error::invalid(format!("search.vectors: at most {VECTOR_FIELDS_MAX} vector fields")));
        }
        for (i, v) in self.vectors.iter().enumerate() {
            validate_vector(v).map_err(|e| e.context(&format!("search.vectors[{i}]")))?;
            self.check_sources(v).map_err(|e| e.context(&format!("search.vectors[{i}]")))?;
            if self.vectors[..i].iter().any(|o| o.name == v.name) {
                return Err(Error::invalid(format!("search.vectors[{i}].name: duplicate vector field {:?}", v.name)));
            }
        }
        if let Some(name) = &self.default_vector
            && !self.vectors.iter().any(|v| &v.name == name)
        {
            return Err(Error::invalid(format!("search.default_vector: no vector field named {name:?}")));
        }
        Ok(())
    }
}

impl SearchSpec {
    /// An embedded field's text may not come from any vector field's
    /// value (its own included), nor may two vector fields share a path.
    fn check_sources(&self, v: &VectorFieldSpec) -> Result<()> {
        let overlaps = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}.")) || b.starts_with(&format!("{a}."));
        for other in self.vectors.iter().filter(|o| o.name != v.name) {
            if overlaps(other.path(), v.path()) {
                return Err(Error::invalid(format!(
                    "path {:?} overlaps vector field {:?} at {:?}",
                    v.path(),
                    other.name,
                    other.path()
                )));
            }
        }
        let sources = v.embed.iter().map(|e| &e.from).chain(v.next.iter().map(|n| &n.embed.from));
        for from in sources.flatten() {
            if let Some(o) = self.vectors.iter().find(|o| overlaps(from, o.path())) {
                return Err(Error::invalid(format!(
                    "embed.from {from:?} overlaps vector field {:?} at {:?} (the text cannot come from a vector)",
                    o.name,
                    o.path()
                )));
            }
        }
        Ok(())
    }
}

fn check_model(m: &EmbeddingModel) -> Result<()> {
    for (what, s) in [("model.name", &m.name), ("model.version", &m.version)] {
        if s.is_empty() || s.len() > MODEL_NAME_BYTES_MAX || s.chars().any(char::is_control) {
            return Err(Error::invalid(format!("{what} must be 1 to {MODEL_NAME_BYTES_MAX} printable bytes")));
        }
    }
    Ok(())
}

fn validate_embed(e: &EmbedSpec) -> Result<()> {
    if e.from.is_empty() || e.from.len() > EMBED_FROM_PATHS_MAX {
        return Err(Error::invalid(format!("from must list 1 to {EMBED_FROM_PATHS_MAX} text paths")));
    }
    for (i, p) in e.from.iter().enumerate() {
        JsonPath::parse(p).map_err(|err| err.context(&format!("from[{i}]")))?;
    }
    CollectionName::new(e.model.as_str()).map_err(|err| err.context("model (an embedder name)"))?;
    Ok(())
}

fn validate_vector(v: &VectorFieldSpec) -> Result<()> {
    CollectionName::new(v.name.as_str()).map_err(|e| e.context("name"))?;
    JsonPath::parse(v.path()).map_err(|e| e.context("path"))?;
    if v.dims == 0 || v.dims > VECTOR_DIMS_MAX {
        return Err(Error::invalid(format!("dims must be 1 to {VECTOR_DIMS_MAX}, got {}", v.dims)));
    }
    check_model(&v.model)?;
    if let Some(e) = &v.embed {
        validate_embed(e).map_err(|err| err.context("embed"))?;
    }
    if let Some(n) = &v.next {
        validate_embed(&n.embed).map_err(|err| err.context("next.embed"))?;
        check_model(&n.model).map_err(|err| err.context("next"))?;
        if n.dims == 0 || n.dims > VECTOR_DIMS_MAX {
            return Err(Error::invalid(format!("next.dims must be 1 to {VECTOR_DIMS_MAX}, got {}", n.dims)));
        }
    }
    if !(4..=64).contains(&v.hnsw.m) {
        return Err(Error::invalid(format!("hnsw.m must be 4 to 64, got {}", v.hnsw.m)));
    }
    if !(8..=2_000).contains(&v.hnsw.ef_construction) {
        return Err(Error::invalid(format!("hnsw.ef_construction must be 8 to 2000, got {}", v.hnsw.ef_construction)));
    }
    Ok(())
}
