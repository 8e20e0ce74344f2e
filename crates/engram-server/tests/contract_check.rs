//! The response checker of the HTTP suite (`common::contract`) rejects
//! responses the OpenAPI document does not declare, so a passing suite
//! means the document describes what the server sent.

mod common;

use common::contract::{Exchange, check};

const PROBLEM: &str = r#"{"type":"urn:engram:problem:not-found","title":"Not Found","status":404,"detail":"no"}"#;
const SPACE: &str = r#"{"name":"acme","created_at_ms":1}"#;

fn x<'a>(method: &'a str, target: &'a str, status: u16, ct: &'a str, body: &'a str) -> Exchange<'a> {
    Exchange { method, target, status, content_type: Some(ct), body }
}

fn refused(e: Exchange, expect: &str) {
    match check(&e) {
        Ok(()) => panic!("{e:?} was accepted"),
        Err(msg) => assert!(msg.contains(expect), "{e:?}: message {msg:?} lacks {expect:?}"),
    }
}

#[test]
fn declared_responses_pass() {
    let ok = [
        x("GET", "/v1/spaces/acme", 200, "application/json", SPACE),
        x("GET", "/v1/spaces/acme", 404, "application/problem+json", PROBLEM),
        x(
            "GET",
            "/v1/spaces/acme/changes?after=3&limit=2",
            200,
            "application/json",
            r#"{"entries":[],"next_after":3}"#,
        ),
        x("DELETE", "/v1/spaces/acme", 204, "", ""),
        x("GET", "/nowhere", 404, "application/problem+json", PROBLEM),
    ];
    for e in ok {
        check(&e).unwrap_or_else(|m| panic!("{e:?}: {m}"));
    }
}

#[test]
fn undeclared_statuses_are_refused() {
    refused(x("GET", "/v1/spaces/acme", 418, "application/problem+json", PROBLEM), "GET /v1/spaces/{space} -> 418");
}

#[test]
fn errors_sent_as_plain_json_are_refused() {
    refused(x("GET", "/v1/spaces/acme", 404, "application/json", PROBLEM), "content type");
}

#[test]
fn bodies_not_matching_the_schema_are_refused() {
    refused(x("GET", "/v1/spaces/acme", 200, "application/json", r#"{"name":5}"#), "does not match");
    refused(x("GET", "/v1/spaces/acme", 404, "application/problem+json", r#"{"type":"x"}"#), "does not match");
    refused(x("GET", "/v1/spaces/acme", 200, "application/json", "not json"), "not JSON");
}

#[test]
fn a_success_with_an_undeclared_query_parameter_is_refused() {
    let page = r#"{"entries":[],"next_after":0}"#;
    refused(x("GET", "/v1/spaces/acme/changes?before=3", 200, "application/json", page), "\"before\"");
}

#[test]
fn undeclared_routes_and_methods_must_be_the_fallback_problems() {
    refused(x("GET", "/v1/nowhere", 200, "application/json", "{}"), "not a 404 problem");
    refused(x("PATCH", "/v1/spaces/acme", 200, "application/json", SPACE), "not a 405 problem");
    check(&x("PATCH", "/v1/spaces/acme", 405, "application/problem+json", PROBLEM)).expect("the 405 fallback");
}

#[test]
fn a_body_on_a_bodiless_response_is_refused() {
    refused(x("DELETE", "/v1/spaces/acme", 204, "application/json", "{}"), "without a body");
}
