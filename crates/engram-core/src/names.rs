//! Validated names: spaces, collections, document ids and idempotency keys.
//!
//! Names are checked once at the boundary; holding a value of these types
//! means it is valid, so no layer below re-checks or escapes them.

use crate::limits::{DOC_ID_BYTES_MAX, IDEMPOTENCY_KEY_BYTES_MAX, NAME_CHARS_MAX};
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
    }

    #[test]
    fn doc_ids() {
        assert!(DocId::new("a/b c:é").is_ok());
        assert!(DocId::new("").is_err());
        assert!(DocId::new("a\nb").is_err());
        assert!(DocId::new("x".repeat(257)).is_err());
    }
}
