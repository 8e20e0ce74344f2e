//! `JsonObject`: the OpenAPI schema of a free-form JSON object (a document
//! body, a merge patch), as a named component.
//!
//! A named `$ref` instead of an inline `{"type": "object"}` because client
//! generators (openapi-python-client) name an inline object inside a
//! `oneOf` variant after the variant and then emit it twice, dropping it.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// Any JSON object. A schema only: values are `serde_json::Value`.
#[derive(Debug)]
pub struct JsonObject;

impl utoipa::PartialSchema for JsonObject {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::Object).description(Some("Any JSON object.")).into()
    }
}

impl utoipa::ToSchema for JsonObject {}
