//! Validated names: spaces, collections, document ids and idempotency keys.
//!
//! Names are checked once at the boundary; holding a value of these types
//! means it is valid, so no layer below re-checks or escapes them.

use crate::limits::{
    DOC_ID_BYTES_MAX, IDEMPOTENCY_KEY_BYTES_MAX, LABEL_CHARS_MAX, NAME_CHARS_MAX, STREAM_NAME_BYTES_MAX,
};
use crate::{Error, Result};
use std::fmt;

fn check_name(what: &str, s: &str) -> Result<()> {
    let ok_len = !s.is_empty() && s.len() <= NAME_CHARS_MAX;
    let ok_first = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_chars = s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok_len && ok_first && ok_chars {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "invalid {what} name {s:?}: use 1 to {NAME_CHARS_MAX} ASCII letters, digits, '_' or '-', starting with a letter or digit"
    )))
}

macro_rules! name_type {
    ($(#[$m:meta])* $t:ident, $what:literal, $check:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $t(String);

        impl $t {
            /// Validates and wraps a name.
            pub fn new(s: impl Into<String>) -> Result<Self> {
                let s = s.into();
                ($check)(&s)?;
                Ok(Self(s))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<&str> for $t {
            type Error = Error;
            fn try_from(s: &str) -> Result<Self> {
                Self::new(s)
            }
        }
    };
}

name_type!(
    /// A space (tenant) name.
    SpaceName, "space", |s: &str| check_name("space", s)
);
name_type!(
    /// A collection name, unique within its space.
    CollectionName, "collection", |s: &str| check_name("collection", s)
);
name_type!(
    /// A document id: 1 to 256 bytes of UTF-8 without control characters.
    DocId, "document id", check_doc_id
);
name_type!(
    /// An idempotency key: 1 to 256 printable bytes.
    IdempotencyKey, "idempotency key", check_idem_key
);

impl SpaceName {
    /// The space the engine keeps for its own state (API keys shared by
    /// every server of a database). Its name starts with `_`, which
    /// [`SpaceName::new`] refuses, so no caller can name it.
    pub fn system() -> Self {
        Self("_system".to_owned())
    }

    /// A name read back from storage: a caller's name or a reserved one.
    pub fn stored(s: &str) -> Result<Self> {
        match s.strip_prefix('_') {
            Some(rest) => check_name("space", rest).map(|()| Self(s.to_owned())),
            None => Self::new(s),
        }
    }

    /// Whether this is the engine's own space.
    pub fn is_reserved(&self) -> bool {
        self.0.starts_with('_')
    }
}

impl CollectionName {
    /// A collection the engine keeps for itself (edges, facts, events…).
    /// Reserved names start with `_`, which [`CollectionName::new`] refuses,
    /// so callers can never read or write them as plain collections.
    pub fn reserved(s: &'static str) -> Self {
        debug_assert!(s.starts_with('_'), "reserved collection names start with '_'");
        Self(s.to_owned())
    }

    /// Checks a caller's collection name without allocating (reserved
    /// names fail, as in [`CollectionName::new`]).
    pub fn check(s: &str) -> Result<()> {
        check_name("collection", s)
    }

    /// A name read back from storage: a caller's name or a reserved one
    /// (`_` followed by a valid name).
    pub fn stored(s: &str) -> Result<Self> {
        match s.strip_prefix('_') {
            Some(rest) => check_name("collection", rest).map(|()| Self(s.to_owned())),
            None => Self::new(s),
        }
    }

    /// Whether this is one of the engine's own collections.
    pub fn is_reserved(&self) -> bool {
        self.0.starts_with('_')
    }
}

/// Checks a label: an edge type, a fact predicate, an event type or a
/// property name. Labels end up in stored JSON and in index keys, never in
/// query text, but a narrow alphabet keeps them safe to print, log and use
/// as identifiers in any backend.
pub fn check_label(what: &str, s: &str) -> Result<()> {
    let ok_len = !s.is_empty() && s.len() <= LABEL_CHARS_MAX;
    let ok_first = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    let ok_chars = s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if ok_len && ok_first && ok_chars {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "invalid {what} {s:?}: use 1 to {LABEL_CHARS_MAX} ASCII letters, digits, '_', '-', '.' or ':', starting with a letter"
    )))
}

/// Checks an event stream's name. `@` is excluded because it separates the
/// stream from the version in stored event ids.
pub fn check_stream_name(s: &str) -> Result<()> {
    let ok_len = !s.is_empty() && s.len() <= STREAM_NAME_BYTES_MAX;
    let ok_first = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_chars = s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'));
    if ok_len && ok_first && ok_chars {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "invalid stream name {s:?}: use 1 to {STREAM_NAME_BYTES_MAX} ASCII letters, digits, '_', '-', '.', ':' or '/', starting with a letter or digit"
    )))
}

