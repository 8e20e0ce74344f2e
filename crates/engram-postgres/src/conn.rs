//! One PostgreSQL connection: its session settings and prepared statements.
//!
//! Every statement is prepared once per connection and kept (the backend
//! runs a few dozen fixed texts), so a read or write costs one round trip
//! instead of a prepare plus an execute. The last failure's class is kept
//! so the writer can tell a lost connection from a failed statement after
//! the engine's work has turned the error into its own.

use crate::config::PostgresOptions;
use crate::error::{Class, classify, convert};
use engram_core::{Error, ErrorKind, Result};
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, SimpleQueryMessage, SimpleQueryRow, Statement};
use std::collections::HashMap;

/// Bound parameters of a statement.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A connection with its statement cache.
pub(crate) struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
    /// Class of the most recent failed statement, until taken.
    failure: Option<Class>,
}

impl Conn {
    /// Connects with the backend's session settings (statement timeout,
    /// search path, UTC) applied at startup, so no connection can run a
    /// statement without them.
    pub(crate) fn open(opts: &PostgresOptions) -> Result<Self> {
        let mut config: postgres::Config = opts
            .url
            .parse()
            .map_err(|e: postgres::Error| Error::invalid(format!("the PostgreSQL URL is not valid: {e}")))?;
        config.options(&opts.session_options());
        config.application_name("engram");
        config.connect_timeout(opts.connect_timeout);
        let breaker = crate::breaker::for_url(&opts.url);
        breaker.check()?;
        match config.connect(NoTls) {
            Ok(client) => {
                breaker.succeeded();
                Ok(Self { client, statements: HashMap::new(), failure: None })
            }
            Err(e) => {
                let error = convert(&e, "connecting to PostgreSQL");
                // Refusals of the server itself (bad credentials, no such
                // database) are not outages.
                if e.code().is_none() {
                    breaker.failed();
                }
                Err(error)
            }
        }
    }

    /// Whether the connection is known to be unusable.
    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// The class of the last failed statement, clearing it.
    pub(crate) fn take_failure(&mut self) -> Option<Class> {
        self.failure.take()
    }

    /// Runs a query and returns its rows.
    pub(crate) fn query(&mut self, what: &'static str, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        let stmt = self.prepared(what, sql)?;
        let out = self.client.query(&stmt, params);
        self.check(out, what)
    }

    /// Runs a query that yields at most one row.
    pub(crate) fn query_opt(&mut self, what: &'static str, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
        let stmt = self.prepared(what, sql)?;
        let out = self.client.query_opt(&stmt, params);
        self.check(out, what)
    }

    /// Runs a statement and returns the number of rows it changed.
    pub(crate) fn execute(&mut self, what: &'static str, sql: &str, params: Params<'_>) -> Result<u64> {
        let stmt = self.prepared(what, sql)?;
        let out = self.client.execute(&stmt, params);
        self.check(out, what)
    }

    /// Runs parameterless statements (transaction control, DDL) with the
    /// simple protocol.
    pub(crate) fn batch(&mut self, what: &'static str, sql: &str) -> Result<()> {
        let out = self.client.batch_execute(sql);
        self.check(out, what)
    }

    /// Runs parameterless statements with the simple protocol and returns
    /// each statement's rows, in order (see `space_lock.rs`).
    pub(crate) fn simple_rows(&mut self, what: &'static str, sql: &str) -> Result<Vec<Vec<SimpleQueryRow>>> {
        let out = self.client.simple_query(sql);
        let messages = self.check(out, what)?;
        let mut results = vec![Vec::new()];
        for message in messages {
            match message {
                SimpleQueryMessage::Row(row) => results.last_mut().expect("one result at least").push(row),
                SimpleQueryMessage::CommandComplete(_) => results.push(Vec::new()),
                _ => {}
            }
        }
        results.pop();
        Ok(results)
    }

    /// Subscribes this connection to a notification channel (a plain
    /// identifier, checked by the caller).
    pub(crate) fn listen(&mut self, channel: &str) -> Result<()> {
        self.batch("listening for changes", &format!("LISTEN {channel}"))
    }

    /// The next notification (its sender's process id and its payload),
    /// waiting up to `timeout`.
    pub(crate) fn next_notification(&mut self, timeout: std::time::Duration) -> Result<Option<(i32, String)>> {
        use postgres::fallible_iterator::FallibleIterator;
        let out = self.client.notifications().timeout_iter(timeout).next();
        self.check(out, "waiting for change announcements").map(|n| n.map(|n| (n.process_id(), n.payload().to_owned())))
    }

    /// This connection's server process id.
    pub(crate) fn backend_pid(&mut self) -> Result<i32> {
        let row = self.query_opt("reading the connection's process id", "SELECT pg_backend_pid()", &[])?;
        let row = row.ok_or_else(|| Error::internal("pg_backend_pid() returned no row"))?;
        column(row.try_get(0), "reading the connection's process id")
    }

    fn prepared(&mut self, what: &'static str, sql: &str) -> Result<Statement> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let out = self.client.prepare(sql);
        let stmt = self.check(out, what)?;
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    /// Converts a client result, remembering the class of a failure.
    fn check<T>(&mut self, out: std::result::Result<T, postgres::Error>, what: &'static str) -> Result<T> {
        out.map_err(|e| {
            self.failure = Some(classify(&e));
            convert(&e, what)
        })
    }
}

/// The error when a row's column has an unexpected type (the schema was
/// changed underneath us).
pub(crate) fn column<T>(out: std::result::Result<T, postgres::Error>, what: &str) -> Result<T> {
    out.map_err(|e| Error::new(ErrorKind::Corrupted, format!("{what}: a stored column has an unexpected type: {e}")))
}
