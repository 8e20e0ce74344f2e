//! Request extractors whose rejections are problem+json, not plain text.

use crate::config::BODY_BYTES_MAX;
use crate::problem::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use engram::{ErrorKind, Expect};
use serde::de::DeserializeOwned;

/// A JSON object body. Parsed whatever the Content-Type (curl's `-d` says form
/// data), within the router's body limit.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> ApiResult<Self> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e: BytesRejection| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    e.status(),
                    ErrorKind::TooLarge.as_str(),
                    format!("request body is larger than {BODY_BYTES_MAX} bytes"),
                )
            } else {
                ApiError::invalid(format!("request body: {}", e.body_text()))
            }
        })?;
        // Serde accepts a struct written as an array; every body here is an
        // object (documents and patches too), so refuse anything else.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::invalid("request body must be a JSON object"));
        }
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = T::deserialize(&mut de).and_then(|v| de.end().map(|()| v));
        let value = value.map_err(|e| ApiError::invalid(format!("request body: {e}")))?;
        // serde_json would have read an integer beyond 64 bits as a rounded
        // float; refuse it instead (the bytes are valid JSON by now).
        engram::check_integer_range(&bytes).map_err(|e| ApiError::invalid(format!("request body: {}", e.message())))?;
        Ok(Self(value))
    }
}

/// Path parameters.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e: PathRejection| ApiError::invalid(format!("path: {}", e.body_text())))
    }
}

/// Query-string parameters.
pub struct QueryString<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryString<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e: QueryRejection| ApiError::invalid(format!("query string: {}", e.body_text())))
    }
}

/// The precondition given by `If-Match: "<version>"` or `If-None-Match: *`.
pub fn precondition(headers: &HeaderMap) -> ApiResult<Option<Expect>> {
    if let Some(v) = headers.get("if-none-match") {
        return match v.to_str() {
            Ok("*") => Ok(Some(Expect::Absent)),
            _ => Err(ApiError::invalid("If-None-Match: only * is supported (create if absent)")),
        };
    }
    let Some(v) = headers.get("if-match") else { return Ok(None) };
    let text = v.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(Some(Expect::Exists));
    }
    let version = text.trim_start_matches("W/").trim_matches('"').parse::<u64>();
    version
        .map(|n| Some(Expect::Version(n)))
        .map_err(|_| ApiError::invalid("If-Match: expected an ETag such as \"3\" or *"))
}

/// The `Idempotency-Key` header, if any.
pub fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.to_owned()))
            .map_err(|_| ApiError::invalid("Idempotency-Key must be printable ASCII")),
    }
}

/// Marks a response as the replay of an earlier request with the same
/// `Idempotency-Key` (nothing was written this time).
pub fn mark_replayed(res: &mut axum::response::Response, replayed: bool) {
    if replayed {
        res.headers_mut().insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
    }
}

/// Whether a document read accepts staleness: `Engram-Consistency:
/// eventual` (a read replica may answer); `strong`, the default, reads the
/// primary.
pub fn eventual(headers: &axum::http::HeaderMap) -> Result<bool, ApiError> {
    match headers.get("engram-consistency").map(|v| v.to_str().unwrap_or("")) {
        None | Some("strong") => Ok(false),
        Some("eventual") => Ok(true),
        Some(other) => {
            Err(ApiError::invalid(format!("Engram-Consistency {other:?}: use strong (the default) or eventual")))
        }
    }
}

/// The space handle a document read uses (see [`eventual`]).
pub fn reading(space: engram::Space, eventual: bool) -> engram::Space {
    if eventual { space.replica_reads() } else { space }
}
