//! Objects over HTTP with raw bodies: put (streamed), get (streamed, byte
//! ranges, conditional), head, delete, list, copy, staging bytes for a
//! transaction, and signed download URLs.

use super::{AppState, blocking};
use crate::extract::{Params, QueryString};
use crate::problem::{ApiError, ApiResult, Problem};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engram::{BlobInput, ErrorKind, Expect, ListObjects, ObjectInfo, ObjectList, ObjectWritten};
use engram_core::limits::{OBJECT_LIST_MAX, PAGE_LIMIT_DEFAULT};
use engram_objects::PutOptions;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

/// User metadata travels in headers with this prefix.
pub const META_PREFIX: &str = "x-engram-meta-";
/// Longest lifetime of a signed URL (7 days, S3's limit).
const SIGNED_URL_SECONDS_MAX: u64 = 7 * 24 * 3600;

type KeyPath = Params<(String, String)>;

/// Options of an object put given in the query string.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PutObjectParams {
    /// Seconds until the object expires.
    pub ttl_seconds: Option<u64>,
}

/// A listing's query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListObjectsParams {
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// Fold keys holding this after the prefix into common prefixes.
    pub delimiter: Option<String>,
    /// Resume after this key or common prefix (a page's `next_after`).
    pub after: Option<String>,
    /// Entries per page (1 to 1000, default 100).
    pub limit: Option<usize>,
}

/// A copy request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CopyObjectRequest {
    pub from: String,
    pub to: String,
    /// A precondition on `to`'s current version.
    #[serde(default)]
    pub expect: Expect,
}

/// A signed URL's query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SignedUrlParams {
    /// Seconds the URL works (1 to 604800, default 3600).
    pub expires_seconds: Option<u64>,
}

/// A signed download URL.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedUrl {
    /// Reads the object's bytes straight from the store, without a key.
    pub url: String,
    pub expires_at_ms: u64,
}

/// Stores an object's bytes, streamed (up to 5 GiB). `Content-Type` and
/// `x-engram-meta-<name>` headers are kept with it; `If-None-Match: *`
/// makes it create-only, `If-Match: "<digest>"` conditional on the current
/// content.
#[utoipa::path(put, path = "/v1/spaces/{space}/objects/{key}", tag = "objects",
    params(("space" = String, Path), ("key" = String, Path, description = "The object's key; may hold slashes"), PutObjectParams,
        ("If-Match" = Option<String>, Header), ("If-None-Match" = Option<String>, Header)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The object's bytes (any content type)"),
    responses((status = 201, body = ObjectWritten), (status = 200, body = ObjectWritten), (status = 409, body = Problem),
        (status = 412, body = Problem), (status = 503, body = Problem)))]
pub async fn put_object(
    State(s): State<AppState>,
    Params((space, key)): KeyPath,
    QueryString(q): QueryString<PutObjectParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (expect, if_digest) = conditions(&headers)?;
    let opts = PutOptions {
        content_type: content_type(&headers)?,
        metadata: metadata(&headers)?,
        ttl_seconds: q.ttl_seconds,
        expect,
        if_digest,
    };
    let conditional = opts.expect != Expect::Any;
    let engine = s.engine.clone();
    let space = blocking(move || engine.space(&space)).await?;
    let stream = body.into_data_stream();
    let w = s.objects.service.put(&space, &key, stream, opts).await.map_err(failed_condition(conditional))?;
    let status = if w.version == 1 { StatusCode::CREATED } else { StatusCode::OK };
    let tag = etag(&w.digest);
    let mut res = (status, Json(w)).into_response();
    res.headers_mut().insert(header::ETAG, tag);
    Ok(res)
}