/// Checks a queue's name: the rules of stream names (no `@`, which
/// separates the queue from a group or deduplication key in stored ids).
pub fn check_queue_name(s: &str) -> Result<()> {
    let ok_len = !s.is_empty() && s.len() <= crate::limits::QUEUE_NAME_BYTES_MAX;
    let ok_first = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_chars = s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'));
    if ok_len && ok_first && ok_chars {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "invalid queue name {s:?}: use 1 to {} ASCII letters, digits, '_', '-', '.', ':' or '/', starting with a letter or digit",
        crate::limits::QUEUE_NAME_BYTES_MAX
    )))
}

/// Checks a message group or deduplication key (`what` names which): 1 to
/// [`crate::limits::QUEUE_KEY_BYTES_MAX`] bytes without control characters.
pub fn check_queue_key(what: &str, s: &str) -> Result<()> {
    let max = crate::limits::QUEUE_KEY_BYTES_MAX;
    if s.is_empty() || s.len() > max {
        return Err(Error::invalid(format!("invalid {what}: must be 1 to {max} bytes, got {}", s.len())));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::invalid(format!("invalid {what}: control characters are not allowed")));
    }
    Ok(())
}

/// Checks an object's key: 1 to [`OBJECT_KEY_BYTES_MAX`] bytes, no
/// control characters, and no `.` or `..` segment between slashes (HTTP
/// clients rewrite those in URLs, so such a key could not be addressed).
///
/// [`OBJECT_KEY_BYTES_MAX`]: crate::limits::OBJECT_KEY_BYTES_MAX
pub fn check_object_key(s: &str) -> Result<()> {
    let max = crate::limits::OBJECT_KEY_BYTES_MAX;
    if s.is_empty() || s.len() > max {
        return Err(Error::invalid(format!("invalid object key: must be 1 to {max} bytes, got {}", s.len())));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::invalid("invalid object key: control characters are not allowed"));
    }
    if s.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(Error::invalid("invalid object key: a segment between slashes cannot be \".\" or \"..\""));
    }
    Ok(())
}

fn check_doc_id(s: &str) -> Result<()> {
    if s.is_empty() || s.len() > DOC_ID_BYTES_MAX {
        return Err(Error::invalid(format!(
            "invalid document id: must be 1 to {DOC_ID_BYTES_MAX} bytes, got {}",
            s.len()
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::invalid("invalid document id: control characters are not allowed"));
    }
    Ok(())
}

fn check_idem_key(s: &str) -> Result<()> {
    let printable = s.bytes().all(|b| (0x21..0x7f).contains(&b));
    if s.is_empty() || s.len() > IDEMPOTENCY_KEY_BYTES_MAX || !printable {
        return Err(Error::invalid(format!(
            "invalid idempotency key: must be 1 to {IDEMPOTENCY_KEY_BYTES_MAX} printable ASCII characters without spaces"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_accept_and_reject() {
        assert!(SpaceName::new("acme-1_a").is_ok());
        for bad in ["", "-x", "a b", "a/b", "é", &"x".repeat(65)] {
            assert!(SpaceName::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(CollectionName::new("notes").is_ok());
        assert!(CollectionName::new("_edges").is_err());
        assert!(CollectionName::reserved("_edges").is_reserved());
    }

    #[test]
    fn labels_and_streams() {
        assert!(check_label("edge type", "part_of:v2").is_ok());
        for bad in ["", "1x", "a b", "a'b", "a\"b", "é", "a;DROP", &"x".repeat(65)] {
            assert!(check_label("edge type", bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_stream_name("agent-7/episodes").is_ok());
        for bad in ["", "a@b", "/a", "a b", &"x".repeat(201)] {
            assert!(check_stream_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn doc_ids() {
        assert!(DocId::new("a/b c:é").is_ok());
        assert!(DocId::new("").is_err());
        assert!(DocId::new("a\nb").is_err());
        assert!(DocId::new("x".repeat(257)).is_err());
    }
}
