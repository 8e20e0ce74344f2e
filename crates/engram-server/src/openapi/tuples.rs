//! Tuple schemas without `items: false`.
//!
//! utoipa renders a Rust tuple as `prefixItems` plus `items: false`. That is
//! valid JSON Schema 2020-12, but client generators that model schemas as
//! objects (openapi-python-client) refuse a boolean schema and generate
//! nothing. A tuple of n is rewritten to the equivalent `prefixItems` with
//! any items and exactly n of them.

use utoipa::openapi::schema::SchemaType;
use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Schema};
use utoipa::openapi::{ObjectBuilder, RefOr};

pub(super) struct Tuples;

impl utoipa::Modify for Tuples {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = doc.components.as_mut() {
            components.schemas.values_mut().for_each(visit);
        }
        // Inline schemas of parameters and bodies are named types or plain
        // scalars here; components hold every tuple the API returns.
    }
}

fn visit(node: &mut RefOr<Schema>) {
    if let RefOr::T(schema) = node {
        visit_schema(schema);
    }
}

fn visit_schema(schema: &mut Schema) {
    match schema {
        Schema::Array(a) => {
            if matches!(a.items, ArrayItems::False) && !a.prefix_items.is_empty() {
                let any = ObjectBuilder::new().schema_type(SchemaType::AnyValue).build();
                a.items = ArrayItems::RefOrSchema(Box::new(RefOr::T(Schema::Object(any))));
                a.min_items = Some(a.prefix_items.len());
                a.max_items = Some(a.prefix_items.len());
            }
            if let ArrayItems::RefOrSchema(items) = &mut a.items {
                visit(items);
            }
            a.prefix_items.iter_mut().for_each(visit_schema);
        }
        Schema::Object(o) => {
            o.properties.values_mut().for_each(visit);
            if let Some(extra) = o.additional_properties.as_deref_mut()
                && let AdditionalProperties::RefOr(inner) = extra
            {
                visit(inner);
            }
        }
        Schema::OneOf(s) => s.items.iter_mut().for_each(visit),
        Schema::AllOf(s) => s.items.iter_mut().for_each(visit),
        Schema::AnyOf(s) => s.items.iter_mut().for_each(visit),
        _ => {}
    }
}
