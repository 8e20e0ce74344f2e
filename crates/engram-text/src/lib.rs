//! Engram full-text index (BM25).
