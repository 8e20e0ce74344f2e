//! The embedder seam: text in, vectors out. The engine calls embedders
//! before a write commits (see ARCHITECTURE.md, "Embeddings"); the models
//! themselves (a local BERT-style model, an OpenAI-compatible endpoint)
//! live in the `engram-embed` crate and are registered by name.

use crate::limits::{EMBED_BATCH_TEXTS_MAX, EMBED_TEXT_BYTES_MAX};
use crate::search_spec::EmbeddingModel;
use crate::{Error, ErrorKind, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a registered embedder produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedderInfo {
    /// The model's name and version, recorded in the field's spec.
    pub model: EmbeddingModel,
    /// Dimensions of every vector it returns.
    pub dims: u32,
}

/// What an embedder has done since it started (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbedderStats {
    /// Model runs (batches).
    pub batches: u64,
    /// Texts embedded.
    pub texts: u64,
    /// Batches that failed.
    pub failures: u64,
    /// Time spent in model runs, in microseconds.
    pub busy_micros: u64,
}

/// A text-to-vector model. Implementations batch, bound their own
/// concurrency and never put credentials in an error.
pub trait Embedder: Send + Sync + 'static {
    fn info(&self) -> &EmbedderInfo;

    /// One vector per text, in order, each of `info().dims` numbers.
    /// At most [`EMBED_BATCH_TEXTS_MAX`] texts per call.
    fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>>;

    /// Counters since start (zeros when the implementation keeps none).
    fn stats(&self) -> EmbedderStats {
        EmbedderStats::default()
    }
}

/// The embedders configured on this engine, by the name specs use.
#[derive(Clone, Default)]
pub struct Embedders {
    by_name: BTreeMap<String, Arc<dyn Embedder>>,
}

impl std::fmt::Debug for Embedders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_name.iter().map(|(n, e)| (n, e.info()))).finish()
    }
}

impl Embedders {
    /// Registers `embedder` under `name`; a name may be registered once.
    pub fn add(&mut self, name: &str, embedder: Arc<dyn Embedder>) -> Result<()> {
        crate::names::CollectionName::new(name).map_err(|e| e.context("embedder name"))?;
        if self.by_name.insert(name.to_owned(), embedder).is_some() {
            return Err(Error::invalid(format!("embedder {name:?} is configured twice")));
        }
        Ok(())
    }

    /// The embedder named `name`, or an error saying it is not configured.
    pub fn get(&self, name: &str) -> Result<&Arc<dyn Embedder>> {
        self.by_name.get(name).ok_or_else(|| {
            Error::new(
                ErrorKind::Unavailable,
                format!("no embedder named {name:?} is configured on this server (see --embedder)"),
            )
        })
    }

    pub fn names(&self) -> impl Iterator<Item = (&str, &EmbedderInfo)> {
        self.by_name.iter().map(|(n, e)| (n.as_str(), e.info()))
    }

    /// Every embedder with its name, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<dyn Embedder>)> {
        self.by_name.iter().map(|(n, e)| (n.as_str(), e))
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// Checks texts against the per-call limits before any model sees them.
pub fn check_texts(texts: &[String]) -> Result<()> {
    if texts.len() > EMBED_BATCH_TEXTS_MAX {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!("at most {EMBED_BATCH_TEXTS_MAX} texts per embedding call, got {}", texts.len()),
        ));
    }
    if let Some((i, t)) = texts.iter().enumerate().find(|(_, t)| t.len() > EMBED_TEXT_BYTES_MAX) {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!("text {i} to embed is {} bytes, at most {EMBED_TEXT_BYTES_MAX}", t.len()),
        ));
    }
    Ok(())
}

/// Scales `v` to unit length (left as is when it is all zeros).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}
