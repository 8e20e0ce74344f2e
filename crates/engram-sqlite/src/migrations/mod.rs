//! Versioned schema migrations, embedded in the binary and applied at open.
//!
//! Invariants: migration `n` is the n-th entry of [`MIGRATIONS`] and its SQL
//! never changes once released (a BLAKE3 checksum of it is recorded and
//! checked at every open); each is applied in its own transaction together
//! with its `schema_migrations` row, `user_version` and `application_id`, so
//! a crash leaves the file at one version or the next, never in between.

use crate::error::sql;
use engram_core::migration::{Applied, Ledger, Migration, checksum};
use engram_core::{Error, ErrorKind, Result};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use std::time::{SystemTime, UNIX_EPOCH};

/// `PRAGMA application_id` of every Engram data file ("Engr" in ASCII).
pub const APPLICATION_ID: i32 = 0x456E_6772;

/// The newest data format this build reads and writes.
pub const FORMAT_VERSION: u32 = 3;

/// Every migration, in version order from 1 without gaps.
const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "0001_initial", sql: include_str!("0001_initial.sql") },
    Migration { version: 2, name: "0002_exact_number_keys", sql: include_str!("0002_exact_number_keys.sql") },
    Migration { version: 3, name: "0003_change_actors", sql: include_str!("0003_change_actors.sql") },
];

const LEDGER: Ledger = Ledger { migrations: MIGRATIONS, format: FORMAT_VERSION, store: "data directory" };

/// The ledger of applied migrations; created by the first migration's transaction.
const LEDGER_DDL: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version       INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    checksum      TEXT    NOT NULL,
    applied_at_ms INTEGER NOT NULL
)";

/// Refuses files that are not Engram's or are of a newer format, without
/// writing anything (so a foreign file is left exactly as it was).
pub(crate) fn check_identity(conn: &Connection) -> Result<()> {
    let app_id: i32 =
        conn.pragma_query_value(None, "application_id", |r| r.get(0)).map_err(sql("reading the file header"))?;
    if app_id != APPLICATION_ID && (app_id != 0 || !is_empty(conn)?) {
        return Err(not_engram());
    }
    let user_version: i64 =
        conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(sql("reading the file header"))?;
    LEDGER.refuse_newer(user_version)
}

/// Applies every migration not yet recorded, each in its own transaction,
/// after checking the recorded ones against this build's.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    for m in MIGRATIONS {
        // IMMEDIATE takes the write lock first, so two openers cannot both
        // apply the same migration: the second sees the first's record.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql("starting a migration"))?;
        check_identity(&tx)?;
        let applied = applied(&tx)?;
        LEDGER.verify(&applied)?;
        if applied.iter().any(|a| a.version == i64::from(m.version)) {
            continue; // dropping `tx` ends the read-only transaction
        }
        apply(&tx, m)?;
        tx.commit().map_err(sql("committing a migration"))?;
    }
    Ok(())
}

fn apply(conn: &Connection, m: &Migration) -> Result<()> {
    let what = "applying a schema migration";
    conn.execute_batch(LEDGER_DDL).map_err(sql(what))?;
    conn.execute_batch(m.sql).map_err(sql(what))?;
    conn.execute(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at_ms) VALUES (?1, ?2, ?3, ?4)",
        (m.version, m.name, checksum(m.sql), now_ms()),
    )
    .map_err(sql(what))?;
    conn.pragma_update(None, "user_version", m.version).map_err(sql(what))?;
    conn.pragma_update(None, "application_id", APPLICATION_ID).map_err(sql(what))
}

fn applied(conn: &Connection) -> Result<Vec<Applied>> {
    let what = "reading schema_migrations";
    let ledger: Option<String> = conn
        .query_row("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sql(what))?;
    if ledger.is_none() {
        return if is_empty(conn)? {
            Ok(Vec::new())
        } else {
            Err(Error::corrupted("the data file has no schema_migrations table"))
        };
    }
    let mut stmt =
        conn.prepare("SELECT version, checksum FROM schema_migrations ORDER BY version").map_err(sql(what))?;
    let rows = stmt.query_map([], |r| Ok(Applied { version: r.get(0)?, checksum: r.get(1)? })).map_err(sql(what))?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql(what))
}

