//! JSON paths: dotted field names (`a.b.0.c`) resolved against documents.
//!
//! A segment that is a decimal number also indexes into arrays. Field names
//! containing '.' cannot be addressed (documented limitation).

use crate::limits::{PATH_BYTES_MAX, PATH_SEGMENTS_MAX};
use crate::{Error, Result};
use serde_json::Value;
use std::fmt;

/// A parsed, validated JSON path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JsonPath {
    raw: String,
    segments: Vec<String>,
}

impl JsonPath {
    pub fn parse(raw: &str) -> Result<Self> {
        if raw.is_empty() || raw.len() > PATH_BYTES_MAX {
            return Err(Error::invalid(format!("invalid path {raw:?}: must be 1 to {PATH_BYTES_MAX} bytes")));
        }
        if raw.starts_with('$') {
            return Err(Error::invalid(format!(
                "invalid path {raw:?}: field names cannot start with '$' (operators do)"
            )));
        }
        let segments: Vec<String> = raw.split('.').map(str::to_owned).collect();
        if segments.len() > PATH_SEGMENTS_MAX || segments.iter().any(String::is_empty) {
            return Err(Error::invalid(format!(
                "invalid path {raw:?}: use up to {PATH_SEGMENTS_MAX} non-empty segments separated by '.'"
            )));
        }
        Ok(Self { raw: raw.to_owned(), segments })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The value at this path, or `None` when any segment is missing.
    pub fn lookup<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        self.segments.iter().try_fold(doc, |v, seg| match v {
            Value::Object(m) => m.get(seg),
            Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        })
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookup_objects_and_arrays() {
        let doc = json!({"a": {"b": [10, {"c": "x"}]}});
        let p = JsonPath::parse("a.b.1.c").expect("valid");
        assert_eq!(p.lookup(&doc), Some(&json!("x")));
        assert_eq!(JsonPath::parse("a.z").expect("valid").lookup(&doc), None);
        assert!(JsonPath::parse("a..b").is_err());
        assert!(JsonPath::parse("$and").is_err());
    }
}
