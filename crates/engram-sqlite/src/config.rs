//! Options of the SQLite backend, with their named defaults and limits.

use engram_core::{Error, Result};
use std::time::Duration;

/// Read connections opened when the caller gives no number.
pub const READ_CONNECTIONS_DEFAULT: usize = 4;
/// Most read connections one backend may hold open.
pub const READ_CONNECTIONS_MAX: usize = 64;
/// Writes that may wait for the writer thread before submitters block.
pub const WRITE_QUEUE_MAX_DEFAULT: usize = 4096;
/// Largest accepted write queue.
pub const WRITE_QUEUE_MAX_LIMIT: usize = 1 << 20;
/// Writes committed together in one transaction (one sync) by default.
pub const GROUP_COMMIT_JOBS_MAX_DEFAULT: usize = 512;
/// Largest accepted group-commit batch.
pub const GROUP_COMMIT_JOBS_MAX_LIMIT: usize = 65_536;
/// How long SQLite retries a locked database before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(5_000);
/// How long `reader()` waits for a free read connection before failing.
pub const READ_CONNECTION_WAIT_MAX: Duration = Duration::from_secs(30);
/// Page cache of each connection, in KiB.
pub const CACHE_SIZE_KIB: i64 = 16 * 1024;
/// Prepared statements kept per connection: the default 16 is too few for
/// the backend's ~30 fixed statements plus up to 36 index-scan shapes.
pub const STATEMENT_CACHE_CAPACITY: usize = 128;

/// How hard SQLite syncs on commit (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Sync the WAL on every commit: an acknowledged write survives power loss.
    #[default]
    Full,
    /// Sync only at checkpoints: survives a process crash, not power loss.
    Normal,
    /// Never sync: for tests and throwaway data.
    Off,
}

impl Synchronous {
    /// The value given to `PRAGMA synchronous`.
    pub(crate) fn pragma_value(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
            Self::Off => "OFF",
        }
    }
}

/// How a [`crate::SqliteBackend`] is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    pub synchronous: Synchronous,
    /// Connections in the read pool, 1 to [`READ_CONNECTIONS_MAX`].
    pub read_connections: usize,
    /// Writes queued for the writer thread; when full, `write` blocks (backpressure).
    pub write_queue_max: usize,
    /// Most writes committed together in one transaction.
    pub group_commit_jobs_max: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::default(),
            read_connections: READ_CONNECTIONS_DEFAULT,
            write_queue_max: WRITE_QUEUE_MAX_DEFAULT,
            group_commit_jobs_max: GROUP_COMMIT_JOBS_MAX_DEFAULT,
        }
    }
}

impl SqliteOptions {
    /// Checks every option against its limit.
    pub(crate) fn validate(&self) -> Result<()> {
        check_range("read_connections", self.read_connections, READ_CONNECTIONS_MAX)?;
        check_range("write_queue_max", self.write_queue_max, WRITE_QUEUE_MAX_LIMIT)?;
        check_range("group_commit_jobs_max", self.group_commit_jobs_max, GROUP_COMMIT_JOBS_MAX_LIMIT)
    }

    /// Whether an acknowledged write survives power loss with these options.
    pub(crate) fn durable(&self) -> bool {
        self.synchronous == Synchronous::Full
    }
}

fn check_range(what: &str, value: usize, max: usize) -> Result<()> {
    if (1..=max).contains(&value) {
        return Ok(());
    }
    Err(Error::invalid(format!("sqlite option {what} must be 1 to {max}, got {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_durable() {
        let o = SqliteOptions::default();
        assert!(o.validate().is_ok());
        assert!(o.durable());
        assert_eq!(o.read_connections, READ_CONNECTIONS_DEFAULT);
        assert_eq!(Synchronous::default().pragma_value(), "FULL");
    }

    #[test]
    fn out_of_range_options_are_refused() {
        let bad = [
            SqliteOptions { read_connections: 0, ..Default::default() },
            SqliteOptions { read_connections: READ_CONNECTIONS_MAX + 1, ..Default::default() },
            SqliteOptions { write_queue_max: 0, ..Default::default() },
            SqliteOptions { group_commit_jobs_max: 0, ..Default::default() },
            SqliteOptions { group_commit_jobs_max: GROUP_COMMIT_JOBS_MAX_LIMIT + 1, ..Default::default() },
        ];
        for o in bad {
            let e = o.validate().expect_err("must be refused");
            assert_eq!(e.kind(), engram_core::ErrorKind::InvalidInput);
        }
        let not_durable = SqliteOptions { synchronous: Synchronous::Normal, ..Default::default() };
        assert!(!not_durable.durable());
    }
}
