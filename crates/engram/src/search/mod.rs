//! Search: full-text (BM25), vector k-NN (HNSW or exact scan) and hybrid,
//! over the text and vector fields a collection declares.
//!
//! The search index is derived state. It follows each space's change log
//! (the records are the truth), is caught up before every search so a
//! search sees the caller's own writes, is saved to a file recording the
//! log position it covers, reloaded at start without a rebuild and replayed
//! forward after a crash. `check` compares it with the records; `rebuild`
//! makes it again from them.

pub(crate) mod api;
pub(crate) mod check;
pub(crate) mod coll_index;
pub(crate) mod execute;
pub(crate) mod fields;
pub(crate) mod indexer;
pub(crate) mod manager;
pub(crate) mod persist;
pub mod request;
pub(crate) mod space_index;
pub mod store;
