//! Opening connections with the pragmas every Engram connection needs.

use crate::config::{BUSY_TIMEOUT, CACHE_SIZE_KIB, STATEMENT_CACHE_CAPACITY, Synchronous};
use crate::error::sql;
use engram_core::{Error, Result};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The one connection that writes (owned by the writer thread).
    Writer,
    /// A pooled connection that may only read.
    Reader,
}

/// Opens `path` without changing the file yet: only per-connection settings
/// are applied, so a foreign file can still be inspected and refused intact.
pub(crate) fn open(path: &Path, role: Role) -> Result<Connection> {
    // No URI flag: the path is always a plain file name. NO_MUTEX is safe
    // because a `Connection` is used by one thread at a time (it is not Sync).
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if role == Role::Writer {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)
        .map_err(sql("opening the data file"))
        .map_err(|e| e.context(&path.display().to_string()))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql("setting the busy timeout"))?;
    prepare_statements(&conn)?;
    Ok(conn)
}

/// Statement settings of every connection: a cache big enough for the
/// backend's statements, and plans that do not depend on bound values.
///
/// Without the query planner stability guarantee (QPSG), SQLite plans some
/// statements around the values bound at their first run (`LIMIT ?`, and
/// ranges when STAT4 samples exist) and marks them to be prepared again
/// whenever such a parameter is rebound: every scan with `LIMIT ?` was
/// re-prepared at every execution (7% of the writer's time in an event
/// append, 10% of a range read). Plans here never rely on bound values (no
/// ANALYZE, no `LIKE ?`; the partial index is matched by a literal
/// `IS NOT NULL`), so they stay the same.
fn prepare_statements(conn: &Connection) -> Result<()> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(sql("configuring the query planner"))?;
    Ok(())
}

/// Applies the pragmas of a role. For the writer this switches the file to
/// WAL (persistent) and verifies it, since group commit and concurrent
/// readers depend on it.
pub(crate) fn configure(conn: &Connection, role: Role, synchronous: Synchronous) -> Result<()> {
    let what = "configuring the connection";
    if role == Role::Writer {
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).map_err(sql(what))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::internal(format!("{what}: SQLite refused WAL mode (journal_mode is {mode})")));
        }
    }
    conn.pragma_update(None, "synchronous", synchronous.pragma_value()).map_err(sql(what))?;
    conn.pragma_update(None, "foreign_keys", "OFF").map_err(sql(what))?;
    conn.pragma_update(None, "secure_delete", "FAST").map_err(sql(what))?;
    // A negative cache_size is in KiB rather than pages.
    conn.pragma_update(None, "cache_size", -CACHE_SIZE_KIB).map_err(sql(what))?;
    if role == Role::Reader {
        conn.pragma_update(None, "query_only", 1).map_err(sql(what))?;
    }
    Ok(())
}

/// A migrated in-memory database, for unit tests of the SQL layers.
#[cfg(test)]
pub(crate) fn migrated_in_memory() -> Connection {
    let mut conn = Connection::open_in_memory().expect("in-memory database");
    prepare_statements(&conn).expect("statement settings");
    crate::migrations::migrate(&mut conn).expect("migrations apply");
    conn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_is_wal_and_reader_is_query_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        let w = open(&path, Role::Writer).expect("open writer");
        configure(&w, Role::Writer, Synchronous::Full).expect("configure writer");
        let mode: String = w.pragma_query_value(None, "journal_mode", |r| r.get(0)).expect("pragma");
        let sync: i64 = w.pragma_query_value(None, "synchronous", |r| r.get(0)).expect("pragma");
        assert_eq!((mode.as_str(), sync), ("wal", 2));
        w.execute_batch("CREATE TABLE t (x)").expect("writer writes");

        let r = open(&path, Role::Reader).expect("open reader");
        configure(&r, Role::Reader, Synchronous::Full).expect("configure reader");
        assert!(r.execute_batch("INSERT INTO t VALUES (1)").is_err(), "reader must not write");
    }

    #[test]
    fn reader_does_not_create_a_missing_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(open(&dir.path().join("missing.sqlite"), Role::Reader).is_err());
    }
}
