//! Error responses: every one is `application/problem+json` (a `Problem`),
//! and the statuses the shared layers and extractors can return are
//! declared on every operation they apply to. Handlers declare only the
//! statuses their own logic adds.

use super::operations;
use axum::http::{Method, StatusCode};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

/// The media type of every error body (RFC 9457), sent by `problem.rs`,
/// the only place errors become responses.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Handlers that never fail: no engine or store call can return an error.
const INFALLIBLE: [(&str, &str); 4] =
    [("GET", "/healthz"), ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/v1/keys")];

pub(super) struct Errors;

impl utoipa::Modify for Errors {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in operations(item) {
                for (status, why) in layer_statuses(&method, path, op) {
                    let key = status.as_u16().to_string();
                    op.responses.responses.entry(key).or_insert_with(|| RefOr::T(problem(status, why)));
                }
                as_problems(op);
            }
        }
    }
}

/// The statuses an operation can get from the layers and extractors every
/// route shares, whatever its handler does.
fn layer_statuses(method: &Method, path: &str, op: &Operation) -> Vec<(StatusCode, &'static str)> {
    let has_param = |place: ParameterIn| op.parameters.iter().flatten().any(|p| p.parameter_in == place);
    let has_header = |name: &str| {
        op.parameters
            .iter()
            .flatten()
            .any(|p| p.name.eq_ignore_ascii_case(name) && p.parameter_in == ParameterIn::Header)
    };
    let mut out = Vec::new();
    if has_param(ParameterIn::Path) || has_param(ParameterIn::Query) || has_param(ParameterIn::Header) {
        out.push((StatusCode::BAD_REQUEST, "A path or query parameter or a header is invalid"));
    }
    if op.request_body.is_some() {
        out.push((StatusCode::BAD_REQUEST, "The body is not a valid request"));
        out.push((StatusCode::PAYLOAD_TOO_LARGE, "The body, or what it asks for, is over a limit"));
    }
    if crate::auth::policy(method, path) != crate::auth::Access::Public {
        out.push((StatusCode::UNAUTHORIZED, "No API key, or an unknown, revoked or expired one"));
        out.push((StatusCode::FORBIDDEN, "The key's role or space does not cover this route"));
        out.push((StatusCode::TOO_MANY_REQUESTS, "Too many failed authentications, or the key's rate is exceeded"));
    }
    if path.starts_with("/v1/spaces/{space}") {
        out.push((StatusCode::NOT_FOUND, "The space (or what the path names in it) does not exist"));
    }
    if has_header("Idempotency-Key") {
        out.push((StatusCode::UNPROCESSABLE_ENTITY, "The Idempotency-Key was used with another request"));
    }
    if !INFALLIBLE.contains(&(method.as_str(), path)) {
        out.push((StatusCode::INTERNAL_SERVER_ERROR, "Storage failed or is corrupted"));
    }
    out.push((StatusCode::SERVICE_UNAVAILABLE, "Overloaded, timed out, or storage unavailable; retry later"));
    out
}

/// Makes every error response of `op` a problem, keeping its description.
fn as_problems(op: &mut Operation) {
    for (status, response) in op.responses.responses.iter_mut() {
        let Some(code) = status.parse::<u16>().ok().and_then(|c| StatusCode::from_u16(c).ok()) else { continue };
        if !(code.is_client_error() || code.is_server_error()) {
            continue;
        }
        let why = match response {
            RefOr::T(r) if !r.description.is_empty() => r.description.clone(),
            _ => code.canonical_reason().unwrap_or("Error").to_owned(),
        };
        *response = RefOr::T(problem(code, &why));
    }
}

/// A problem+json response; 429 and 503 also carry `Retry-After`.
fn problem(status: StatusCode, why: &str) -> Response {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
    let mut b = ResponseBuilder::new().description(why).content(PROBLEM_JSON, content);
    if matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) {
        let seconds = utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::Integer).build();
        b = b.header("Retry-After", HeaderBuilder::new().schema(seconds).description(Some("Seconds to wait")).build());
    }
    b.build()
}
