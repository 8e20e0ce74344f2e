//! The read pool: a bounded set of query-only connections lent as guards.
//!
//! Each guard holds one read transaction from its first read until it is
//! dropped, so all reads through one guard see one consistent snapshot (as
//! the reference backend's read lock does), while WAL lets writers go on.

use crate::config::{READ_CONNECTION_WAIT_MAX, Synchronous};
use crate::connection::{self, Role};
use crate::error::sql;
use crate::reader::Queries;
use engram_core::{Error, ErrorKind, Result};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// Read connections, opened up front and reopened on demand if one is discarded.
pub(crate) struct ReadPool {
    path: PathBuf,
    synchronous: Synchronous,
    size: usize,
    state: Mutex<PoolState>,
    returned: Condvar,
}

struct PoolState {
    idle: Vec<Connection>,
    /// Connections in existence (idle or lent); never above `size`.
    open: usize,
    /// Threads waiting for a connection (so returns wake only when needed).
    waiting: usize,
    closed: bool,
}

impl ReadPool {
    /// Opens `size` read connections to an already migrated file.
    pub(crate) fn open(path: &Path, size: usize, synchronous: Synchronous) -> Result<Self> {
        let idle = (0..size).map(|_| open_reader(path, synchronous)).collect::<Result<Vec<_>>>()?;
        let state = PoolState { idle, open: size, waiting: 0, closed: false };
        Ok(Self { path: path.to_owned(), synchronous, size, state: Mutex::new(state), returned: Condvar::new() })
    }

    /// Lends a connection, waiting up to [`READ_CONNECTION_WAIT_MAX`] for one.
    pub(crate) fn get(&self) -> Result<PooledReader<'_>> {
        let conn = self.take()?;
        // Deferred: the snapshot is taken at the guard's first read.
        if let Err(e) = run(&conn, "BEGIN") {
            self.discard(conn);
            return Err(sql("starting a read transaction")(e));
        }
        Ok(PooledReader { pool: self, conn: Some(conn) })
    }

    /// Runs `f` on a connection outside any explicit transaction (for a
    /// single statement, which SQLite runs on one snapshot by itself).
    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.take()?;
        let out = f(&conn);
        if conn.is_autocommit() {
            self.put_back(conn);
        } else {
            self.discard(conn);
        }
        out
    }

    /// Closes idle connections and refuses further loans (at shutdown, when
    /// no guard can be outstanding since guards borrow the backend).
    pub(crate) fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.open -= st.idle.len();
        st.idle.clear();
    }

    fn take(&self) -> Result<Connection> {
        fail::fail_point!("sqlite.read", |_| Err(Error::new(ErrorKind::Unavailable, "reading: injected failure")));
        let mut st = self.lock();
        if let Some(conn) = st.idle.pop() {
            return Ok(conn); // the common case: no clock read, no waiting
        }
        let deadline = Instant::now() + READ_CONNECTION_WAIT_MAX;
        loop {
            if st.closed {
                return Err(Error::new(ErrorKind::Unavailable, "the storage backend is shutting down"));
            }
            if let Some(conn) = st.idle.pop() {
                return Ok(conn);
            }
            if st.open < self.size {
                st.open += 1;
                drop(st);
                return self.reopen();
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("all {} read connections stayed busy for {:?}", self.size, READ_CONNECTION_WAIT_MAX),
                ));
            }
            st.waiting += 1;
            st = self.returned.wait_timeout(st, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
            st.waiting -= 1;
        }
    }

    /// Opens a replacement for a discarded connection (its slot is already counted).
    fn reopen(&self) -> Result<Connection> {
        open_reader(&self.path, self.synchronous).inspect_err(|_| self.release_slot())
    }

    /// Takes a connection back after a loan, ending its read transaction.
    fn give_back(&self, conn: Connection) {
        // ROLLBACK of a read transaction only releases the snapshot; if it
        // fails or leaves a transaction open, the connection is not reused.
        let ended = run(&conn, "ROLLBACK").is_ok() && conn.is_autocommit();
        if !ended {
            self.discard(conn);
            return;
        }
        self.put_back(conn);
    }

    /// Returns an idle connection (no transaction open) to the pool.
    fn put_back(&self, conn: Connection) {
        let mut st = self.lock();
        if st.closed {
            st.open -= 1;
        } else {
            st.idle.push(conn);
        }
        let wake = st.waiting > 0;
        drop(st);
        if wake {
            self.returned.notify_one();
        }
    }

    fn discard(&self, conn: Connection) {
        drop(conn);
        self.release_slot();
    }

    fn release_slot(&self) {
        self.lock().open -= 1;
        self.returned.notify_one();
    }

    /// The pool state; a panic elsewhere cannot leave it inconsistent (every
    /// update is a single push, pop or counter step), so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs a transaction-control statement, prepared once per connection.
fn run(conn: &Connection, sql_text: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql_text)?.execute([]).map(drop)
}

fn open_reader(path: &Path, synchronous: Synchronous) -> Result<Connection> {
    let conn = connection::open(path, Role::Reader)?;
    connection::configure(&conn, Role::Reader, synchronous)?;
    Ok(conn)
}

/// A lent read connection; returns to the pool when dropped.
pub(crate) struct PooledReader<'a> {
    pool: &'a ReadPool,
    /// Always `Some` until drop.
    conn: Option<Connection>,
}

impl PooledReader<'_> {
    fn q(&self) -> Queries<'_> {
        Queries(self.conn.as_ref().expect("a lent connection is held until the guard drops"))
    }
}

impl Drop for PooledReader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.give_back(conn);
        }
    }
}

engram_core::delegate_reader!(PooledReader<'_>, self => self.q());
