//! The read pool: a bounded set of connections lent as read transactions.
//!
//! A lent [`PooledReader`] holds one `REPEATABLE READ READ ONLY` transaction
//! from its creation until it is dropped, so all its reads see one snapshot
//! (taken at its first statement), as the reference backend's read lock
//! does. Connections are opened on demand up to the pool's size; a
//! connection found dead is dropped and replaced, and the loan is tried
//! again, since nothing has been read through it yet.

use crate::config::{PostgresOptions, READ_CONNECTION_WAIT_MAX, RECONNECT_ATTEMPTS};
use crate::conn::Conn;
use crate::error::Class;
use crate::reader::Queries;
use engram_core::{Error, ErrorKind, Result};
use std::cell::RefCell;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

const BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

/// Read connections, opened on demand.
pub(crate) struct ReadPool {
    opts: PostgresOptions,
    state: Mutex<PoolState>,
    returned: Condvar,
}

struct PoolState {
    idle: Vec<Conn>,
    /// Connections in existence (idle or lent); never above the pool size.
    open: usize,
    /// Threads waiting for a connection (so returns wake only when needed).
    waiting: usize,
    closed: bool,
}

impl ReadPool {
    pub(crate) fn new(opts: &PostgresOptions) -> Self {
        let state = PoolState { idle: Vec::new(), open: 0, waiting: 0, closed: false };
        Self { opts: opts.clone(), state: Mutex::new(state), returned: Condvar::new() }
    }

    /// Lends a connection inside a fresh read transaction.
    pub(crate) fn get(&self) -> Result<PooledReader<'_>> {
        let conn = self.with_retry(|conn| conn.batch("starting a read transaction", BEGIN_READ))?;
        Ok(PooledReader { pool: self, conn: Some(RefCell::new(conn)) })
    }

    /// Runs one statement outside an explicit transaction (a statement is
    /// its own snapshot). A connection found dead is replaced and the read
    /// tried again: reading twice is harmless.
    pub(crate) fn with_conn<T>(&self, f: impl Fn(&RefCell<Conn>) -> Result<T>) -> Result<T> {
        let mut last = None;
        for _ in 0..RECONNECT_ATTEMPTS {
            let cell = RefCell::new(self.take()?);
            let out = f(&cell);
            let mut conn = cell.into_inner();
            let lost = conn.take_failure() == Some(Class::ConnectionLost);
            if lost || conn.is_closed() {
                self.discard(conn);
            } else {
                self.put_back(conn);
            }
            match out {
                Err(e) if lost => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| lost_error("reading")))
    }

    /// Takes a connection and runs `start` on it, replacing connections
    /// that turn out to be dead.
    fn with_retry(&self, start: impl Fn(&mut Conn) -> Result<()>) -> Result<Conn> {
        let mut last = None;
        for _ in 0..RECONNECT_ATTEMPTS {
            let mut conn = self.take()?;
            match start(&mut conn) {
                Ok(()) => return Ok(conn),
                Err(e) => {
                    let lost = conn.take_failure() == Some(Class::ConnectionLost) || conn.is_closed();
                    self.discard(conn);
                    if !lost {
                        return Err(e);
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| lost_error("starting a read transaction")))
    }

    /// Closes idle connections and refuses further loans.
    pub(crate) fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.open -= st.idle.len();
        st.idle.clear();
    }

    fn take(&self) -> Result<Conn> {
        let mut st = self.lock();
        let deadline = Instant::now() + READ_CONNECTION_WAIT_MAX;
        loop {
            if st.closed {
                return Err(Error::new(ErrorKind::Unavailable, "the storage backend is shutting down"));
            }
            if let Some(conn) = st.idle.pop() {
                return Ok(conn);
            }
            if st.open < self.opts.read_connections {
                st.open += 1;
                drop(st);
                return Conn::open(&self.opts).inspect_err(|_| self.release_slot());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "all {} read connections stayed busy for {:?}",
                        self.opts.read_connections, READ_CONNECTION_WAIT_MAX
                    ),
                ));
            }
            st.waiting += 1;
            st = self.returned.wait_timeout(st, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
            st.waiting -= 1;
        }
    }

    /// Takes a connection back after a loan, ending its read transaction;
    /// one whose transaction cannot be ended is not reused.
    fn give_back(&self, mut conn: Conn) {
        if conn.batch("ending a read transaction", "ROLLBACK").is_err() {
            self.discard(conn);
            return;
        }
        self.put_back(conn);
    }

    fn put_back(&self, conn: Conn) {
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

    fn discard(&self, conn: Conn) {
        drop(conn);
        self.release_slot();
    }

    fn release_slot(&self) {
        self.lock().open -= 1;
        self.returned.notify_one();
    }

    /// Every update of the state is a single push, pop or counter step, so a
    /// panic elsewhere cannot leave it inconsistent: poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn lost_error(what: &str) -> Error {
    Error::new(ErrorKind::Unavailable, format!("{what}: the connection to PostgreSQL was lost; it can be retried"))
}

/// A lent read transaction; returns its connection to the pool when dropped.
pub(crate) struct PooledReader<'a> {
    pool: &'a ReadPool,
    /// Always `Some` until drop.
    conn: Option<RefCell<Conn>>,
}

impl PooledReader<'_> {
    fn q(&self) -> Queries<'_> {
        Queries(self.conn.as_ref().expect("a lent connection is held until the guard drops"))
    }
}

impl Drop for PooledReader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.give_back(conn.into_inner());
        }
    }
}

engram_core::delegate_reader!(PooledReader<'_>, self => self.q());
