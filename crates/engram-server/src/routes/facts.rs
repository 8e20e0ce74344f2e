//! Facts: assert, retract, and bitemporal queries about a subject.

use super::{AppState, blocking};
use crate::extract::{Body, Params, idempotency_key, mark_replayed};
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use engram::{Fact, FactInput, FactQuery, Facts};
use serde::Deserialize;

/// Body of a retract request.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Retract {
    /// End the fact's validity here instead of withdrawing it.
    #[serde(default)]
    pub valid_until_ms: Option<i64>,
}

#[utoipa::path(post, path = "/v1/spaces/{space}/facts", tag = "facts",
    params(("space" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = FactInput,
    responses((status = 201, body = Fact), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn assert_fact(
    State(s): State<AppState>,
    Params(space): Params<String>,
    headers: HeaderMap,
    Body(fact): Body<FactInput>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let (fact, replayed) = blocking(move || s.engine.space(&space)?.assert_fact_once(fact, key.as_deref())).await?;
    let mut res = (StatusCode::CREATED, Json(fact)).into_response();
    mark_replayed(&mut res, replayed);
    Ok(res)
}

#[utoipa::path(post, path = "/v1/spaces/{space}/facts/query", tag = "facts", params(("space" = String, Path)),
    request_body = FactQuery,
    responses((status = 200, body = Facts), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn query_facts(
    State(s): State<AppState>,
    Params(space): Params<String>,
    Body(q): Body<FactQuery>,
) -> ApiResult<Json<Facts>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.facts(&q)).await?))
}

#[utoipa::path(post, path = "/v1/spaces/{space}/facts/{fact}/retract", tag = "facts",
    params(("space" = String, Path), ("fact" = String, Path)), request_body = Retract,
    responses((status = 200, body = Fact), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn retract_fact(
    State(s): State<AppState>,
    Params((space, id)): Params<(String, String)>,
    Body(body): Body<Retract>,
) -> ApiResult<Json<Fact>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.retract_fact(&id, body.valid_until_ms)).await?))
}
