//! Leases: named, exclusive rights held by one server of a database at a
//! time (the purger's, so one server purges while the others skip), as
//! session-level advisory locks on connections of their own.
//!
//! Invariant: a lease is held exactly while its connection is: a server
//! that dies, or whose connection drops, loses it, and another server's
//! next attempt takes it. A holder checks its connection before trusting a
//! lease it took earlier.

use crate::config::PostgresOptions;
use crate::conn::{Conn, column};
use engram_core::Result;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// The leases one backend holds, by advisory-lock key.
pub(crate) struct Leases {
    opts: PostgresOptions,
    held: Mutex<HashMap<i64, Conn>>,
}

/// The advisory-lock key of a lease name (in Engram's own key space: a
/// hash of a prefixed name).
fn key(name: &str) -> i64 {
    let h = blake3::hash(format!("engram.lease.{name}").as_bytes());
    i64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes"))
}

impl Leases {
    pub(crate) fn new(opts: &PostgresOptions) -> Self {
        Self { opts: opts.clone(), held: Mutex::default() }
    }

    /// Whether this backend holds the lease `name`, taking it if free.
    pub(crate) fn try_take(&self, name: &str) -> Result<bool> {
        let k = key(name);
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(conn) = held.get_mut(&k) {
            if !conn.is_closed() && conn.query_opt("checking a lease", "SELECT 1", &[]).is_ok() {
                return Ok(true);
            }
            // Its connection is gone, and the lock with it.
            held.remove(&k);
        }
        let mut conn = Conn::open(&self.opts)?;
        let row = conn.query_opt("taking a lease", "SELECT pg_try_advisory_lock($1)", &[&k])?;
        let taken: bool = match row {
            Some(r) => column(r.try_get(0), "taking a lease")?,
            None => false,
        };
        if taken {
            held.insert(k, conn);
        }
        Ok(taken)
    }

    /// Gives every lease up (their connections close).
    pub(crate) fn release_all(&self) {
        self.held.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}
