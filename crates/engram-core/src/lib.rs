//! Engram's core: the types every layer shares, with no I/O.
//!
//! Backends implement [`backend::Backend`]; the engine drives them through the
//! [`backend::Reader`] and [`backend::WriteTx`] seams. Everything here is pure
//! so that it is the same whatever the storage underneath.

pub mod audit;
pub mod backend;
pub mod breaker;
pub mod changelog;
pub mod cursor;
pub mod embed;
pub mod error;
pub mod filter;
pub mod hlc;
pub mod json;
pub mod json_numbers;
pub mod keys;
pub mod limits;
pub mod memory;
pub mod merkle;
pub mod migration;
pub mod names;
pub mod number;
pub mod path;
pub mod schema;
pub mod search_spec;
pub mod sql_int;

pub use error::{Error, ErrorKind, Result};
