//! Classification of PostgreSQL errors, and their conversion to Engram's.
//!
//! Classifying is separate from converting so the writer can decide what to
//! do about a failure (try again on a new connection, fail the batch) from
//! its class alone. Messages name the operation (a fixed phrase chosen by
//! the caller) and the SQLSTATE; the server's own message is added only
//! where it cannot echo user data (never for data exceptions).

use engram_core::{Error, ErrorKind};
use postgres::error::SqlState;

/// What a failed statement means for whoever runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// The connection is gone (closed, reset, or the server shut it down):
    /// the open transaction is lost and the connection must be replaced.
    ConnectionLost,
    /// The server gave up on this transaction because of concurrent ones
    /// (serialization failure, deadlock): the same work may succeed later.
    Contention,
    /// `statement_timeout` (or a lock wait past it) cancelled the statement.
    Timeout,
    /// Anything else, as the engine's kind.
    Other(ErrorKind),
}

impl Class {
    /// Whether trying the same work again, unchanged, may succeed.
    pub(crate) fn is_retryable(self) -> bool {
        match self {
            Self::ConnectionLost | Self::Contention | Self::Timeout => true,
            Self::Other(kind) => kind.is_retryable(),
        }
    }
}

/// Classifies a client error by its SQLSTATE, or by how the client failed.
pub(crate) fn classify(e: &postgres::Error) -> Class {
    if e.is_closed() {
        return Class::ConnectionLost;
    }
    match e.code() {
        Some(code) => classify_code(code),
        // No SQLSTATE: the client failed on its side of the socket (I/O,
        // connecting) or could not read a value.
        None if is_io(e) => Class::ConnectionLost,
        None => Class::Other(ErrorKind::Internal),
    }
}

fn is_io(e: &postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    is_connect_failure(e)
}

/// The client could not open a connection at all (the server is down or
/// unreachable), as opposed to losing one it had.
fn is_connect_failure(e: &postgres::Error) -> bool {
    e.to_string().starts_with("error connecting to server")
}

fn classify_code(code: &SqlState) -> Class {
    let c = code.code();
    match c {
        // Class 08 (connection exception); admin, crash and startup shutdowns.
        _ if c.starts_with("08") => Class::ConnectionLost,
        "57P01" | "57P02" | "57P03" => Class::ConnectionLost,
        "40001" | "40P01" => Class::Contention,
        "57014" | "55P03" => Class::Timeout,
        "23505" => Class::Other(ErrorKind::AlreadyExists),
        // Class 53: out of disk, memory or connections.
        _ if c.starts_with("53") => Class::Other(ErrorKind::Unavailable),
        // Class 54: program limits (e.g. an index row above the page limit).
        _ if c.starts_with("54") => Class::Other(ErrorKind::TooLarge),
        // Class 22: a value the column cannot hold.
        _ if c.starts_with("22") => Class::Other(ErrorKind::InvalidInput),
        "XX001" | "XX002" => Class::Other(ErrorKind::Corrupted),
        _ => Class::Other(ErrorKind::Internal),
    }
}

/// Converts a client error raised while doing `what`.
pub(crate) fn convert(e: &postgres::Error, what: &str) -> Error {
    let code = e.code().map(|c| c.code().to_owned()).unwrap_or_else(|| "none".to_owned());
    match classify(e) {
        // No connection could be made: the database is down or unreachable.
        Class::ConnectionLost if is_connect_failure(e) => Error::new(
            ErrorKind::Unavailable,
            format!("{what}: PostgreSQL cannot be reached ({}); retry later", brief(e)),
        ),
        // The open transaction died with its connection: nothing of it
        // committed (a COMMIT lost in flight is the writer's own case).
        Class::ConnectionLost => Error::new(
            ErrorKind::Contention,
            format!("{what}: the connection to PostgreSQL was lost ({}); it can be retried", brief(e)),
        ),
        Class::Contention => Error::new(
            ErrorKind::Contention,
            format!(
                "{what}: PostgreSQL aborted the transaction because of concurrent ones (SQLSTATE {code}); \
                 it was not applied and can be retried"
            ),
        ),
        Class::Timeout => Error::new(
            ErrorKind::Unavailable,
            format!("{what}: the statement timed out (SQLSTATE {code}, statement_timeout); it can be retried"),
        ),
        Class::Other(ErrorKind::InvalidInput) => {
            Error::invalid(format!("{what}: PostgreSQL refused a value (SQLSTATE {code})"))
        }
        Class::Other(kind @ (ErrorKind::AlreadyExists | ErrorKind::TooLarge)) => {
            Error::new(kind, format!("{what}: PostgreSQL refused the row (SQLSTATE {code})"))
        }
        Class::Other(kind) => Error::new(kind, format!("{what}: {} (SQLSTATE {code})", brief(e))),
    }
}

/// The server's primary message (which names objects, not bound values,
/// for the classes it is used with), or the client's own description.
fn brief(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_fall_into_their_classes() {
        let cases = [
            ("08006", Class::ConnectionLost),
            ("57P01", Class::ConnectionLost),
            ("40001", Class::Contention),
            ("40P01", Class::Contention),
            ("57014", Class::Timeout),
            ("23505", Class::Other(ErrorKind::AlreadyExists)),
            ("53100", Class::Other(ErrorKind::Unavailable)),
            ("54000", Class::Other(ErrorKind::TooLarge)),
            ("22021", Class::Other(ErrorKind::InvalidInput)),
            ("XX001", Class::Other(ErrorKind::Corrupted)),
            ("42P01", Class::Other(ErrorKind::Internal)),
        ];
        for (code, class) in cases {
            assert_eq!(classify_code(&SqlState::from_code(code)), class, "{code}");
        }
    }

    #[test]
    fn only_transient_classes_are_retryable() {
        assert!(Class::ConnectionLost.is_retryable());
        assert!(Class::Contention.is_retryable());
        assert!(Class::Timeout.is_retryable());
        assert!(Class::Other(ErrorKind::Unavailable).is_retryable());
        assert!(!Class::Other(ErrorKind::AlreadyExists).is_retryable());
        assert!(!Class::Other(ErrorKind::Internal).is_retryable());
    }
}
