//! The change log: read by position, verify the chain.

use super::{AppState, blocking};
use crate::extract::{Params, QueryString};
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::State;
use engram::ChainReport;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Entries returned when the caller gives no limit.
const CHANGES_LIMIT_DEFAULT: usize = 100;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangesParams {
    /// Return entries with a position greater than this (default 0).
    pub after: Option<u64>,
    /// At most this many entries (1 to 10,000, default 100).
    pub limit: Option<usize>,
}

/// A run of change-log entries.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChangesPage {
    /// Entries: position, hlc, op, collection, doc_id, version, content_hash, actor
    /// (`key:<id>`, `local`, `engram:<task>`; empty before actors were recorded),
    /// request_id, prev_hash, hash.
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<Value>,
    /// Pass as `after` to continue.
    pub next_after: u64,
}

#[utoipa::path(get, path = "/v1/spaces/{space}/changes", tag = "changes", params(("space" = String, Path), ChangesParams),
    responses((status = 200, body = ChangesPage), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn list_changes(
    State(s): State<AppState>,
    Params(space): Params<String>,
    QueryString(p): QueryString<ChangesParams>,
) -> ApiResult<Json<ChangesPage>> {
    let after = p.after.unwrap_or(0);
    let entries =
        blocking(move || s.engine.space(&space)?.changes(after, p.limit.unwrap_or(CHANGES_LIMIT_DEFAULT))).await?;
    let next_after = entries.last().map_or(after, |e| e.position);
    let entries = entries.iter().map(|e| serde_json::to_value(e).expect("entries serialize")).collect();
    Ok(Json(ChangesPage { entries, next_after }))
}

#[utoipa::path(get, path = "/v1/spaces/{space}/changes/verify", tag = "changes", params(("space" = String, Path)),
    responses((status = 200, body = ChainReport), (status = 404, body = Problem), (status = 500, body = Problem)))]
pub async fn verify_changes(State(s): State<AppState>, Params(space): Params<String>) -> ApiResult<Json<ChainReport>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.verify_changes()).await?))
}
