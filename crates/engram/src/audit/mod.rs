//! Audit over a space's change log: the Merkle tree that signed checkpoints,
//! receipts and consistency proofs are made from (`tree.rs`), and the full
//! check of a space's stored rows against its log (`rows.rs`).

mod rows;
mod tree;

pub use rows::AuditReport;
pub(crate) use tree::TreeCache;
pub use tree::TreeHead;
