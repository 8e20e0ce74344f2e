//! The API contract checked from outside: every response the test client
//! receives must be one the OpenAPI document declares (route and method,
//! status, content type, body schema), and a request answered with success
//! must use only query parameters the document declares.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// A response as received, for checking.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    pub method: &'a str,
    /// Path and query string as sent.
    pub target: &'a str,
    pub status: u16,
    pub content_type: Option<&'a str>,
    pub body: &'a str,
}

/// The generated document with compiled body validators, built once.
struct Contract {
    doc: Value,
    validators: Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

fn contract() -> &'static Contract {
    static C: OnceLock<Contract> = OnceLock::new();
    C.get_or_init(|| Contract {
        doc: serde_json::to_value(engram_server::openapi::document()).expect("the document serializes"),
        validators: Mutex::default(),
    })
}

/// Checks one exchange; the error names the route, the status and the
/// violation.
pub fn check(x: &Exchange) -> Result<(), String> {
    let c = contract();
    let (path, query) = x.target.split_once('?').unwrap_or((x.target, ""));
    let Some(template) = route_of(&c.doc, path) else {
        // The router's fallback: an undeclared path is a 404 problem.
        return expect_fallback(x, 404, "an undeclared path");
    };
    let Some(op) = c.doc["paths"][template].get(x.method.to_ascii_lowercase()) else {
        return expect_fallback(x, 405, "an undeclared method");
    };
    let at = format!("{} {template} -> {}", x.method, x.status);
    let Some(response) = op["responses"].get(x.status.to_string()) else {
        return Err(format!("{at}: status {} is not declared (body: {})", x.status, x.body));
    };
    if (200..300).contains(&x.status) {
        check_query(op, query).map_err(|e| format!("{at}: {e}"))?;
    }
    if x.method.eq_ignore_ascii_case("HEAD") {
        return Ok(()); // a HEAD response never carries its body
    }
    check_body(c, &format!("{} {template} {}", x.method, x.status), response, x).map_err(|e| format!("{at}: {e}"))
}

/// The declared path template `path` matches, preferring literal segments
/// over parameters (as the router does).
fn route_of<'d>(doc: &'d Value, path: &str) -> Option<&'d str> {
    let segs: Vec<&str> = path.split('/').collect();
    let paths = doc["paths"].as_object()?;
    let literal_matches = |template: &str| {
        let t: Vec<&str> = template.split('/').collect();
        if t.len() != segs.len() {
            return None;
        }
        let mut literals = 0;
        for (a, b) in t.iter().zip(&segs) {
            if a.starts_with('{') && a.ends_with('}') {
                if b.is_empty() {
                    return None;
                }
            } else if a == b {
                literals += 1;
            } else {
                return None;
            }
        }
        Some(literals)
    };
    paths.keys().filter_map(|t| literal_matches(t).map(|n| (n, t.as_str()))).max_by_key(|(n, _)| *n).map(|(_, t)| t)
}

fn expect_fallback(x: &Exchange, status: u16, what: &str) -> Result<(), String> {
    if x.status != status || media_type(x.content_type) != "application/problem+json" {
        return Err(format!(
            "{} {}: {what} answered {} {:?}, not a {status} problem (body: {})",
            x.method, x.target, x.status, x.content_type, x.body
        ));
    }
    let problem = json!({"$ref": "#/components/schemas/Problem"});
    validate(contract(), &format!("fallback {status}"), &problem, x.body)
}

/// Every query parameter of a successful request is declared `in: query`.
fn check_query(op: &Value, query: &str) -> Result<(), String> {
    let declared: Vec<&str> = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str())
        .collect();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let name = pair.split_once('=').map_or(pair, |(k, _)| k);
        if !declared.contains(&name) {
            return Err(format!(
                "query parameter {name:?} succeeded but is not declared in query (declared: {declared:?})"
            ));
        }
    }
    Ok(())
}

/// `type/subtype` of a Content-Type, without parameters.
fn media_type(content_type: Option<&str>) -> String {
    content_type.unwrap_or_default().split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

fn check_body(c: &Contract, key: &str, response: &Value, x: &Exchange) -> Result<(), String> {
    let content = response["content"].as_object();
    let Some(content) = content.filter(|m| !m.is_empty()) else {
        return if x.body.is_empty() { Ok(()) } else { Err(format!("declared without a body, got: {}", x.body)) };
    };
    let media = media_type(x.content_type);
    let Some(declared) = content.get(&media) else {
        let allowed: Vec<&String> = content.keys().collect();
        return Err(format!("content type {:?} is not the declared {allowed:?}", x.content_type));
    };
    if !(media == "application/json" || media.ends_with("+json")) {
        return Ok(());
    }
    match declared.get("schema") {
        Some(schema) => validate(c, key, schema, x.body),
        None => Ok(()),
    }
}

/// Validates a JSON body against a schema of the document, `$ref`s resolved
/// into the document's components.
fn validate(c: &Contract, key: &str, schema: &Value, body: &str) -> Result<(), String> {
    let value: Value = serde_json::from_str(body).map_err(|e| format!("the body is not JSON ({e}): {body}"))?;
    let validator = validator_for(c, key, schema)?;
    let errors: Vec<String> =
        validator.iter_errors(&value).map(|e| format!("at {:?}: {e}", e.instance_path().to_string())).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("the body does not match its schema: {errors:?}; body: {body}"))
    }
}

fn validator_for(c: &Contract, key: &str, schema: &Value) -> Result<std::sync::Arc<jsonschema::Validator>, String> {
    let mut cache = c.validators.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(v) = cache.get(key) {
        return Ok(v.clone());
    }
    // The response schema as the root, carrying the components so that
    // `#/components/schemas/…` resolves within it.
    let mut root = schema.clone();
    if let Some(obj) = root.as_object_mut() {
        obj.insert("components".into(), c.doc["components"].clone());
    }
    let v = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .map_err(|e| format!("the declared schema does not compile: {e}"))?;
    let v = std::sync::Arc::new(v);
    cache.insert(key.to_owned(), v.clone());
    Ok(v)
}
