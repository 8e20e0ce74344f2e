//! The crate's one error type.

/// Everything that can go wrong in the text index.
///
/// `Query`, `UnknownField` and `TooLarge` are caller mistakes (bad input, retrying is pointless);
/// `Corrupt` and `Io` come from persisted bytes or the environment.
#[derive(thiserror::Error, Debug)]
pub enum TextError {
    /// The query string is malformed; the message names the problem and its byte position.
    #[error("bad text query: {0}")]
    Query(String),
    /// A query or document names a field the index does not declare, or a field declaration is invalid.
    #[error("unknown text field: {0}")]
    UnknownField(String),
    /// An input exceeds one of the limits in [`crate::limits`].
    #[error("too large: {0}")]
    TooLarge(String),
    /// Persisted index bytes failed their checksum or structural checks.
    #[error("corrupt text index: {0}")]
    Corrupt(String),
    /// Reading or writing the persisted index failed.
    #[error("text index i/o: {0}")]
    Io(#[from] std::io::Error),
}
