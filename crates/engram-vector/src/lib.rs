//! Engram vector index (HNSW and exact scan).
