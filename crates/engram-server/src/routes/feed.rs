//! The change feed over HTTP: pages with long polling, a Server-Sent Events
//! stream resumable with `Last-Event-ID`, outbox publishing, and durable
//! consumers (create, poll, acknowledge, delete).

use super::{AppState, blocking};
use crate::extract::{Body, Params, QueryString};
use crate::problem::{ApiError, ApiResult, Problem};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use engram::{ConsumerInfo, FeedEntry, FeedFilter, FeedOp, FeedPage, FeedSource, NewConsumer, Published, Space};
use futures_util::stream::Stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::{Duration, Instant};

/// Entries per page when the caller gives no limit.
const FEED_LIMIT_DEFAULT: usize = 100;
/// Longest a feed long poll waits, in seconds.
const FEED_WAIT_SECONDS_MAX: u64 = 20;
/// Entries a stream reads per step.
const STREAM_CHUNK: usize = 100;

type ConsumerPath = Params<(String, String)>;

/// Which entries to read: the filter as query parameters (lists are
/// comma-separated), where to start, and how long to wait.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// Entries after this position (default 0; a stream also takes the
    /// `Last-Event-ID` header).
    pub after: Option<u64>,
    /// `documents` (default) or `outbox`.
    pub source: Option<FeedSource>,
    /// Documents: comma-separated collections (default all).
    pub collections: Option<String>,
    /// Documents: comma-separated operations: put, patch, delete, expire.
    pub ops: Option<String>,
    /// Outbox: comma-separated topics (default all).
    pub topics: Option<String>,
    /// Documents: attach each document while it is still current.
    pub include_documents: Option<bool>,
    /// Page size, 1 to 1,000 (default 100).
    pub limit: Option<usize>,
    /// Long poll: wait up to this many seconds (0 to 20) when nothing is
    /// selected yet.
    pub wait_seconds: Option<u64>,
}

impl FeedParams {
    fn filter(&self) -> ApiResult<FeedFilter> {
        let list = |s: &Option<String>| -> Vec<String> {
            s.as_deref()
                .map(|s| s.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let ops = list(&self.ops)
            .iter()
            .map(|o| {
                serde_json::from_value::<FeedOp>(Value::String(o.clone())).map_err(|_| {
                    ApiError::invalid(format!("unknown operation {o:?} in ops: use put, patch, delete or expire"))
                })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        let filter = FeedFilter {
            source: self.source.unwrap_or_default(),
            collections: list(&self.collections),
            ops,
            topics: list(&self.topics),
            include_documents: self.include_documents.unwrap_or(false),
        };
        filter.check().map_err(ApiError::from)?;
        Ok(filter)
    }
}

/// A feed long poll's wait, checked.
fn feed_wait(seconds: Option<u64>) -> ApiResult<Duration> {
    match seconds {
        Some(w) if w > FEED_WAIT_SECONDS_MAX => {
            Err(ApiError::invalid(format!("wait_seconds must be at most {FEED_WAIT_SECONDS_MAX}")))
        }
        w => Ok(Duration::from_secs(w.unwrap_or(0))),
    }
}

#[utoipa::path(get, path = "/v1/spaces/{space}/feed", tag = "feed",
    params(("space" = String, Path), FeedParams),
    responses((status = 200, body = FeedPage), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn read_feed(
    State(s): State<AppState>,
    Params(space): Params<String>,
    QueryString(p): QueryString<FeedParams>,
) -> ApiResult<Json<FeedPage>> {
    let filter = p.filter()?;
    let deadline = super::long_poll_deadline(&s.limits, feed_wait(p.wait_seconds)?);
    let engine = s.engine.clone();
    let space: Space = blocking(move || engine.space(&space)).await?;
    let page = long_poll(&space, p.after.unwrap_or(0), filter, p.limit.unwrap_or(FEED_LIMIT_DEFAULT), deadline).await?;
    Ok(Json(page))
}

/// Reads pages until one selects entries or `deadline` passes, sleeping on
/// the space's change signal in between.
async fn long_poll(
    space: &Space,
    after: u64,
    filter: FeedFilter,
    limit: usize,
    deadline: Instant,
) -> ApiResult<FeedPage> {
    let signal = space.watch();
    let mut after = after;
    loop {
        let seen = signal.generation();
        let (sp, f) = (space.clone(), filter.clone());
        let page = blocking(move || sp.feed(after, &f, limit)).await?;
        let now = Instant::now();
        if !page.entries.is_empty() || now >= deadline {
            return Ok(page);
        }
        after = page.next_after;
        wait_for_change(space, seen, deadline - now).await;
    }
}

/// Sleeps until the space's signal moves past `seen`, or `most` passes.
async fn wait_for_change(space: &Space, seen: u64, most: Duration) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let _listening = space.watch().on_change(seen, move || {
        let _ = tx.send(());
    });
    let _ = tokio::time::timeout(most, rx).await;
}

#[utoipa::path(get, path = "/v1/spaces/{space}/feed/events", tag = "feed",
    params(("space" = String, Path), FeedParams, ("Last-Event-ID" = Option<String>, Header)),
    responses((status = 200, description = "Server-Sent Events: each event's `id` is its position and its data a FeedEntry (JSON); the stream ends after the server's stream limit, and the client reconnects with Last-Event-ID", content_type = "text/event-stream", body = String),
        (status = 400, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem)))]
pub async fn stream_feed(
    State(s): State<AppState>,
    Params(space): Params<String>,
    headers: HeaderMap,
    QueryString(p): QueryString<FeedParams>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let filter = p.filter()?;
    let after = match headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .ok_or_else(|| ApiError::invalid("Last-Event-ID must be a change-log position"))?,
        None => p.after.unwrap_or(0),
    };
    let Ok(permit) = s.feed_streams.clone().try_acquire_owned() else {
        s.metrics.reject("overloaded");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the server is at its limit of feed streams",
        ));
    };
    let engine = s.engine.clone();
    let space: Space = blocking(move || engine.space(&space)).await?;
    let state = StreamState {
        space,
        filter,
        after,
        ready: VecDeque::new(),
        ends: Instant::now() + s.limits.feed_stream_max,
        done: false,
        stopping: s.stopping.clone(),
        _permit: permit,
    };
    let events = futures_util::stream::unfold(state, |mut st| async move { st.next().await.map(|e| (Ok(e), st)) });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// A feed stream's progress.
