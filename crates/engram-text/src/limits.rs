//! Every named maximum of the text index, in one place.

/// Maximum number of fields an index declares.
pub const FIELDS_MAX: usize = 16;

/// Maximum length in bytes of a field name.
pub const FIELD_NAME_BYTES_MAX: usize = 64;

/// Tokens of more bytes than this (before lowercasing) are dropped, as tantivy's
/// `RemoveLongFilter::limit(40)` does (it keeps tokens shorter than 40 bytes).
pub const TOKEN_BYTES_MAX: usize = 39;

/// Maximum length in bytes of a query string.
pub const QUERY_BYTES_MAX: usize = 4096;

/// Maximum number of clauses (terms, phrases, prefixes) in one query.
pub const QUERY_CLAUSES_MAX: usize = 64;

/// Maximum number of dictionary terms one prefix clause expands to (most frequent first).
pub const PREFIX_EXPANSION_MAX: usize = 256;

/// Maximum number of results one search returns; larger `k` is clamped to this.
pub const K_MAX: usize = 10_000;

/// Maximum total bytes of text in one upsert.
pub const DOC_BYTES_MAX: usize = 64 << 20;

/// Maximum number of token positions the whole index holds; keeps every position offset within `u32`.
pub const INDEX_POSITIONS_MAX: u64 = u32::MAX as u64;
