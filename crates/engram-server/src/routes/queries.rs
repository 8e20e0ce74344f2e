//! Queries, counts and existence checks with a JSON body.

use super::{AppState, blocking};
use crate::extract::{Body, Params, reading};
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use engram::{Page, Query};
use serde::{Deserialize, Serialize};
use serde_json::Value;

type CollPath = Params<(String, String)>;

/// A filter alone.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterBody {
    /// Filter expression; null or {} matches everything.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub filter: Value,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CountResult {
    pub count: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ExistsResult {
    pub exists: bool,
}

#[utoipa::path(post, path = "/v1/spaces/{space}/collections/{collection}/query", tag = "queries",
    params(("space" = String, Path), ("collection" = String, Path), ("Engram-Consistency" = Option<String>, Header, description = "strong (default) or eventual: a read replica may answer, missing the latest writes")), request_body = Query,
    responses((status = 200, body = Page), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn query_documents(
    State(s): State<AppState>,
    Params((space, coll)): CollPath,
    headers: HeaderMap,
    Body(q): Body<Query>,
) -> ApiResult<Json<Page>> {
    let eventual = crate::extract::eventual(&headers)?;
    Ok(Json(blocking(move || reading(s.engine.space(&space)?, eventual).query(&coll, &q)).await?))
}

#[utoipa::path(post, path = "/v1/spaces/{space}/collections/{collection}/count", tag = "queries",
    params(("space" = String, Path), ("collection" = String, Path), ("Engram-Consistency" = Option<String>, Header, description = "strong (default) or eventual: a read replica may answer, missing the latest writes")), request_body = FilterBody,
    responses((status = 200, body = CountResult), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn count_documents(
    State(s): State<AppState>,
    Params((space, coll)): CollPath,
    headers: HeaderMap,
    Body(b): Body<FilterBody>,
) -> ApiResult<Json<CountResult>> {
    let eventual = crate::extract::eventual(&headers)?;
    let count = blocking(move || reading(s.engine.space(&space)?, eventual).count(&coll, &b.filter)).await?;
    Ok(Json(CountResult { count }))
}

#[utoipa::path(post, path = "/v1/spaces/{space}/collections/{collection}/exists", tag = "queries",
    params(("space" = String, Path), ("collection" = String, Path), ("Engram-Consistency" = Option<String>, Header, description = "strong (default) or eventual: a read replica may answer, missing the latest writes")), request_body = FilterBody,
    responses((status = 200, body = ExistsResult), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn exists_documents(
    State(s): State<AppState>,
    Params((space, coll)): CollPath,
    headers: HeaderMap,
    Body(b): Body<FilterBody>,
) -> ApiResult<Json<ExistsResult>> {
    let eventual = crate::extract::eventual(&headers)?;
    let exists = blocking(move || reading(s.engine.space(&space)?, eventual).exists(&coll, &b.filter)).await?;
    Ok(Json(ExistsResult { exists }))
}
