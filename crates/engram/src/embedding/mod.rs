//! Embeddings computed by the engine (see ARCHITECTURE.md, "Embeddings").
//!
//! A vector field with `embed` holds, in each document, one entry per
//! embedding generation: `{"g1": {"model", "version", "source", "vector"}}`
//! where `source` is a digest of the text the vector was computed from.
//! Vectors are computed before the commit ([`prepare`]), and the writer
//! checks inside the transaction that every generation the spec requires
//! is present and was computed from the document's text as committed
//! ([`fields::check`]): a vector never disagrees with its text. A model
//! switch adds a next generation that the [`backfill`] worker fills in
//! before it becomes the one searches read.

pub(crate) mod backfill;
pub(crate) mod fields;
pub(crate) mod prepare;
pub(crate) mod spec;
pub(crate) mod status;

pub use status::{EmbeddingFieldStatus, EmbeddingStatus};
