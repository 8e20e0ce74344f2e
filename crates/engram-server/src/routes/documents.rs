//! Documents: get, put, merge-patch, delete, insert, list and bulk writes.

use super::{AppState, blocking};
use crate::extract::{Body, Params, QueryString, idempotency_key, precondition};
use crate::problem::{ApiError, ApiResult, Problem};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engram::{CommitResult, Document, ErrorKind, Expect, Page, Query, SortField, WriteOptions, WriteResult};
use serde::Deserialize;
use serde_json::Value;

type DocPath = Params<(String, String, String)>;
type CollPath = Params<(String, String)>;

/// Options of a single-document write given in the query string.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WriteParams {
    /// Time-to-live of the document, in seconds.
    pub ttl_seconds: Option<u64>,
}

fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header")
}

fn written(status: StatusCode, r: WriteResult) -> Response {
    let tag = etag(r.version);
    let mut res = (status, Json(r)).into_response();
    res.headers_mut().insert(header::ETAG, tag);
    res
}

/// Options from headers; a failed `If-Match` is 412, not 409.
fn options(headers: &HeaderMap, ttl: Option<u64>) -> ApiResult<(WriteOptions, bool)> {
    let pre = precondition(headers)?;
    let opts = WriteOptions {
        expect: pre.unwrap_or(Expect::Any),
        ttl_seconds: ttl,
        idempotency_key: idempotency_key(headers)?,
    };
    Ok((opts, pre.is_some()))
}

fn precondition_failed(from_header: bool) -> impl Fn(ApiError) -> ApiError {
    move |e| {
        if from_header && e.kind == ErrorKind::Conflict.as_str() {
            ApiError::new(StatusCode::PRECONDITION_FAILED, "precondition-failed", e.detail)
        } else {
            e
        }
    }
}

#[utoipa::path(get, path = "/v1/spaces/{space}/collections/{collection}/docs/{id}", tag = "documents",
    params(("space" = String, Path), ("collection" = String, Path), ("id" = String, Path), ("Engram-Consistency" = Option<String>, Header, description = "strong (default) or eventual: a read replica may answer, missing the latest writes")),
    responses((status = 200, body = Document, headers(("ETag" = String, description = "The version, quoted"))), (status = 404, body = Problem)))]
pub async fn get_document(
    State(s): State<AppState>,
    Params((space, coll, id)): DocPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let eventual = crate::extract::eventual(&headers)?;
    let doc = blocking(move || crate::extract::reading(s.engine.space(&space)?, eventual).get(&coll, &id)).await?;
    let tag = etag(doc.version);
    let mut res = Json(doc).into_response();
    res.headers_mut().insert(header::ETAG, tag);
    Ok(res)
}

