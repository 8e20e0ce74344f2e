//! Checked conversions between Engram's values and SQL storage types, shared
//! by the SQL backends (SQLite's integers and PostgreSQL's `bigint`).
//!
//! SQL integers are signed 64-bit; Engram's counters and times are u64.
//! Values above `i64::MAX` are refused on the way in (never wrapped), and
//! negative values read back mean the stored rows were altered, so they are
//! corruption.

use crate::changelog::Digest;
use crate::{Error, Result};

/// A u64 to store; refuses values a signed 64-bit column cannot hold.
pub fn to_sql_int(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value)
        .map_err(|_| Error::invalid(format!("{what} {value} exceeds the largest storable integer ({})", i64::MAX)))
}

/// A u64 used only as a query bound: values above `i64::MAX` are clamped,
/// which is exact because no stored value is larger.
pub fn bound_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A result-size limit as a SQL `LIMIT` (clamped; `usize` may exceed i64).
pub fn limit(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored integer read back as u64.
pub fn from_sql_int(value: i64, what: &str) -> Result<u64> {
    u64::try_from(value).map_err(|_| Error::corrupted(format!("stored {what} is negative ({value})")))
}

/// An optional stored integer read back as u64.
pub fn from_sql_opt(value: Option<i64>, what: &str) -> Result<Option<u64>> {
    value.map(|v| from_sql_int(v, what)).transpose()
}

/// A stored 32-byte digest.
pub fn digest(bytes: Vec<u8>, what: &str) -> Result<Digest> {
    let len = bytes.len();
    Digest::try_from(bytes).map_err(|_| Error::corrupted(format!("stored {what} has {len} bytes, expected 32")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn integers_convert_without_wraparound() {
        assert_eq!(to_sql_int(i64::MAX as u64, "v").expect("fits"), i64::MAX);
        let e = to_sql_int(i64::MAX as u64 + 1, "version").expect_err("too big");
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(bound_int(u64::MAX), i64::MAX);
        assert_eq!(limit(usize::MAX), i64::MAX);
        assert_eq!(from_sql_int(7, "v").expect("positive"), 7);
        assert_eq!(from_sql_int(-1, "v").expect_err("negative").kind(), ErrorKind::Corrupted);
        assert_eq!(from_sql_opt(None, "v").expect("none"), None);
    }

    #[test]
    fn digests_must_have_32_bytes() {
        assert_eq!(digest(vec![7; 32], "hash").expect("32 bytes"), [7; 32]);
        assert_eq!(digest(vec![7; 31], "hash").expect_err("short").kind(), ErrorKind::Corrupted);
    }
}
