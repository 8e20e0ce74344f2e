//! Event streams: append with an expected version, read by version or time,
//! stream heads and snapshots. A `/` in a stream name is sent as `%2F`.

use super::{AppState, blocking};
use crate::extract::{Body, Params, QueryString, idempotency_key, mark_replayed};
use crate::problem::{ApiError, ApiResult, Problem};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use engram::{AppendRequest, AppendResult, EventPage, ReadDirection, Snapshot, StreamInfo};
use serde::Deserialize;
use serde_json::Value;

type StreamPath = Params<(String, String)>;

/// Events returned when the caller gives no limit.
const READ_LIMIT_DEFAULT: usize = 100;

/// How to read a stream: by version (`from_version`, `direction`) or by
/// time (`from_ms` and `until_ms`), not both.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReadParams {
    /// First version to return (default: 1 forward, the newest backward).
    pub from_version: Option<u64>,
    /// `forward` (default) or `backward`.
    pub direction: Option<ReadDirection>,
    /// Events recorded at or after this time (ms since the Unix epoch).
    pub from_ms: Option<u64>,
    /// Events recorded before this time.
    pub until_ms: Option<u64>,
    /// At most this many events (1 to 1,000, default 100).
    pub limit: Option<usize>,
}

/// Body of a snapshot write.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSnapshot {
    pub version: u64,
    /// Any JSON value.
    #[schema(value_type = Value)]
    pub state: Value,
}

/// Which snapshot to read.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SnapshotParams {
    /// The newest snapshot at or before this version (default: newest).
    pub at_or_before: Option<u64>,
}

#[utoipa::path(post, path = "/v1/spaces/{space}/streams/{stream}/events", tag = "streams",
    params(("space" = String, Path), ("stream" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = AppendRequest,
    responses((status = 200, body = AppendResult), (status = 400, body = Problem), (status = 409, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn append_events(
    State(s): State<AppState>,
    Params((space, stream)): StreamPath,
    headers: HeaderMap,
    Body(req): Body<AppendRequest>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let (r, replayed) = blocking(move || s.engine.space(&space)?.append_once(&stream, req, key.as_deref())).await?;
    let mut res = Json(r).into_response();
    mark_replayed(&mut res, replayed);
    Ok(res)
}

#[utoipa::path(get, path = "/v1/spaces/{space}/streams/{stream}/events", tag = "streams",
    params(("space" = String, Path), ("stream" = String, Path), ReadParams),
    responses((status = 200, body = EventPage), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn read_events(
    State(s): State<AppState>,
    Params((space, stream)): StreamPath,
    QueryString(p): QueryString<ReadParams>,
) -> ApiResult<Json<EventPage>> {
    let limit = p.limit.unwrap_or(READ_LIMIT_DEFAULT);
    let by_time = p.from_ms.is_some() || p.until_ms.is_some();
    if by_time && (p.from_version.is_some() || p.direction.is_some()) {
        return Err(ApiError::invalid(
            "read by version (from_version, direction) or by time (from_ms, until_ms), not both",
        ));
    }
    let page = blocking(move || {
        let space = s.engine.space(&space)?;
        if by_time {
            space.read_stream_time(&stream, p.from_ms.unwrap_or(0), p.until_ms.unwrap_or(u64::MAX), limit)
        } else {
            space.read_stream(&stream, p.from_version, p.direction.unwrap_or_default(), limit)
        }
    })
    .await?;
    Ok(Json(page))
}

#[utoipa::path(get, path = "/v1/spaces/{space}/streams/{stream}", tag = "streams",
    params(("space" = String, Path), ("stream" = String, Path)),
    responses((status = 200, body = StreamInfo), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn get_stream(State(s): State<AppState>, Params((space, stream)): StreamPath) -> ApiResult<Json<StreamInfo>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.stream(&stream)).await?))
}

#[utoipa::path(put, path = "/v1/spaces/{space}/streams/{stream}/snapshot", tag = "streams",
    params(("space" = String, Path), ("stream" = String, Path)), request_body = NewSnapshot,
    responses((status = 200, body = Snapshot), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn put_snapshot(
    State(s): State<AppState>,
    Params((space, stream)): StreamPath,
    Body(body): Body<NewSnapshot>,
) -> ApiResult<Json<Snapshot>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.save_snapshot(&stream, body.version, body.state)).await?))
}

#[utoipa::path(get, path = "/v1/spaces/{space}/streams/{stream}/snapshot", tag = "streams",
    params(("space" = String, Path), ("stream" = String, Path), SnapshotParams),
    responses((status = 200, body = Snapshot), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn get_snapshot(
    State(s): State<AppState>,
    Params((space, stream)): StreamPath,
    QueryString(p): QueryString<SnapshotParams>,
) -> ApiResult<Json<Snapshot>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.snapshot(&stream, p.at_or_before)).await?))
}
