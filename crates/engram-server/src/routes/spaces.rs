//! Spaces: create, list, get, delete.

use super::{AppState, blocking};
use crate::extract::{Body, Params};
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use engram::SpaceInfo;
use serde::{Deserialize, Serialize};

/// Body of `POST /v1/spaces`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSpace {
    pub name: String,
}

/// The list of spaces.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SpaceList {
    pub spaces: Vec<SpaceInfo>,
}

#[utoipa::path(get, path = "/v1/spaces", tag = "spaces", responses((status = 200, body = SpaceList)))]
pub async fn list_spaces(
    State(s): State<AppState>,
    axum::Extension(who): axum::Extension<crate::auth::Principal>,
) -> ApiResult<Json<SpaceList>> {
    let mut spaces = blocking(move || s.engine.spaces()).await?;
    // A key for one space sees that space only.
    spaces.retain(|sp| who.covers(&sp.name));
    Ok(Json(SpaceList { spaces }))
}

#[utoipa::path(post, path = "/v1/spaces", tag = "spaces", request_body = NewSpace,
    responses((status = 201, body = SpaceInfo), (status = 400, body = Problem), (status = 409, body = Problem)))]
pub async fn create_space(
    State(s): State<AppState>,
    Body(body): Body<NewSpace>,
) -> ApiResult<(StatusCode, Json<SpaceInfo>)> {
    let info = blocking(move || s.engine.create_space(&body.name)).await?;
    Ok((StatusCode::CREATED, Json(info)))
}

#[utoipa::path(get, path = "/v1/spaces/{space}", tag = "spaces", params(("space" = String, Path)),
    responses((status = 200, body = SpaceInfo), (status = 404, body = Problem)))]
pub async fn get_space(State(s): State<AppState>, Params(space): Params<String>) -> ApiResult<Json<SpaceInfo>> {
    let info = blocking(move || {
        s.engine.space(&space)?;
        let all = s.engine.spaces()?;
        all.into_iter()
            .find(|i| i.name == space)
            .ok_or_else(|| engram::Error::not_found(format!("space {space:?} does not exist")))
    })
    .await?;
    Ok(Json(info))
}

#[utoipa::path(delete, path = "/v1/spaces/{space}", tag = "spaces", params(("space" = String, Path)),
    responses((status = 204, description = "Deleted with everything in it"), (status = 404, body = Problem)))]
pub async fn delete_space(State(s): State<AppState>, Params(space): Params<String>) -> ApiResult<StatusCode> {
    blocking(move || {
        let id = s.engine.space(&space)?.id();
        s.engine.delete_space(&space)?;
        // The keys of the deleted space die with it. Keys also carry the
        // space's id, so one minted in a race with this deletion cannot
        // reach a space created later under the same name either.
        s.keys.revoke_space(id)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