/// Creates or replaces a document. `If-Match: "<version>"` makes it
/// conditional, `If-None-Match: *` create-only.
#[utoipa::path(put, path = "/v1/spaces/{space}/collections/{collection}/docs/{id}", tag = "documents",
    params(("space" = String, Path), ("collection" = String, Path), ("id" = String, Path), WriteParams,
        ("If-Match" = Option<String>, Header), ("If-None-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    request_body(content = Object, description = "The document (a JSON object)"),
    responses((status = 201, body = WriteResult), (status = 200, body = WriteResult), (status = 400, body = Problem),
        (status = 412, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn put_document(
    State(s): State<AppState>,
    Params((space, coll, id)): DocPath,
    QueryString(p): QueryString<WriteParams>,
    headers: HeaderMap,
    Body(body): Body<Value>,
) -> ApiResult<Response> {
    let (opts, from_header) = options(&headers, p.ttl_seconds)?;
    let r = blocking(move || s.engine.space(&space)?.put(&coll, &id, body, opts))
        .await
        .map_err(precondition_failed(from_header))?;
    let status = if r.version == 1 { StatusCode::CREATED } else { StatusCode::OK };
    Ok(written(status, r))
}

/// Applies an RFC 7386 merge patch.
#[utoipa::path(patch, path = "/v1/spaces/{space}/collections/{collection}/docs/{id}", tag = "documents",
    params(("space" = String, Path), ("collection" = String, Path), ("id" = String, Path), WriteParams,
        ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    request_body(content = Object, description = "A JSON merge patch (RFC 7386)"),
    responses((status = 200, body = WriteResult), (status = 404, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn patch_document(
    State(s): State<AppState>,
    Params((space, coll, id)): DocPath,
    QueryString(p): QueryString<WriteParams>,
    headers: HeaderMap,
    Body(patch): Body<Value>,
) -> ApiResult<Response> {
    let (opts, from_header) = options(&headers, p.ttl_seconds)?;
    let r = blocking(move || s.engine.space(&space)?.patch(&coll, &id, patch, opts))
        .await
        .map_err(precondition_failed(from_header))?;
    Ok(written(StatusCode::OK, r))
}

#[utoipa::path(delete, path = "/v1/spaces/{space}/collections/{collection}/docs/{id}", tag = "documents",
    params(("space" = String, Path), ("collection" = String, Path), ("id" = String, Path),
        ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = WriteResult), (status = 404, body = Problem), (status = 412, body = Problem)))]
pub async fn delete_document(
    State(s): State<AppState>,
    Params((space, coll, id)): DocPath,
    headers: HeaderMap,
) -> ApiResult<Json<WriteResult>> {
    let (opts, from_header) = options(&headers, None)?;
    let r = blocking(move || s.engine.space(&space)?.delete(&coll, &id, opts))
        .await
        .map_err(precondition_failed(from_header))?;
    Ok(Json(r))
}

/// Creates a document under a new time-ordered id.
#[utoipa::path(post, path = "/v1/spaces/{space}/collections/{collection}/docs", tag = "documents",
    params(("space" = String, Path), ("collection" = String, Path), WriteParams, ("Idempotency-Key" = Option<String>, Header)),
    request_body(content = Object, description = "The document (a JSON object)"),
    responses((status = 201, body = WriteResult), (status = 400, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn insert_document(
    State(s): State<AppState>,
    Params((space, coll)): CollPath,
    QueryString(p): QueryString<WriteParams>,
    headers: HeaderMap,
    Body(body): Body<Value>,
) -> ApiResult<Response> {
    let (opts, _) = options(&headers, p.ttl_seconds)?;
    let r = blocking(move || s.engine.space(&space)?.insert(&coll, body, opts)).await?;
    let location = format!("docs/{}", r.id);
    let mut res = written(StatusCode::CREATED, r);
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// Listing parameters (a query in the query string).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Filter expression as JSON, e.g. `{"status":"open"}`.
    pub filter: Option<String>,
    /// Comma-separated fields; `-field` sorts descending.
    pub sort: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
    pub offset: Option<usize>,
}

#[utoipa::path(get, path = "/v1/spaces/{space}/collections/{collection}/docs", tag = "documents",
    params(("space" = String, Path), ("collection" = String, Path), ListParams, ("Engram-Consistency" = Option<String>, Header, description = "strong (default) or eventual: a read replica may answer, missing the latest writes")),
    responses((status = 200, body = Page), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn list_documents(
    State(s): State<AppState>,
    Params((space, coll)): CollPath,
    headers: HeaderMap,
    QueryString(p): QueryString<ListParams>,
) -> ApiResult<Json<Page>> {
    let eventual = crate::extract::eventual(&headers)?;
    let filter = match p.filter.as_deref() {
        Some(text) => {
            let filter =
                serde_json::from_str(text).map_err(|e| ApiError::invalid(format!("filter: not valid JSON: {e}")))?;
            engram::check_integer_range(text.as_bytes()).map_err(|e| ApiError::invalid(format!("filter: {e}")))?;
            filter
        }
        None => Value::Null,
    };
    let sort = p
        .sort
        .as_deref()
        .map(|s| s.split(',').filter(|f| !f.is_empty()).map(SortField::parse).collect())
        .unwrap_or_default();
    let q = Query { filter, sort, limit: p.limit, cursor: p.cursor, offset: p.offset };
    Ok(Json(blocking(move || crate::extract::reading(s.engine.space(&space)?, eventual).query(&coll, &q)).await?))
}

/// One document of a bulk put.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkDoc {
    pub id: String,
    #[schema(value_type = Object)]
    pub body: Value,
}

/// Body of a bulk put.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkPut {
    pub documents: Vec<BulkDoc>,
}

/// Body of a bulk delete.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkDelete {
    pub ids: Vec<String>,
}

/// Creates or replaces up to 10,000 documents in one transaction.
#[utoipa::path(post, path = "/v1/spaces/{space}/collections/{collection}/bulk/put", tag = "documents",
    params(("space" = String, Path), ("collection" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = BulkPut, responses((status = 200, body = CommitResult), (status = 400, body = Problem), (status = 413, body = Problem),
        (status = 422, body = Problem, description = "A document violates the collection's schema")))]
pub async fn bulk_put(
    State(s): State<AppState>,
    Params((space, coll)): CollPath,
    headers: HeaderMap,
    Body(b): Body<BulkPut>,
) -> ApiResult<Json<CommitResult>> {
    let key = idempotency_key(&headers)?;
    let docs = b.documents.into_iter().map(|d| (d.id, d.body)).collect();
    Ok(Json(blocking(move || s.engine.space(&space)?.bulk_put(&coll, docs, key.as_deref())).await?))
}

/// Body of a bulk get.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkGet {
    /// 1 to 1,000 document ids.
    pub ids: Vec<String>,
}

/// The documents a bulk get found, in the order asked, and the ids it did not.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct BulkGot {
    pub documents: Vec<Document>,
    /// Ids with no live document, in the order asked.
    pub missing: Vec<String>,
}

/// Reads up to 1,000 documents by id in one request (a missing collection
/// has every id missing).
#[utoipa::path(post, path = "/v1/spaces/{space}/collections/{collection}/bulk/get", tag = "documents",
    params(("space" = String, Path), ("collection" = String, Path), ("Engram-Consistency" = Option<String>, Header, description = "strong (default) or eventual: a read replica may answer, missing the latest writes")),
    request_body = BulkGet, responses((status = 200, body = BulkGot), (status = 400, body = Problem)))]
