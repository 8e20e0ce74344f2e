//! engram-sqlite.
