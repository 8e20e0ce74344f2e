//! The graph: edges between documents, weight changes, neighbourhoods and
//! shortest paths.

use super::{AppState, blocking};
use crate::extract::{Body, Params, idempotency_key, mark_replayed};
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use engram::{DecayReport, DecayRequest, Edge, EdgeInput, Neighbors, NeighborsRequest, PathRequest, PathResult};
use serde::Deserialize;

type SpacePath = Params<String>;
type EdgePath = Params<(String, String)>;

/// Body of a strengthen request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Strengthen {
    /// Added to the weight (negative weakens); the result is clamped at 0.
    pub delta: f64,
}

#[utoipa::path(post, path = "/v1/spaces/{space}/graph/edges", tag = "graph",
    params(("space" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = EdgeInput,
    responses((status = 201, body = Edge), (status = 200, body = Edge), (status = 400, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_edge(
    State(s): State<AppState>,
    Params(space): SpacePath,
    headers: HeaderMap,
    Body(edge): Body<EdgeInput>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let (edge, replayed) = blocking(move || s.engine.space(&space)?.link_once(edge, key.as_deref())).await?;
    let status = if edge.version == 1 { StatusCode::CREATED } else { StatusCode::OK };
    let mut res = (status, Json(edge)).into_response();
    mark_replayed(&mut res, replayed);
    Ok(res)
}

#[utoipa::path(get, path = "/v1/spaces/{space}/graph/edges/{edge}", tag = "graph",
    params(("space" = String, Path), ("edge" = String, Path)),
    responses((status = 200, body = Edge), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn get_edge(State(s): State<AppState>, Params((space, id)): EdgePath) -> ApiResult<Json<Edge>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.edge(&id)).await?))
}

#[utoipa::path(delete, path = "/v1/spaces/{space}/graph/edges/{edge}", tag = "graph",
    params(("space" = String, Path), ("edge" = String, Path)),
    responses((status = 204), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_edge(State(s): State<AppState>, Params((space, id)): EdgePath) -> ApiResult<StatusCode> {
    blocking(move || s.engine.space(&space)?.unlink_edge(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/spaces/{space}/graph/edges/{edge}/strengthen", tag = "graph",
    params(("space" = String, Path), ("edge" = String, Path)), request_body = Strengthen,
    responses((status = 200, body = Edge), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn strengthen_edge(
    State(s): State<AppState>,
    Params((space, id)): EdgePath,
    Body(body): Body<Strengthen>,
) -> ApiResult<Json<Edge>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.strengthen(&id, body.delta)).await?))
}

#[utoipa::path(post, path = "/v1/spaces/{space}/graph/decay", tag = "graph", params(("space" = String, Path)),
    request_body = DecayRequest,
    responses((status = 200, body = DecayReport), (status = 400, body = Problem), (status = 413, body = Problem)))]
pub async fn decay_edges(
    State(s): State<AppState>,
    Params(space): SpacePath,
    Body(req): Body<DecayRequest>,
) -> ApiResult<Json<DecayReport>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.decay(req)).await?))
}

#[utoipa::path(post, path = "/v1/spaces/{space}/graph/neighbors", tag = "graph", params(("space" = String, Path)),
    request_body = NeighborsRequest,
    responses((status = 200, body = Neighbors), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn graph_neighbors(
    State(s): State<AppState>,
    Params(space): SpacePath,
    Body(req): Body<NeighborsRequest>,
) -> ApiResult<Json<Neighbors>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.neighbors(&req)).await?))
}

#[utoipa::path(post, path = "/v1/spaces/{space}/graph/path", tag = "graph", params(("space" = String, Path)),
    request_body = PathRequest,
    responses((status = 200, body = PathResult), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn graph_path(
    State(s): State<AppState>,
    Params(space): SpacePath,
    Body(req): Body<PathRequest>,
) -> ApiResult<Json<PathResult>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.shortest_path(&req)).await?))
}
