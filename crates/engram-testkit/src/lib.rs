//! engram-testkit.