struct StreamState {
    space: Space,
    filter: FeedFilter,
    after: u64,
    ready: VecDeque<FeedEntry>,
    ends: Instant,
    done: bool,
    stopping: std::sync::Arc<super::Stopping>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl StreamState {
    /// The next event, waiting for one; `None` ends the stream.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                let data = serde_json::to_string(&e).expect("entries serialize");
                return Some(Event::default().id(e.position.to_string()).event("change").data(data));
            }
            let now = Instant::now();
            if self.done || now >= self.ends || self.stopping.is_stopping() {
                return None;
            }
            let seen = self.space.watch().generation();
            let (sp, f, after) = (self.space.clone(), self.filter.clone(), self.after);
            match blocking(move || sp.feed(after, &f, STREAM_CHUNK)).await {
                Ok(page) => {
                    self.after = page.next_after;
                    if page.entries.is_empty() {
                        tokio::select! {
                            () = wait_for_change(&self.space, seen, self.ends - now) => {}
                            () = self.stopping.stopped() => {}
                        }
                    }
                    self.ready.extend(page.entries);
                }
                Err(e) => {
                    // The stream cannot carry a status any more: an `error`
                    // event with the problem, then the end.
                    self.done = true;
                    let problem = serde_json::json!({
                        "type": format!("{}{}", crate::problem::PROBLEM_TYPE_PREFIX, e.kind),
                        "status": e.status.as_u16(),
                        "detail": e.detail,
                    });
                    return Some(Event::default().event("error").data(problem.to_string()));
                }
            }
        }
    }
}

/// Body of an outbox publish.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    /// A label such as `order.created`.
    pub topic: String,
    /// Any JSON value, at most 256 KiB serialized.
    #[schema(value_type = Value)]
    pub payload: Value,
}

#[utoipa::path(post, path = "/v1/spaces/{space}/outbox", tag = "feed",
    params(("space" = String, Path)), request_body = PublishBody,
    responses((status = 201, body = Published), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 413, body = Problem)))]
