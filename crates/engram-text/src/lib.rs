//! Engram's full-text index: tokenizer, positional inverted index, BM25 top-k, phrase and prefix queries,
//! field boosts, snippets and a checksummed file format. It knows no engine types: documents are `u32` keys
//! with up to [`FIELDS_MAX`] text fields.
//!
//! ```
//! use engram_text::{TextIndex, TextQuery};
//! let mut index = TextIndex::new(&["title", "body"])?;
//! index.upsert(1, &[(0, "The Cat"), (1, "a cat in a hat")])?;
//! index.upsert(2, &[(0, "Dogs"), (1, "no cats here")])?;
//! let q = TextQuery::parse("cat +hat", &["title", "body"])?;
//! let hits = index.search(&q, 10, &[], None);
//! assert_eq!(hits[0].0, 1);
//! # Ok::<(), engram_text::TextError>(())
//! ```
//!
//! Layout: the [`TextIndex`] (`index.rs`) owns a term dictionary (`dictionary.rs`) whose terms hold one
//! sorted posting list per field (`postings.rs`), plus a forward map from key to its terms so removal is
//! physical and cheap. Search plans clauses into scoring cursors (`plan.rs`, `leaf.rs`, `phrase.rs`) and
//! runs MaxScore or a leapfrog conjunction into a bounded heap (`search.rs`, `topk.rs`).

mod analyze;
pub mod bm25;
mod codec;
mod dictionary;
mod error;
mod hash;
mod index;
mod leaf;
pub mod limits;
mod parse;
pub mod persist;
mod phrase;
mod plan;
mod postings;
mod query;
mod search;
mod snippet;
mod tokenize;
mod topk;

pub use bm25::{BM25_B, BM25_K1};
pub use error::TextError;
pub use index::TextIndex;
pub use limits::{
    DOC_BYTES_MAX, FIELD_NAME_BYTES_MAX, FIELDS_MAX, INDEX_POSITIONS_MAX, K_MAX, PREFIX_EXPANSION_MAX, QUERY_BYTES_MAX,
    QUERY_CLAUSES_MAX, TOKEN_BYTES_MAX,
};
pub use query::TextQuery;
pub use snippet::{Snippet, snippet};
pub use tokenize::{Token, tokenize};
