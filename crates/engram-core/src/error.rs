//! The one public error: a small semantic kind, a message, and the operation.
//!
//! User errors (bad input, conflicts) never poison anything; service errors
//! (I/O, corruption) are 5xx. Messages never carry secrets.

use std::fmt;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is malformed or violates a rule (names, types, limits).
    InvalidInput,
    /// A document failed its collection's JSON Schema.
    SchemaViolation,
    /// The space, collection, document or index does not exist.
    NotFound,
    /// Creating something that already exists.
    AlreadyExists,
    /// An expected version (or existence) did not hold.
    Conflict,
    /// A conditional request's condition (HTTP `If-Match`, `If-None-Match`)
    /// did not hold.
    PreconditionFailed,
    /// An idempotency key was reused with a different request.
    IdempotencyMismatch,
    /// A body, document or batch exceeds its limit.
    TooLarge,
    /// The data directory is held by another process.
    Locked,
    /// Temporarily unable to serve (shutting down, poisoned after an I/O failure).
    Unavailable,
    /// The transaction lost a race with another writer (a serialization
    /// failure or deadlock) or its connection dropped before it committed:
    /// it wrote nothing and may be run again at once. The engine retries
    /// these itself, a bounded number of times.
    Contention,
    /// Stored data failed an integrity check.
    Corrupted,
    /// The data directory was written by a newer, unknown format.
    UnsupportedFormat,
    /// A bug or an unexpected failure of the storage underneath.
    Internal,
}

impl ErrorKind {
    /// Stable, machine-readable name (used in problem+json `type`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid-input",
            Self::SchemaViolation => "schema-violation",
            Self::NotFound => "not-found",
            Self::AlreadyExists => "already-exists",
            Self::Conflict => "conflict",
            Self::PreconditionFailed => "precondition-failed",
            Self::IdempotencyMismatch => "idempotency-mismatch",
            Self::TooLarge => "too-large",
            Self::Locked => "locked",
            Self::Unavailable => "unavailable",
            Self::Contention => "contention",
            Self::Corrupted => "corrupted",
            Self::UnsupportedFormat => "unsupported-format",
            Self::Internal => "internal",
        }
    }

    /// Whether the same request may succeed if retried later unchanged.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Unavailable | Self::Locked | Self::Contention)
    }

    /// True for errors caused by the request rather than by the service.
    pub fn is_user_error(self) -> bool {
        !matches!(
            self,
            Self::Unavailable
                | Self::Contention
                | Self::Corrupted
                | Self::Internal
                | Self::Locked
                | Self::UnsupportedFormat
        )
    }
}

/// Engram's public error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// Result with Engram's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn precondition(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::PreconditionFailed, message)
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TooLarge, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    pub fn corrupted(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Corrupted, message)
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    /// Prefixes the message with where the error happened.
    pub fn context(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.as_str())
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::invalid(format!("invalid JSON: {e}"))
    }
}