fn is_empty(conn: &Connection) -> Result<bool> {
    let n: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).map_err(sql("reading the schema"))?;
    Ok(n == 0)
}

fn not_engram() -> Error {
    Error::new(ErrorKind::UnsupportedFormat, "not an Engram data file (it is a SQLite database of another application)")
}

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> Connection {
        let mut conn = Connection::open_in_memory().expect("in-memory db");
        check_identity(&conn).expect("empty db is acceptable");
        migrate(&mut conn).expect("migrates");
        conn
    }

    #[test]
    fn migrations_are_numbered_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(usize::try_from(m.version).expect("small"), i + 1, "{}", m.name);
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(FORMAT_VERSION));
    }

    #[test]
    fn fresh_db_records_every_migration_with_its_checksum() {
        let conn = fresh();
        let mut stmt =
            conn.prepare("SELECT version, name, checksum FROM schema_migrations ORDER BY version").expect("sql");
        let rows: Vec<(i64, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("rows")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(rows.len(), MIGRATIONS.len());
        for ((version, name, sum), m) in rows.iter().zip(MIGRATIONS) {
            assert_eq!((*version, name.as_str()), (i64::from(m.version), m.name));
            assert_eq!(*sum, checksum(m.sql));
            assert_eq!(sum.len(), 64);
        }
        let user_version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("pragma");
        let app_id: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0)).expect("pragma");
        assert_eq!((user_version, app_id), (i64::from(FORMAT_VERSION), APPLICATION_ID));
    }

    /// Format 2 lists exactly the collections holding format-1 index entries.
    #[test]
    fn migration_2_lists_collections_with_v1_index_entries() {
        let mut conn = Connection::open_in_memory().expect("in-memory db");
        apply(&conn, &MIGRATIONS[0]).expect("format 1");
        conn.execute_batch(
            "INSERT INTO collections VALUES (1, 1, 'a', '{}', 1), (2, 1, 'b', '{}', 1), (3, 1, 'c', '{}', 1);
             INSERT INTO index_entries VALUES (1, 0, x'05', 'd1'), (1, 1, x'05', 'd1'), (3, 0, x'06', 'd2');",
        )
        .expect("format-1 rows");
        migrate(&mut conn).expect("to format 2");
        let mut stmt = conn.prepare("SELECT coll_id FROM index_rebuilds ORDER BY coll_id").expect("sql");
        let listed: Vec<i64> =
            stmt.query_map([], |r| r.get(0)).expect("rows").collect::<rusqlite::Result<_>>().expect("rows");
        assert_eq!(listed, [1, 3], "collection 2 has no entries to rebuild");
        let fresh: i64 = fresh().query_row("SELECT count(*) FROM index_rebuilds", [], |r| r.get(0)).expect("count");
        assert_eq!(fresh, 0, "a new file has nothing to rebuild");
    }

    #[test]
    fn migrating_twice_changes_nothing() {
        let mut conn = fresh();
        migrate(&mut conn).expect("idempotent");
        let n: i64 = conn.query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0)).expect("count");
        assert_eq!(n, i64::try_from(MIGRATIONS.len()).expect("few"));
    }

    #[test]
    fn unknown_and_altered_migrations_are_refused() {
        let mut conn = fresh();
        conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1", []).expect("tamper");
        let e = migrate(&mut conn).expect_err("tampered");
        assert_eq!(e.kind(), ErrorKind::Corrupted);
        assert!(e.message().contains("0001_initial"), "{e}");

        let mut conn = fresh();
        conn.execute("INSERT INTO schema_migrations VALUES (9, 'future', 'x', 0)", []).expect("bump");
        let e = migrate(&mut conn).expect_err("newer");
        assert_eq!(e.kind(), ErrorKind::UnsupportedFormat);
        assert!(e.message().contains("format v9; this build reads up to v3"), "{e}");
    }

    #[test]
    fn a_non_empty_db_without_our_id_is_foreign() {
        let conn = Connection::open_in_memory().expect("in-memory db");
        conn.execute_batch("CREATE TABLE t (x)").expect("table");
        let e = check_identity(&conn).expect_err("foreign");
        assert_eq!(e.kind(), ErrorKind::UnsupportedFormat);
        assert!(e.message().contains("not an Engram data file"), "{e}");
    }
}
