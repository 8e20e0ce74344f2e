//! engram-server.
