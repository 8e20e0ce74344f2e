//! engram-bench.