/// Reads an object's bytes, streamed and verified (a corrupted chunk is
/// never sent). `Range: bytes=a-b` gives a 206; `If-None-Match` with the
/// current ETag a 304.
#[utoipa::path(get, path = "/v1/spaces/{space}/objects/{key}", tag = "objects",
    params(("space" = String, Path), ("key" = String, Path), ("Range" = Option<String>, Header), ("If-None-Match" = Option<String>, Header)),
    responses((status = 200, description = "The bytes", content_type = "application/octet-stream",
            headers(("ETag" = String, description = "The content's BLAKE3 digest, quoted"))),
        (status = 206, description = "The range asked for", content_type = "application/octet-stream"),
        (status = 304, description = "Not modified"), (status = 404, body = Problem), (status = 416, body = Problem)))]
pub async fn get_object(
    State(s): State<AppState>,
    Params((space, key)): KeyPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let engine = s.engine.clone();
    let space = blocking(move || engine.space(&space)).await?;
    let info = s.objects.service.head(&space, &key).await?.ok_or_else(|| missing(&key))?;
    if not_modified(&headers, &info) {
        return Ok(described(StatusCode::NOT_MODIFIED, &info, Body::empty()));
    }
    let range = byte_range(&headers, info.size)?;
    let d = s.objects.service.get(&space, &key, range.clone()).await?;
    let status = if range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    let (served, total) = (d.range.clone(), d.info.size);
    let body = Body::from_stream(d.body.map_err(|e| std::io::Error::other(e.to_string())));
    let mut res = described(status, &d.info, body);
    let h = res.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(served.end - served.start));
    if range.is_some() {
        let cr = format!("bytes {}-{}/{total}", served.start, served.end.saturating_sub(1));
        h.insert(header::CONTENT_RANGE, HeaderValue::from_str(&cr).expect("digits"));
    }
    Ok(res)
}

/// An object's metadata as headers, without its bytes.
#[utoipa::path(head, path = "/v1/spaces/{space}/objects/{key}", tag = "objects",
    params(("space" = String, Path), ("key" = String, Path)),
    responses((status = 200, description = "Headers only"), (status = 304, description = "Not modified"), (status = 404, body = Problem)))]
pub async fn head_object(
    State(s): State<AppState>,
    Params((space, key)): KeyPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let engine = s.engine.clone();
    let space = blocking(move || engine.space(&space)).await?;
    let info = s.objects.service.head(&space, &key).await?.ok_or_else(|| missing(&key))?;
    let status = if not_modified(&headers, &info) { StatusCode::NOT_MODIFIED } else { StatusCode::OK };
    let mut res = described(status, &info, Body::empty());
    res.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(info.size));
    Ok(res)
}

/// Deletes an object (its bytes are collected once nothing refers to
/// them). `If-Match: "<digest>"` makes it conditional.
#[utoipa::path(delete, path = "/v1/spaces/{space}/objects/{key}", tag = "objects",
    params(("space" = String, Path), ("key" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = ObjectWritten), (status = 404, body = Problem), (status = 412, body = Problem)))]
pub async fn delete_object(
    State(s): State<AppState>,
    Params((space, key)): KeyPath,
    headers: HeaderMap,
) -> ApiResult<Json<ObjectWritten>> {
    let (expect, if_digest) = conditions(&headers)?;
    let conditional = expect != Expect::Any;
    let engine = s.engine.clone();
    let space = blocking(move || engine.space(&space)).await?;
    Ok(Json(s.objects.service.delete(&space, &key, expect, if_digest).await.map_err(failed_condition(conditional))?))
}

/// Lists live objects by prefix, in key order, with keys holding the
/// delimiter folded into common prefixes; pages resume with `after`.
#[utoipa::path(get, path = "/v1/spaces/{space}/objects", tag = "objects",
    params(("space" = String, Path), ListObjectsParams), responses((status = 200, body = ObjectList)))]
