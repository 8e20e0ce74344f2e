//! The schema-migration ledger every SQL backend keeps: its numbered,
//! checksummed migrations and the checks of what a store has recorded,
//! whatever SQL dialect applies them.
//!
//! Invariants: migration `n` is the n-th entry of a backend's list and its
//! SQL never changes once released (a BLAKE3 checksum of it is recorded
//! and checked at every open); a store recording a version newer than this
//! build's format, an unknown version, or an altered checksum is refused.

use crate::{Error, ErrorKind, Result};

/// One schema step.
#[derive(Debug)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// A recorded row of a store's `schema_migrations`.
#[derive(Debug)]
pub struct Applied {
    pub version: i64,
    pub checksum: String,
}

/// A backend's migrations and the format they lead to.
#[derive(Debug)]
pub struct Ledger {
    /// In version order from 1 without gaps.
    pub migrations: &'static [Migration],
    /// The newest format this build reads and writes.
    pub format: u32,
    /// What the store is called in messages ("data directory", "the database").
    pub store: &'static str,
}

/// The BLAKE3 checksum (hex) recorded for a migration's SQL.
pub fn checksum(sql_text: &str) -> String {
    blake3::hash(sql_text.as_bytes()).to_hex().to_string()
}

impl Ledger {
    /// Refuses a store written by a newer format.
    pub fn refuse_newer(&self, version: i64) -> Result<()> {
        if version <= i64::from(self.format) {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::UnsupportedFormat,
            format!(
                "{} was written by a newer Engram (format v{version}; this build reads up to v{})",
                self.store, self.format
            ),
        ))
    }

    /// Checks recorded migrations: none newer than this build, none
    /// unknown, each checksum equal to the compiled SQL's.
    pub fn verify(&self, applied: &[Applied]) -> Result<()> {
        if let Some(newest) = applied.iter().map(|a| a.version).max() {
            self.refuse_newer(newest)?;
        }
        for a in applied {
            let known =
                usize::try_from(a.version).ok().and_then(|v| v.checked_sub(1)).and_then(|i| self.migrations.get(i));
            let m = known
                .ok_or_else(|| Error::corrupted(format!("schema_migrations records unknown version {}", a.version)))?;
            if a.checksum != checksum(m.sql) {
                return Err(Error::corrupted(format!(
                    "schema migration {} ({}) was altered: its recorded checksum differs from this build's",
                    m.version, m.name
                )));
            }
        }
        Ok(())
    }

    /// The migrations `applied` does not record, in order.
    pub fn pending<'a>(&self, applied: &'a [Applied]) -> impl Iterator<Item = &'static Migration> + 'a {
        self.migrations.iter().filter(|m| !applied.iter().any(|a| a.version == i64::from(m.version)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIGRATIONS: &[Migration] = &[Migration { version: 1, name: "0001_a", sql: "CREATE TABLE a (x)" }];
    const LEDGER: Ledger = Ledger { migrations: MIGRATIONS, format: 1, store: "the store" };

    #[test]
    fn verify_refuses_newer_unknown_and_altered() {
        let good = Applied { version: 1, checksum: checksum(MIGRATIONS[0].sql) };
        assert!(LEDGER.verify(&[good]).is_ok());
        let newer = LEDGER.verify(&[Applied { version: 9, checksum: String::new() }]).expect_err("newer");
        assert_eq!(newer.kind(), ErrorKind::UnsupportedFormat);
        assert!(
            newer.message().contains("the store was written by a newer Engram (format v9; this build reads up to v1)")
        );
        let altered = LEDGER.verify(&[Applied { version: 1, checksum: "x".into() }]).expect_err("altered");
        assert_eq!(altered.kind(), ErrorKind::Corrupted);
        let unknown = LEDGER.verify(&[Applied { version: 0, checksum: "x".into() }]).expect_err("unknown");
        assert_eq!(unknown.kind(), ErrorKind::Corrupted);
    }

    #[test]
    fn pending_skips_what_is_recorded() {
        assert_eq!(LEDGER.pending(&[]).count(), 1);
        assert_eq!(LEDGER.pending(&[Applied { version: 1, checksum: String::new() }]).count(), 0);
    }
}