pub async fn bulk_get(
    State(s): State<AppState>,
    Params((space, coll)): CollPath,
    headers: HeaderMap,
    Body(b): Body<BulkGet>,
) -> ApiResult<Json<BulkGot>> {
    let eventual = crate::extract::eventual(&headers)?;
    let found = blocking(move || {
        let docs = crate::extract::reading(s.engine.space(&space)?, eventual).get_many(&coll, &b.ids)?;
        Ok(b.ids.into_iter().zip(docs).fold(
            BulkGot { documents: Vec::new(), missing: Vec::new() },
            |mut got, (id, doc)| {
                match doc {
                    Some(d) => got.documents.push(d),
                    None => got.missing.push(id),
                }
                got
            },
        ))
    })
    .await?;
    Ok(Json(found))
}

/// Deletes up to 10,000 existing documents in one transaction.
#[utoipa::path(post, path = "/v1/spaces/{space}/collections/{collection}/bulk/delete", tag = "documents",
    params(("space" = String, Path), ("collection" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = BulkDelete, responses((status = 200, body = CommitResult), (status = 404, body = Problem)))]
pub async fn bulk_delete(
    State(s): State<AppState>,
    Params((space, coll)): CollPath,
    headers: HeaderMap,
    Body(b): Body<BulkDelete>,
) -> ApiResult<Json<CommitResult>> {
    let key = idempotency_key(&headers)?;
    Ok(Json(blocking(move || s.engine.space(&space)?.bulk_delete(&coll, b.ids, key.as_deref())).await?))
}