pub async fn list_objects(
    State(s): State<AppState>,
    Params(space): Params<String>,
    QueryString(q): QueryString<ListObjectsParams>,
) -> ApiResult<Json<ObjectList>> {
    let req = ListObjects {
        prefix: q.prefix.unwrap_or_default(),
        delimiter: q.delimiter,
        after: q.after,
        limit: q.limit.unwrap_or(PAGE_LIMIT_DEFAULT.min(OBJECT_LIST_MAX)),
    };
    let engine = s.engine.clone();
    let space = blocking(move || engine.space(&space)).await?;
    Ok(Json(s.objects.service.list(&space, req).await?))
}

/// Copies an object: `to` gets `from`'s content and metadata. No bytes
/// move (both keys refer to one stored copy).
#[utoipa::path(post, path = "/v1/spaces/{space}/object-copy", tag = "objects",
    params(("space" = String, Path)), request_body = CopyObjectRequest,
    responses((status = 200, body = ObjectWritten), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn copy_object(
    State(s): State<AppState>,
    Params(space): Params<String>,
    crate::extract::Body(req): crate::extract::Body<CopyObjectRequest>,
) -> ApiResult<Json<ObjectWritten>> {
    let engine = s.engine.clone();
    let space = blocking(move || engine.space(&space)).await?;
    Ok(Json(s.objects.service.copy(&space, &req.from, &req.to, req.expect).await?))
}

/// Stores bytes without a key, for a transaction: the returned blob goes in
/// a `put_object` operation, committed with documents, edges or events.
/// Unreferenced, the bytes are collected after the grace period.
#[utoipa::path(post, path = "/v1/spaces/{space}/blobs", tag = "objects",
    params(("space" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The bytes"),
    responses((status = 201, body = BlobInput)))]
pub async fn stage_blob(
    State(s): State<AppState>,
    Params(space): Params<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<BlobInput>)> {
    let engine = s.engine.clone();
    let space = blocking(move || engine.space(&space)).await?;
    let blob = s.objects.service.stage(&space, body.into_data_stream()).await?;
    Ok((StatusCode::CREATED, Json(blob)))
}

/// A time-limited URL that downloads the object's bytes straight from the
/// store (S3 and Azure stores only). It bypasses Engram: no verification,
/// and it works until it expires even if the object is deleted.
#[utoipa::path(get, path = "/v1/spaces/{space}/object-urls/{key}", tag = "objects",
    params(("space" = String, Path), ("key" = String, Path), SignedUrlParams),
    responses((status = 200, body = SignedUrl), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn signed_object_url(
    State(s): State<AppState>,
    Params((space, key)): KeyPath,
    QueryString(q): QueryString<SignedUrlParams>,
) -> ApiResult<Json<SignedUrl>> {
    let secs = q.expires_seconds.unwrap_or(3600);
    if secs == 0 || secs > SIGNED_URL_SECONDS_MAX {
        return Err(ApiError::invalid(format!("expires_seconds must be 1 to {SIGNED_URL_SECONDS_MAX}")));
    }
    let engine = s.engine.clone();
    let space = blocking(move || engine.space(&space)).await?;
    let url = s.objects.service.signed_url(&space, &key, Duration::from_secs(secs)).await?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let expires_at_ms = u64::try_from(now).unwrap_or(u64::MAX).saturating_add(secs * 1000);
    Ok(Json(SignedUrl { url, expires_at_ms }))
}

/// A write's `If-None-Match: *` or `If-Match: *` that did not hold is a
/// 412 (RFC 9110), not the engine's conflict.
fn failed_condition(conditional: bool) -> impl Fn(engram::Error) -> ApiError {
    move |e| {
        if conditional && e.kind() == ErrorKind::Conflict && !e.message().starts_with(engram::NOT_STAGED) {
            ApiError::new(StatusCode::PRECONDITION_FAILED, ErrorKind::PreconditionFailed.as_str(), e.message())
        } else {
            ApiError::from(e)
        }
    }
}

/// `If-None-Match: *` (create only) and `If-Match: "<digest>"` (the
/// current content) of a write.
fn conditions(headers: &HeaderMap) -> ApiResult<(Expect, Option<String>)> {
    if let Some(v) = headers.get(header::IF_NONE_MATCH) {
        return match v.to_str() {
            Ok("*") => Ok((Expect::Absent, None)),
            _ => Err(ApiError::invalid("If-None-Match on a write: only * is supported (create if absent)")),
        };
    }
    let Some(v) = headers.get(header::IF_MATCH) else { return Ok((Expect::Any, None)) };
    let text = v.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok((Expect::Exists, None));
    }
    let digest = text.trim_matches('"');
    engram::check_digest(digest)
        .map_err(|_| ApiError::invalid("If-Match: give the object's ETag (a quoted digest)"))?;
    Ok((Expect::Any, Some(digest.to_owned())))
}

fn content_type(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(v) = headers.get(header::CONTENT_TYPE) else { return Ok(None) };
    let ct = v.to_str().map_err(|_| ApiError::invalid("Content-Type must be printable ASCII"))?;
    engram::check_content_type(ct)?;
    Ok(Some(ct.to_owned()))
}

/// `x-engram-meta-<name>: <value>` headers.
fn metadata(headers: &HeaderMap) -> ApiResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (name, value) in headers {
        if let Some(n) = name.as_str().strip_prefix(META_PREFIX) {
            let v = value.to_str().map_err(|_| ApiError::invalid(format!("header {name}: printable ASCII only")))?;
            out.insert(n.to_owned(), v.to_owned());
        }
    }
    engram::check_metadata(&out)?;
    Ok(out)
}

