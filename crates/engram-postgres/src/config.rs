//! Options of the PostgreSQL backend, with their named defaults and limits.

use engram_core::{Error, Result};
use std::time::Duration;

/// Read connections kept when the caller gives no number.
pub const READ_CONNECTIONS_DEFAULT: usize = 4;
/// Most read connections one backend may hold open.
pub const READ_CONNECTIONS_MAX: usize = 64;
/// Writer connections (each with its own group-commit thread) by default.
///
/// One, because two batch transactions of one server that lock the same
/// spaces in opposite orders deadlock (PostgreSQL detects it after its
/// `deadlock_timeout` and fails one job with a retryable error). A single
/// writer per server leaves deadlocks possible only between servers.
pub const WRITE_CONNECTIONS_DEFAULT: usize = 1;
/// Most writer connections one backend may hold open.
pub const WRITE_CONNECTIONS_MAX: usize = 16;
/// Writes that may wait for a writer before submitters block.
pub const WRITE_QUEUE_MAX_DEFAULT: usize = 4096;
/// Largest accepted write queue.
pub const WRITE_QUEUE_MAX_LIMIT: usize = 1 << 20;
/// Writes committed together in one transaction by default.
pub const GROUP_COMMIT_JOBS_MAX_DEFAULT: usize = 256;
/// Largest accepted group-commit batch.
pub const GROUP_COMMIT_JOBS_MAX_LIMIT: usize = 65_536;
/// `statement_timeout` of every connection unless configured otherwise.
pub const STATEMENT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);
/// How long opening a connection may take.
pub const CONNECT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
/// How long `reader()` waits for a free read connection before failing.
pub const READ_CONNECTION_WAIT_MAX: Duration = Duration::from_secs(30);
/// Attempts at opening a transaction when the connection turns out dead
/// (the work has not run yet, so trying again on a new connection is safe).
pub const RECONNECT_ATTEMPTS: u32 = 3;
/// The schema Engram's tables live in unless configured otherwise.
pub const SCHEMA_DEFAULT: &str = "engram";

/// How a [`crate::PostgresBackend`] connects and behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// A libpq-style URL or key=value string (`postgres://user@host/db`).
    pub url: String,
    /// The schema holding Engram's tables (created if absent); lets one
    /// database host Engram beside other applications.
    pub schema: String,
    /// Longest time one statement may run (lock waits included) before the
    /// server cancels it.
    pub statement_timeout: Duration,
    pub connect_timeout: Duration,
    /// Connections in the read pool, 1 to [`READ_CONNECTIONS_MAX`].
    pub read_connections: usize,
    /// Writer threads, each with its own connection and transactions. More
    /// than one lets a server keep writing while one batch waits for a space
    /// locked by another server, at the risk of deadlocks between its own
    /// batches (see [`WRITE_CONNECTIONS_DEFAULT`]).
    pub write_connections: usize,
    /// Writes queued for the writers; when full, `write` blocks (backpressure).
    pub write_queue_max: usize,
    /// Most writes committed together in one transaction.
    pub group_commit_jobs_max: usize,
    /// A read replica's URL (a hot standby of the same database): reads
    /// that accept staleness go there, and to the primary while it is
    /// unreachable. `None`: every read goes to the primary.
    pub replica_url: Option<String>,
}

impl PostgresOptions {
    /// Defaults for everything but the server's address.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: SCHEMA_DEFAULT.to_owned(),
            statement_timeout: STATEMENT_TIMEOUT_DEFAULT,
            connect_timeout: CONNECT_TIMEOUT_DEFAULT,
            read_connections: READ_CONNECTIONS_DEFAULT,
            write_connections: WRITE_CONNECTIONS_DEFAULT,
            write_queue_max: WRITE_QUEUE_MAX_DEFAULT,
            group_commit_jobs_max: GROUP_COMMIT_JOBS_MAX_DEFAULT,
            replica_url: None,
        }
    }

    /// Checks every option against its limit.
    pub(crate) fn validate(&self) -> Result<()> {
        check_range("read_connections", self.read_connections, READ_CONNECTIONS_MAX)?;
        check_range("write_connections", self.write_connections, WRITE_CONNECTIONS_MAX)?;
        check_range("write_queue_max", self.write_queue_max, WRITE_QUEUE_MAX_LIMIT)?;
        check_range("group_commit_jobs_max", self.group_commit_jobs_max, GROUP_COMMIT_JOBS_MAX_LIMIT)?;
        check_schema(&self.schema)?;
        if self.statement_timeout.as_millis() == 0 {
            return Err(Error::invalid("postgres option statement_timeout must be at least 1 ms"));
        }
        Ok(())
    }

    /// The server-side settings of every connection, as a startup
    /// `options` string. The schema name is checked by [`check_schema`], so
    /// nothing here can smuggle other settings in.
    pub(crate) fn session_options(&self) -> String {
        let timeout_ms = self.statement_timeout.as_millis();
        format!("-c statement_timeout={timeout_ms} -c search_path={} -c TimeZone=UTC", self.schema)
    }
}

fn check_range(what: &str, value: usize, max: usize) -> Result<()> {
    if (1..=max).contains(&value) {
        return Ok(());
    }
    Err(Error::invalid(format!("postgres option {what} must be 1 to {max}, got {value}")))
}

/// A schema name is a plain lowercase identifier (it is spliced into
/// settings and DDL, where it cannot be a bound parameter).
fn check_schema(schema: &str) -> Result<()> {
    let mut chars = schema.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && schema.len() <= 63 {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "postgres option schema must be a lowercase identifier of at most 63 bytes, got {schema:?}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let o = PostgresOptions::new("postgres://localhost/db");
        assert!(o.validate().is_ok());
        assert_eq!(o.session_options(), "-c statement_timeout=30000 -c search_path=engram -c TimeZone=UTC");
    }

    #[test]
    fn out_of_range_options_are_refused() {
        let base = PostgresOptions::new("postgres://localhost/db");
        let bad = [
            PostgresOptions { read_connections: 0, ..base.clone() },
            PostgresOptions { write_connections: WRITE_CONNECTIONS_MAX + 1, ..base.clone() },
            PostgresOptions { write_queue_max: 0, ..base.clone() },
            PostgresOptions { group_commit_jobs_max: 0, ..base.clone() },
            PostgresOptions { statement_timeout: Duration::ZERO, ..base.clone() },
            PostgresOptions { schema: "Engram".into(), ..base.clone() },
            PostgresOptions { schema: "x -c y=z".into(), ..base.clone() },
            PostgresOptions { schema: String::new(), ..base },
        ];
        for o in bad {
            let e = o.validate().expect_err("must be refused");
            assert_eq!(e.kind(), engram_core::ErrorKind::InvalidInput, "{o:?}");
        }
    }
}
