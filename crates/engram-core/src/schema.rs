//! Collection JSON Schemas: compiled once, checked on every write.

use crate::limits::SCHEMA_BYTES_MAX;
use crate::{Error, ErrorKind, Result};
use serde_json::Value;

/// Validation errors reported per write, at most.
const SCHEMA_ERRORS_REPORTED_MAX: usize = 5;

/// A compiled JSON Schema (drafts 4 to 2020-12; no remote `$ref`s: the
/// engine never fetches anything while validating).
pub struct CompiledSchema {
    validator: jsonschema::Validator,
}

impl CompiledSchema {
    pub fn compile(schema: &Value) -> Result<Self> {
        let size = crate::json::canonical(schema).len();
        if size > SCHEMA_BYTES_MAX {
            return Err(Error::too_large(format!("schema is {size} bytes; the limit is {SCHEMA_BYTES_MAX}")));
        }
        let validator =
            jsonschema::validator_for(schema).map_err(|e| Error::invalid(format!("invalid JSON Schema: {e}")))?;
        Ok(Self { validator })
    }

    /// Checks a document; the error names each failing field and why.
    pub fn check(&self, doc: &Value) -> Result<()> {
        let problems: Vec<String> = self
            .validator
            .iter_errors(doc)
            .take(SCHEMA_ERRORS_REPORTED_MAX)
            .map(|e| {
                let at = e.instance_path().to_string();
                let at = if at.is_empty() { "/".to_owned() } else { at };
                format!("at {at}: {e}")
            })
            .collect();
        if problems.is_empty() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::SchemaViolation,
            format!("document does not match the collection schema: {}", problems.join("; ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_field_and_reason() {
        let s = CompiledSchema::compile(&json!({
            "type": "object",
            "properties": {"age": {"type": "integer", "minimum": 0}},
            "required": ["age"]
        }))
        .expect("valid schema");
        assert!(s.check(&json!({"age": 3})).is_ok());
        let err = s.check(&json!({"age": "x"})).expect_err("wrong type");
        assert_eq!(err.kind(), ErrorKind::SchemaViolation);
        assert!(err.message().contains("/age"), "{}", err.message());
        assert!(s.check(&json!({})).expect_err("missing").message().contains("age"));
        assert!(CompiledSchema::compile(&json!({"type": 5})).is_err());
    }
}
