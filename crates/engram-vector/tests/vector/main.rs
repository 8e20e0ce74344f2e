//! Integration tests of the vector index: one binary, one module per scenario.

mod common;
mod deletes;
mod filter;
mod kernel;
mod persist;
mod recall;
mod validation;
