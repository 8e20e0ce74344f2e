//! Graph: typed, directed, weighted edges between documents, stored in the
//! reserved `_edges` collection and traversed in an in-memory adjacency
//! derived from the change log.

pub(crate) mod api;
pub(crate) mod index;
pub(crate) mod traverse;
pub(crate) mod types;
pub(crate) mod write;