pub async fn publish_message(
    State(s): State<AppState>,
    Params(space): Params<String>,
    Body(b): Body<PublishBody>,
) -> ApiResult<(StatusCode, Json<Published>)> {
    let published = blocking(move || s.engine.space(&space)?.publish(&b.topic, b.payload)).await?;
    Ok((StatusCode::CREATED, Json(published)))
}

/// The consumers of a space.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsumerList {
    pub consumers: Vec<ConsumerInfo>,
}

/// Body of a consumer poll.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PollBody {
    /// 1 to 1,000 (default 100).
    pub limit: Option<usize>,
    /// Wait up to this many seconds (0 to 20) when there is nothing new.
    #[schema(maximum = 20)]
    pub wait_seconds: Option<u64>,
}

/// Body of a consumer acknowledgement.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumerAck {
    /// The position processed (a page's `next_after`): the consumer resumes
    /// after it.
    pub position: u64,
}

#[utoipa::path(get, path = "/v1/spaces/{space}/consumers", tag = "feed",
    params(("space" = String, Path)),
    responses((status = 200, body = ConsumerList), (status = 404, body = Problem)))]
pub async fn list_consumers(State(s): State<AppState>, Params(space): Params<String>) -> ApiResult<Json<ConsumerList>> {
    let consumers = blocking(move || s.engine.space(&space)?.consumers()).await?;
    Ok(Json(ConsumerList { consumers }))
}

#[utoipa::path(get, path = "/v1/spaces/{space}/consumers/{consumer}", tag = "feed",
    params(("space" = String, Path), ("consumer" = String, Path)),
    responses((status = 200, body = ConsumerInfo), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn get_consumer(
    State(s): State<AppState>,
    Params((space, name)): ConsumerPath,
) -> ApiResult<Json<ConsumerInfo>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.consumer(&name)).await?))
}

#[utoipa::path(put, path = "/v1/spaces/{space}/consumers/{consumer}", tag = "feed",
    params(("space" = String, Path), ("consumer" = String, Path)), request_body = NewConsumer,
    responses((status = 201, body = ConsumerInfo), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn create_consumer(
    State(s): State<AppState>,
    Params((space, name)): ConsumerPath,
    Body(req): Body<NewConsumer>,
) -> ApiResult<(StatusCode, Json<ConsumerInfo>)> {
    let info = blocking(move || s.engine.space(&space)?.create_consumer(&name, req)).await?;
    Ok((StatusCode::CREATED, Json(info)))
}

#[utoipa::path(delete, path = "/v1/spaces/{space}/consumers/{consumer}", tag = "feed",
    params(("space" = String, Path), ("consumer" = String, Path)),
    responses((status = 204), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_consumer(State(s): State<AppState>, Params((space, name)): ConsumerPath) -> ApiResult<StatusCode> {
    blocking(move || s.engine.space(&space)?.delete_consumer(&name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/spaces/{space}/consumers/{consumer}/poll", tag = "feed",
    params(("space" = String, Path), ("consumer" = String, Path)), request_body = PollBody,
    responses((status = 200, body = FeedPage), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn poll_consumer(
    State(s): State<AppState>,
    Params((space, name)): ConsumerPath,
    Body(b): Body<PollBody>,
) -> ApiResult<Json<FeedPage>> {
    let deadline = super::long_poll_deadline(&s.limits, feed_wait(b.wait_seconds)?);
    let engine = s.engine.clone();
    let n = name.clone();
    let (space, info) = blocking(move || {
        let space = engine.space(&space)?;
        let info = space.consumer(&n)?;
        Ok((space, info))
    })
    .await?;
    let limit = b.limit.unwrap_or(FEED_LIMIT_DEFAULT);
    Ok(Json(long_poll(&space, info.position, info.filter, limit, deadline).await?))
}

#[utoipa::path(post, path = "/v1/spaces/{space}/consumers/{consumer}/ack", tag = "feed",
    params(("space" = String, Path), ("consumer" = String, Path)), request_body = ConsumerAck,
    responses((status = 200, body = ConsumerInfo), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn ack_consumer(
    State(s): State<AppState>,
    Params((space, name)): ConsumerPath,
    Body(b): Body<ConsumerAck>,
) -> ApiResult<Json<ConsumerInfo>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.consumer_ack(&name, b.position)).await?))
}
