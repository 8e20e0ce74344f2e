//! JSON helpers: RFC 7386 merge patch, canonical bytes and content hashes.

use crate::limits::DOC_BYTES_MAX;
use crate::{Error, ErrorKind, Result};
use serde_json::Value;

/// Applies an RFC 7386 JSON merge patch to `target` in place.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let map = target.as_object_mut().expect("target was just made an object");
    for (key, value) in patch_map {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Canonical serialization: object keys sorted (serde_json's default map),
/// numbers as serde_json prints them. Equal documents give equal bytes.
pub fn canonical(value: &Value) -> String {
    serde_json::to_string(value).expect("serializing a JSON value cannot fail")
}

/// Serializes a document body, enforcing the document rules: a JSON object,
/// at most [`DOC_BYTES_MAX`] bytes.
pub fn encode_document(value: &Value) -> Result<String> {
    if !value.is_object() {
        return Err(Error::invalid("a document must be a JSON object"));
    }
    let text = canonical(value);
    if text.len() > DOC_BYTES_MAX {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!("document is {} bytes; the limit is {DOC_BYTES_MAX}", text.len()),
        ));
    }
    Ok(text)
}

/// Parses a stored document body.
pub fn decode_document(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| Error::corrupted(format!("stored document is not JSON: {e}")))
}

/// 32-byte content hash used by the change log.
pub fn content_hash(bytes: &[u8]) -> [u8; 32] {
    *blake3::hash(bytes).as_bytes()
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7386_examples() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (json!({"a":"b","b":"c"}), json!({"a":null}), json!({"b":"c"})),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (json!({"a":{"b":"c"}}), json!({"a":{"b":"d","c":null}}), json!({"a":{"b":"d"}})),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (json!({}), json!({"a":{"bb":{"ccc":null}}}), json!({"a":{"bb":{}}})),
        ];
        for (mut target, patch, want) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, want);
        }
    }

    #[test]
    fn documents_must_be_objects_and_bounded() {
        assert!(encode_document(&json!([1])).is_err());
        let big = json!({"x": "a".repeat(DOC_BYTES_MAX)});
        assert_eq!(encode_document(&big).map_err(|e| e.kind()), Err(ErrorKind::TooLarge));
        assert_eq!(encode_document(&json!({"b":1,"a":2})).ok(), Some(r#"{"a":2,"b":1}"#.to_owned()));
    }
}