/// Whether `If-None-Match` names the current content.
fn not_modified(headers: &HeaderMap, info: &ObjectInfo) -> bool {
    let Some(v) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else { return false };
    v.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == "*" || t == info.etag)
}

/// Parses `Range: bytes=…` (one range: `a-b`, `a-` or `-n`) against the
/// object's size. `None` without the header, and (as RFC 9110 §14.2 has
/// it) for a range unit other than bytes and for several ranges, which
/// this server does not serve: the whole object is sent. A malformed or
/// unsatisfiable byte range is a 416.
fn byte_range(headers: &HeaderMap, size: u64) -> ApiResult<Option<Range<u64>>> {
    let Some(v) = headers.get(header::RANGE) else { return Ok(None) };
    let text = v.to_str().unwrap_or_default().trim();
    let Some(spec) = text.strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or_else(|| unsatisfiable(size, "a range is start-end"))?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| unsatisfiable(size, "range bounds are numbers"));
    let range = match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => size.saturating_sub(num(b)?)..size,
        (false, true) => num(a)?..size,
        (false, false) => num(a)?..num(b)?.saturating_add(1).min(size),
        (true, true) => return Err(unsatisfiable(size, "a range needs a bound")),
    };
    if range.start >= size || range.start >= range.end {
        return Err(unsatisfiable(size, "the range is outside the object"));
    }
    Ok(Some(range))
}

fn unsatisfiable(size: u64, why: &str) -> ApiError {
    let mut e = ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "range-not-satisfiable", format!("Range: {why}"));
    e.headers.push((header::CONTENT_RANGE, format!("bytes */{size}")));
    e
}

/// A response carrying an object's metadata headers.
fn described(status: StatusCode, info: &ObjectInfo, body: Body) -> Response {
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(header::ETAG, etag(&info.digest));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(ct) = HeaderValue::from_str(&info.content_type) {
        h.insert(header::CONTENT_TYPE, ct);
    }
    h.insert(HeaderName::from_static("x-engram-version"), HeaderValue::from(info.version));
    for (k, v) in &info.metadata {
        let name = HeaderName::try_from(format!("{META_PREFIX}{k}"));
        if let (Ok(name), Ok(value)) = (name, HeaderValue::from_str(v)) {
            h.insert(name, value);
        }
    }
    res
}

fn etag(digest: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{digest}\"")).expect("hex is a valid header")
}

fn missing(key: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, ErrorKind::NotFound.as_str(), format!("object {key:?} does not exist"))
}
