//! Shape checks of the generated document that a client generator relies on.

use serde_json::Value;

fn doc() -> Value {
    serde_json::to_value(super::document()).expect("the document serializes")
}

/// (method, path, operation) of every operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            out.push((method.clone(), path.clone(), op.clone()));
        }
    }
    out
}

#[test]
fn path_parameters_are_exactly_the_template_parameters() {
    for (method, path, op) in operations(&doc()) {
        let mut in_template: Vec<&str> =
            path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect();
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let mut in_path: Vec<&str> =
            params.iter().filter(|p| p["in"] == "path").filter_map(|p| p["name"].as_str()).collect();
        in_template.sort_unstable();
        in_path.sort_unstable();
        assert_eq!(in_path, in_template, "{method} {path}: path parameters");
    }
}

#[test]
fn every_error_response_is_a_problem() {
    for (method, path, op) in operations(&doc()) {
        for (status, response) in op["responses"].as_object().expect("responses") {
            if !status.starts_with('4') && !status.starts_with('5') {
                continue;
            }
            let content = response["content"].as_object().expect("error responses have a body");
            let types: Vec<&String> = content.keys().collect();
            assert_eq!(types, ["application/problem+json"], "{method} {path} {status}");
            assert_eq!(content["application/problem+json"]["schema"]["$ref"], "#/components/schemas/Problem");
        }
    }
}

#[test]
fn every_route_declares_the_statuses_of_the_shared_layers() {
    for (method, path, op) in operations(&doc()) {
        let declared = |s: &str| op["responses"].get(s).is_some();
        assert!(declared("503"), "{method} {path}: 503 (shedding, timeout)");
        if op.get("security").is_some() {
            for s in ["401", "403", "429"] {
                assert!(declared(s), "{method} {path}: {s} (authorization)");
            }
        }
        if op.get("requestBody").is_some() {
            assert!(declared("400") && declared("413"), "{method} {path}: 400 and 413 (body)");
        }
    }
    let doc = doc();
    assert!(doc["paths"]["/v1/keys"]["post"]["responses"].get("404").is_some(), "POST /v1/keys: unknown space");
}

#[test]
fn no_schema_is_a_boolean() {
    // Generators that model schemas as objects refuse `items: false`.
    let text = serde_json::to_string(&doc()).expect("serializes");
    assert!(!text.contains("\"items\":false"), "a tuple schema still has items: false");
}
