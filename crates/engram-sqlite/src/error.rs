//! Conversion of rusqlite errors into Engram's error kinds.
//!
//! Messages name the operation (a fixed phrase chosen by the caller) and the
//! SQLite result code, never the SQL text or bound values, so user data can
//! not leak through an error.

use engram_core::{Error, ErrorKind};
use rusqlite::ErrorCode;

/// A `map_err` adapter: converts a rusqlite error raised while doing `what`.
pub(crate) fn sql(what: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
    move |e| from_rusqlite(&e, what)
}

/// Converts a rusqlite error raised while doing `what`.
pub(crate) fn from_rusqlite(e: &rusqlite::Error, what: &str) -> Error {
    match e {
        rusqlite::Error::SqliteFailure(f, detail) => from_failure(f, detail.as_deref(), what),
        rusqlite::Error::SqlInputError { error, msg, .. } => {
            // `sql` is left out on purpose: it is never put in a message.
            from_failure(error, Some(msg), what)
        }
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::Utf8Error(..) => {
            Error::corrupted(format!("{what}: a stored value has an unexpected type or range"))
        }
        other => Error::internal(format!("{what}: {}", describe_other(other))),
    }
}

/// True when `e` is a constraint violation (a uniqueness clash, for example).
pub(crate) fn is_constraint_violation(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

fn from_failure(f: &rusqlite::ffi::Error, detail: Option<&str>, what: &str) -> Error {
    let code = f.extended_code;
    match f.code {
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Error::new(
            ErrorKind::Locked,
            format!(
                "{what}: the database is locked by another connection or process (SQLITE_BUSY); \
                 is another Engram using this data directory?"
            ),
        ),
        ErrorCode::DatabaseCorrupt => {
            Error::corrupted(format!("{what}: the database file is damaged (SQLITE_CORRUPT, code {code})"))
        }
        ErrorCode::NotADatabase => Error::corrupted(format!(
            "{what}: the file is not a SQLite database or its header is damaged (SQLITE_NOTADB)"
        )),
        ErrorCode::DiskFull => unavailable(what, "the disk is full (SQLITE_FULL)"),
        ErrorCode::SystemIoFailure => unavailable(what, &format!("I/O error (SQLITE_IOERR, code {code})")),
        ErrorCode::CannotOpen => unavailable(what, "cannot open the database file (SQLITE_CANTOPEN)"),
        ErrorCode::PermissionDenied | ErrorCode::ReadOnly => {
            unavailable(what, &format!("the database file is not writable (code {code})"))
        }
        ErrorCode::OutOfMemory => unavailable(what, "SQLite ran out of memory (SQLITE_NOMEM)"),
        _ => {
            // SQLite's own messages name schema objects, not bound values.
            let detail = detail.map(|d| format!(": {d}")).unwrap_or_default();
            Error::internal(format!("{what}: SQLite error {:?} (code {code}){detail}", f.code))
        }
    }
}

fn unavailable(what: &str, why: &str) -> Error {
    Error::new(ErrorKind::Unavailable, format!("{what}: {why}"))
}

/// A short description of a non-SQLite rusqlite error, without SQL text.
fn describe_other(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::QueryReturnedNoRows => "query returned no rows".into(),
        rusqlite::Error::InvalidParameterCount(given, expected) => {
            format!("statement expects {expected} parameters, got {given}")
        }
        rusqlite::Error::ToSqlConversionFailure(_) => "a value could not be stored".into(),
        _ => "unexpected SQLite driver error".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some("detail".into()))
    }

    #[test]
    fn kinds_follow_result_codes() {
        let cases = [
            (ffi::SQLITE_BUSY, ErrorKind::Locked),
            (ffi::SQLITE_CORRUPT, ErrorKind::Corrupted),
            (ffi::SQLITE_NOTADB, ErrorKind::Corrupted),
            (ffi::SQLITE_FULL, ErrorKind::Unavailable),
            (ffi::SQLITE_IOERR, ErrorKind::Unavailable),
            (ffi::SQLITE_IOERR_FSYNC, ErrorKind::Unavailable),
            (ffi::SQLITE_MISUSE, ErrorKind::Internal),
        ];
        for (code, kind) in cases {
            let e = from_rusqlite(&failure(code), "testing");
            assert_eq!(e.kind(), kind, "code {code}: {e}");
            assert!(e.message().starts_with("testing: "), "{e}");
        }
        let busy = from_rusqlite(&failure(ffi::SQLITE_BUSY), "writing");
        assert!(busy.message().contains("locked"), "{busy}");
    }

    #[test]
    fn sql_text_never_reaches_the_message() {
        let e = rusqlite::Error::SqlInputError {
            error: ffi::Error::new(ffi::SQLITE_ERROR),
            msg: "near \"x\": syntax error".into(),
            sql: "SELECT 'secret-user-data'".into(),
            offset: 0,
        };
        let converted = from_rusqlite(&e, "querying");
        assert!(!converted.message().contains("secret-user-data"), "{converted}");
        let constraint = failure(ffi::SQLITE_CONSTRAINT_UNIQUE);
        assert!(is_constraint_violation(&constraint));
        assert!(!is_constraint_violation(&failure(ffi::SQLITE_BUSY)));
    }

    #[test]
    fn type_errors_are_corruption() {
        let e = rusqlite::Error::IntegralValueOutOfRange(0, -1);
        assert_eq!(from_rusqlite(&e, "reading").kind(), ErrorKind::Corrupted);
    }
}
