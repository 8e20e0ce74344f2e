//! Transactions: a list of operations on any collections of one space,
//! applied atomically.

use super::{AppState, blocking};
use crate::extract::{Body, Params, idempotency_key};
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use engram::{CommitResult, Op};
use serde::Deserialize;

/// Body of `POST /v1/spaces/{space}/transactions`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transaction {
    /// 1 to 10,000 operations; all succeed or none is applied.
    pub ops: Vec<Op>,
}

#[utoipa::path(post, path = "/v1/spaces/{space}/transactions", tag = "transactions",
    params(("space" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = Transaction,
    responses((status = 200, body = CommitResult), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn commit_transaction(
    State(s): State<AppState>,
    Params(space): Params<String>,
    headers: HeaderMap,
    Body(t): Body<Transaction>,
) -> ApiResult<Json<CommitResult>> {
    let key = idempotency_key(&headers)?;
    Ok(Json(blocking(move || s.engine.space(&space)?.commit(t.ops, key.as_deref())).await?))
}
