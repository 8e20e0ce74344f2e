//! Integration tests of engram-text, one file per scenario.

// In tests a panic is the failure report, so unwrapping is the point.
#![allow(clippy::unwrap_used)]

mod common;
mod mutation;
mod oracle;
mod persistence;
mod query_syntax;
mod scoring;
mod snippets;
mod tokenizer;
