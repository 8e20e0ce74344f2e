//! engram.
