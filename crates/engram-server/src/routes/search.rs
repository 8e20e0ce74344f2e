//! Search (text, vector, hybrid) and the search-index operations: status,
//! check against the records, rebuild.

use super::{AppState, blocking};
use crate::extract::{Body, Params};
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::State;
use engram::{EmbeddingStatus, IndexCheck, IndexStatus, RebuildReport, SearchRequest, SearchResults};

type CollPath = Params<(String, String)>;
type SpacePath = Params<String>;

#[utoipa::path(post, path = "/v1/spaces/{space}/collections/{collection}/search", tag = "search",
    params(("space" = String, Path), ("collection" = String, Path)), request_body = SearchRequest,
    responses((status = 200, body = SearchResults), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The collection changed during the search; retry"),
        (status = 413, body = Problem)))]
pub async fn search_collection(
    State(s): State<AppState>,
    Params((space, coll)): CollPath,
    Body(req): Body<SearchRequest>,
) -> ApiResult<Json<SearchResults>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.search(&coll, &req)).await?))
}

#[utoipa::path(get, path = "/v1/spaces/{space}/collections/{collection}/search-index", tag = "search",
    params(("space" = String, Path), ("collection" = String, Path)),
    responses((status = 200, body = IndexStatus), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn search_index_status(
    State(s): State<AppState>,
    Params((space, coll)): CollPath,
) -> ApiResult<Json<IndexStatus>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.search_index_status(&coll)).await?))
}

#[utoipa::path(post, path = "/v1/spaces/{space}/search-index/check", tag = "search",
    params(("space" = String, Path)),
    responses((status = 200, body = IndexCheck), (status = 404, body = Problem)))]
pub async fn check_search_index(State(s): State<AppState>, Params(space): SpacePath) -> ApiResult<Json<IndexCheck>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.check_search_index()).await?))
}

#[utoipa::path(post, path = "/v1/spaces/{space}/search-index/rebuild", tag = "search",
    params(("space" = String, Path)),
    responses((status = 200, body = RebuildReport), (status = 404, body = Problem)))]
pub async fn rebuild_search_index(
    State(s): State<AppState>,
    Params(space): SpacePath,
) -> ApiResult<Json<RebuildReport>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.rebuild_search_index()).await?))
}

#[utoipa::path(get, path = "/v1/spaces/{space}/collections/{collection}/embeddings", tag = "search",
    params(("space" = String, Path), ("collection" = String, Path)),
    responses((status = 200, body = EmbeddingStatus,
        description = "Each embedded vector field: its model, a switch in progress, and documents still to embed \
            (counted by reading every document)"),
        (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn embedding_status(
    State(s): State<AppState>,
    Params((space, coll)): CollPath,
) -> ApiResult<Json<EmbeddingStatus>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.embedding_status(&coll)).await?))
}

#[utoipa::path(post, path = "/v1/spaces/{space}/collections/{collection}/embeddings/backfill", tag = "search",
    params(("space" = String, Path), ("collection" = String, Path)),
    responses((status = 200, body = EmbeddingStatus,
        description = "Runs the embedding backfill now (the background worker also does) and returns what is left"),
        (status = 400, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem)))]
pub async fn backfill_embeddings(
    State(s): State<AppState>,
    Params((space, coll)): CollPath,
) -> ApiResult<Json<EmbeddingStatus>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.backfill_embeddings(&coll)).await?))
}
