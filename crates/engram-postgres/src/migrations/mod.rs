//! Versioned schema migrations, embedded in the binary and applied at open.
//!
//! Invariants: migration `n` is the n-th entry of [`MIGRATIONS`] and its SQL
//! never changes once released (a BLAKE3 checksum of it is recorded and
//! checked at every open). All pending migrations are applied in one
//! transaction that first takes a transaction-scoped advisory lock, so two
//! servers starting at once serialize: the second waits, then sees the
//! first's ledger and applies nothing. PostgreSQL's DDL is transactional, so
//! a failure leaves the database at the version it had.

use crate::conn::{Conn, column};
use engram_core::migration::{Applied, Ledger, Migration, checksum};
use engram_core::{Error, ErrorKind, Result};

/// The newest format this build reads and writes.
pub const FORMAT_VERSION: u32 = 2;

/// Key of the advisory lock held while migrating ("EngrMigr" in ASCII).
/// Advisory locks are scoped to one database, so separate databases on one
/// server never wait for each other.
pub const MIGRATION_LOCK_KEY: i64 = 0x456E_6772_4D69_6772;

/// Every migration, in version order from 1 without gaps.
const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "0001_initial", sql: include_str!("0001_initial.sql") },
    Migration { version: 2, name: "0002_change_actors", sql: include_str!("0002_change_actors.sql") },
];

const LEDGER: Ledger = Ledger { migrations: MIGRATIONS, format: FORMAT_VERSION, store: "the database" };

/// The ledger of applied migrations.
const LEDGER_DDL: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)";

/// Applies every migration not yet recorded in `schema`, after checking the
/// recorded ones against this build's. Returns how many were applied.
pub(crate) fn migrate(conn: &mut Conn, schema: &str) -> Result<usize> {
    conn.batch("starting a migration", "BEGIN")?;
    let out = migrate_locked(conn, schema);
    let end = if out.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = conn.batch("finishing a migration", end);
    let applied = out?;
    ended?;
    Ok(applied)
}

fn migrate_locked(conn: &mut Conn, schema: &str) -> Result<usize> {
    let what = "applying schema migrations";
    conn.execute(what, "SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])?;
    check_encoding(conn)?;
    // `schema` passed `PostgresOptions::validate`: a plain identifier.
    conn.batch(what, &format!("CREATE SCHEMA IF NOT EXISTS {schema}"))?;
    let fresh = !has_ledger(conn, schema)?;
    if fresh && has_tables(conn, schema)? {
        return Err(Error::new(
            ErrorKind::UnsupportedFormat,
            format!("schema {schema} holds tables but no Engram migration ledger: it belongs to another application"),
        ));
    }
    conn.batch(what, LEDGER_DDL)?;
    let applied = applied(conn)?;
    LEDGER.verify(&applied)?;
    let mut count = 0;
    for m in LEDGER.pending(&applied) {
        apply(conn, m)?;
        count += 1;
    }
    Ok(count)
}

/// Text is stored as UTF-8 and compared bytewise; another encoding would
/// change both.
fn check_encoding(conn: &mut Conn) -> Result<()> {
    let row = conn.query_opt("reading the server encoding", "SELECT current_setting('server_encoding')", &[])?;
    let encoding: String = column(row.map(|r| r.try_get(0)).unwrap_or(Ok(String::new())), "server_encoding")?;
    if encoding == "UTF8" {
        return Ok(());
    }
    Err(Error::new(ErrorKind::UnsupportedFormat, format!("the database's encoding is {encoding}; Engram needs UTF8")))
}

fn has_ledger(conn: &mut Conn, schema: &str) -> Result<bool> {
    let sql = "SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'schema_migrations'";
    Ok(conn.query_opt("reading the schema", sql, &[&schema])?.is_some())
}

fn has_tables(conn: &mut Conn, schema: &str) -> Result<bool> {
    let sql = "SELECT 1 FROM pg_tables WHERE schemaname = $1 LIMIT 1";
    Ok(conn.query_opt("reading the schema", sql, &[&schema])?.is_some())
}

fn version(m: &Migration) -> i32 {
    i32::try_from(m.version).unwrap_or(i32::MAX)
}

fn apply(conn: &mut Conn, m: &Migration) -> Result<()> {
    let what = "applying a schema migration";
    conn.batch(what, m.sql).map_err(|e| e.context(m.name))?;
    let sql = "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)";
    conn.execute(what, sql, &[&version(m), &m.name, &checksum(m.sql)])?;
    Ok(())
}

fn applied(conn: &mut Conn) -> Result<Vec<Applied>> {
    let what = "reading schema_migrations";
    let rows = conn.query(what, "SELECT version, checksum FROM schema_migrations ORDER BY version", &[])?;
    rows.iter()
        .map(|r| {
            let version: i32 = column(r.try_get(0), what)?;
            Ok(Applied { version: i64::from(version), checksum: column(r.try_get(1), what)? })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(usize::try_from(m.version).expect("small"), i + 1, "{}", m.name);
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(FORMAT_VERSION));
    }

    #[test]
    fn verify_refuses_newer_unknown_and_altered() {
        let good = Applied { version: 1, checksum: checksum(MIGRATIONS[0].sql) };
        assert!(LEDGER.verify(&[good]).is_ok());
        let newer = LEDGER.verify(&[Applied { version: 9, checksum: String::new() }]).expect_err("newer");
        assert_eq!(newer.kind(), ErrorKind::UnsupportedFormat);
        assert!(newer.message().contains("format v9; this build reads up to v2"), "{newer}");
        let altered = LEDGER.verify(&[Applied { version: 1, checksum: "x".into() }]).expect_err("altered");
        assert_eq!(altered.kind(), ErrorKind::Corrupted);
        let unknown = LEDGER.verify(&[Applied { version: 0, checksum: "x".into() }]).expect_err("unknown");
        assert_eq!(unknown.kind(), ErrorKind::Corrupted);
    }
}
