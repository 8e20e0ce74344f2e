//! Facts: subject–predicate–object statements with valid time (when it was
//! true in the world) and transaction time (when the store believed it).
//!
//! Stored in the reserved `_facts` collection. Nothing is overwritten: a
//! change supersedes a row (sets its `superseded_hlc`) and records new rows,
//! so the store can answer what it knew at any past transaction time.

pub(crate) mod api;
pub(crate) mod types;
pub(crate) mod write;
