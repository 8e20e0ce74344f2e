//! Collections: declare (schema, default TTL, indexes), list, get, drop.

use super::{AppState, blocking};
use crate::extract::{Body, Params};
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use engram::{CollectionInfo, CollectionSpec, ErrorKind};
use serde::Serialize;

/// The list of a space's collections.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CollectionList {
    pub collections: Vec<CollectionInfo>,
}

#[utoipa::path(get, path = "/v1/spaces/{space}/collections", tag = "collections", params(("space" = String, Path)),
    responses((status = 200, body = CollectionList), (status = 404, body = Problem)))]
pub async fn list_collections(
    State(s): State<AppState>,
    Params(space): Params<String>,
) -> ApiResult<Json<CollectionList>> {
    let collections = blocking(move || s.engine.space(&space)?.collections()).await?;
    Ok(Json(CollectionList { collections }))
}

#[utoipa::path(get, path = "/v1/spaces/{space}/collections/{collection}", tag = "collections",
    params(("space" = String, Path), ("collection" = String, Path)),
    responses((status = 200, body = CollectionInfo), (status = 404, body = Problem)))]
pub async fn get_collection(
    State(s): State<AppState>,
    Params((space, coll)): Params<(String, String)>,
) -> ApiResult<Json<CollectionInfo>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.collection(&coll)).await?))
}

/// Creates the collection, or replaces its spec when it exists (new
/// indexes are built from the stored documents in the same transaction).
#[utoipa::path(put, path = "/v1/spaces/{space}/collections/{collection}", tag = "collections",
    params(("space" = String, Path), ("collection" = String, Path)),
    request_body(content = CollectionSpec, description = "The spec; unknown fields are refused"),
    responses((status = 201, body = CollectionInfo), (status = 200, body = CollectionInfo), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn put_collection(
    State(s): State<AppState>,
    Params((space, coll)): Params<(String, String)>,
    Body(spec): Body<CollectionSpec>,
) -> ApiResult<(StatusCode, Json<CollectionInfo>)> {
    let out = blocking(move || {
        let space = s.engine.space(&space)?;
        match space.create_collection(&coll, spec.clone()) {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                Ok((StatusCode::OK, space.update_collection(&coll, spec)?))
            }
            other => other.map(|info| (StatusCode::CREATED, info)),
        }
    })
    .await?;
    Ok((out.0, Json(out.1)))
}

#[utoipa::path(delete, path = "/v1/spaces/{space}/collections/{collection}", tag = "collections",
    params(("space" = String, Path), ("collection" = String, Path)),
    responses((status = 204, description = "Dropped with its documents"), (status = 404, body = Problem)))]
pub async fn drop_collection(
    State(s): State<AppState>,
    Params((space, coll)): Params<(String, String)>,
) -> ApiResult<StatusCode> {
    blocking(move || s.engine.space(&space)?.drop_collection(&coll)).await?;
    Ok(StatusCode::NO_CONTENT)
}
