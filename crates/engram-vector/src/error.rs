//! The crate's error type: input errors (bad vectors, bad parameters) versus service errors (I/O, corruption).

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    /// The vector's length differs from the index's dimensions.
    #[error("vector has {got} dimensions, the index expects {expected}")]
    WrongDimensions {
        /// The index's dimensions.
        expected: usize,
        /// The vector's length.
        got: usize,
    },
    /// A component is NaN or infinite.
    #[error("vector component {index} is not a finite number")]
    NotFinite {
        /// Position of the first offending component.
        index: usize,
    },
    /// An all-zero vector cannot be normalized, so the cosine metric rejects it.
    #[error("a zero vector has no direction (cosine metric)")]
    ZeroVector,
    /// A parameter is below its minimum (for example zero dimensions, or `m` < 2).
    #[error("parameter {name} = {value} is invalid: it must be at least {min}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// Value given.
        value: usize,
        /// Smallest allowed value.
        min: usize,
    },
    /// A parameter or the index itself exceeds a named limit.
    #[error("{what} = {got} exceeds the limit {max}")]
    TooLarge {
        /// What is too large.
        what: &'static str,
        /// Value given (or reached).
        got: usize,
        /// The limit.
        max: usize,
    },
    /// A serialized index failed its checksum or structural checks, or was truncated.
    #[error("corrupt vector index: {0}")]
    Corrupt(String),
    /// Reading or writing failed.
    #[error("vector index I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl VectorError {
    /// True for errors caused by the caller's input (vectors, parameters), false for I/O and corruption.
    pub fn is_input_error(&self) -> bool {
        !matches!(self, VectorError::Corrupt(_) | VectorError::Io(_))
    }
}
