//! Queues: enqueue, receive with long polling, ack, nack, extend, settings
//! and stats, dead letters, redrive, purge. A `/` in a queue name is sent
//! as `%2F`.

use super::{AppState, blocking};
use crate::extract::{Body, Params, QueryString};
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::State;
use engram::{
    AckOutcome, DeadLetter, Enqueued, Message, MessageInput, NackOutcome, NackRequest, QueueConfig, QueueInfo,
    QueueStats, ReceiveRequest, Space,
};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

type QueuePath = Params<(String, String)>;

/// Dead letters listed when the caller gives no limit.
const DEAD_LETTERS_DEFAULT: usize = 100;

/// Body of an enqueue.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnqueueRequest {
    /// 1 to 1,000 messages, enqueued in one transaction.
    pub messages: Vec<MessageInput>,
}

/// Result of an enqueue, one entry per message in order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnqueueResult {
    pub messages: Vec<Enqueued>,
}

/// Messages handed out by a receive (empty when none was ready in time).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReceiveResult {
    pub messages: Vec<Message>,
}

/// Body of an acknowledgement.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// 1 to 1,000 receipts from receives of this queue.
    pub receipts: Vec<String>,
}

/// What an acknowledgement did, per receipt in order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AckResult {
    pub results: Vec<AckOutcome>,
}

/// Body of a nack.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NackBody {
    pub receipt: String,
    /// Retry after this many seconds instead of the queue's backoff.
    #[serde(default)]
    pub delay_seconds: Option<u64>,
    /// Why the delivery failed (at most 1 KiB; kept with a dead letter).
    #[serde(default)]
    pub error: Option<String>,
}

/// Body of a lease extension (a heartbeat).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    pub receipt: String,
    /// The lease's new length from now (1 s to 12 h).
    pub visibility_timeout_seconds: u64,
}

/// The extended lease.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExtendResult {
    pub lease_expires_at_ms: u64,
}

/// Body of a redrive.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedriveBody {
    /// Dead letters to return, oldest first (1 to 1,000; default 1,000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Body of a purge.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurgeBody {
    /// Also delete the dead letters (default false).
    #[serde(default)]
    pub dead_letters: bool,
}

/// How many messages a purge, redrive or delete moved or removed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueCount {
    pub count: u64,
}

/// The queues of a space.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueList {
    pub queues: Vec<QueueInfo>,
}

/// Which dead letters to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterParams {
    /// At most this many (1 to 1,000, default 100), oldest first.
    pub limit: Option<usize>,
}

/// The dead letters of a queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadLetterList {
    pub messages: Vec<DeadLetter>,
}

#[utoipa::path(get, path = "/v1/spaces/{space}/queues", tag = "queues",
    params(("space" = String, Path)),
    responses((status = 200, body = QueueList), (status = 404, body = Problem)))]
pub async fn list_queues(State(s): State<AppState>, Params(space): Params<String>) -> ApiResult<Json<QueueList>> {
    let queues = blocking(move || s.engine.space(&space)?.queues()).await?;
    Ok(Json(QueueList { queues }))
}

#[utoipa::path(get, path = "/v1/spaces/{space}/queues/{queue}", tag = "queues",
    params(("space" = String, Path), ("queue" = String, Path)),
    responses((status = 200, body = QueueStats), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn get_queue(State(s): State<AppState>, Params((space, queue)): QueuePath) -> ApiResult<Json<QueueStats>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.queue_stats(&queue)).await?))
}

#[utoipa::path(put, path = "/v1/spaces/{space}/queues/{queue}", tag = "queues",
    params(("space" = String, Path), ("queue" = String, Path)), request_body = QueueConfig,
    responses((status = 200, body = QueueInfo), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn put_queue(
    State(s): State<AppState>,
    Params((space, queue)): QueuePath,
    Body(config): Body<QueueConfig>,
) -> ApiResult<Json<QueueInfo>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.configure_queue(&queue, config)).await?))
}

#[utoipa::path(delete, path = "/v1/spaces/{space}/queues/{queue}", tag = "queues",
    params(("space" = String, Path), ("queue" = String, Path)),
    responses((status = 200, body = QueueCount), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_queue(State(s): State<AppState>, Params((space, queue)): QueuePath) -> ApiResult<Json<QueueCount>> {
    let count = blocking(move || s.engine.space(&space)?.delete_queue(&queue)).await?;
    Ok(Json(QueueCount { count }))
}

#[utoipa::path(post, path = "/v1/spaces/{space}/queues/{queue}/messages", tag = "queues",
    params(("space" = String, Path), ("queue" = String, Path)), request_body = EnqueueRequest,
    responses((status = 200, body = EnqueueResult), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 413, body = Problem)))]
pub async fn enqueue_messages(
    State(s): State<AppState>,
    Params((space, queue)): QueuePath,
    Body(req): Body<EnqueueRequest>,
) -> ApiResult<Json<EnqueueResult>> {
    let messages = blocking(move || s.engine.space(&space)?.enqueue(&queue, req.messages)).await?;
    Ok(Json(EnqueueResult { messages }))
}

#[utoipa::path(post, path = "/v1/spaces/{space}/queues/{queue}/receive", tag = "queues",
    params(("space" = String, Path), ("queue" = String, Path)), request_body = ReceiveRequest,
    responses((status = 200, body = ReceiveResult), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn receive_messages(
    State(s): State<AppState>,
    Params((space, queue)): QueuePath,
    Body(req): Body<ReceiveRequest>,
) -> ApiResult<Json<ReceiveResult>> {
    let deadline = super::long_poll_deadline(&s.limits, Duration::from_secs(req.wait_seconds.unwrap_or(0)));
    let engine = s.engine.clone();
    let space: Space = blocking(move || engine.space(&space)).await?;
    let messages = long_poll(space, queue, req, deadline, &s.stopping).await?;
    Ok(Json(ReceiveResult { messages }))
}

/// Receives until a message comes or `deadline` passes, sleeping between
/// attempts in the queue's line of receivers (a change of the space wakes
/// the first; a retry or lease coming due ends the sleep), never in a
/// polling loop.
async fn long_poll(
    space: Space,
    queue: String,
    req: ReceiveRequest,
    deadline: Instant,
    stopping: &super::Stopping,
) -> ApiResult<Vec<Message>> {
    // Receivers of one queue wait in line: a change wakes one of them.
    let line = space.watch().line(&queue);
    loop {
        let seen = line.generation();
        let (sp, q) = (space.clone(), queue.clone());
        let attempt = blocking(move || sp.receive_now(&q, req)).await?;
        attempt.pass_on(&line, req);
        let now = Instant::now();
        if !attempt.messages.is_empty() || now >= deadline || stopping.is_stopping() {
            return Ok(attempt.messages);
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        // A wake-up this request can no longer take (it was cancelled)
        // goes to the next in line.
        let _in_line = line.on_wake(seen, move || tx.send(()).is_ok());
        let sleep = attempt.sleep(now, deadline);
        tokio::select! {
            _ = tokio::time::timeout(sleep, rx) => {}
            () = stopping.stopped() => {}
        }
    }
}

#[utoipa::path(post, path = "/v1/spaces/{space}/queues/{queue}/ack", tag = "queues",
    params(("space" = String, Path), ("queue" = String, Path)), request_body = AckRequest,
    responses((status = 200, body = AckResult), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn ack_messages(
    State(s): State<AppState>,
    Params((space, queue)): QueuePath,
    Body(req): Body<AckRequest>,
) -> ApiResult<Json<AckResult>> {
    let results = blocking(move || s.engine.space(&space)?.ack(&queue, req.receipts)).await?;
    Ok(Json(AckResult { results }))
}

#[utoipa::path(post, path = "/v1/spaces/{space}/queues/{queue}/nack", tag = "queues",
    params(("space" = String, Path), ("queue" = String, Path)), request_body = NackBody,
    responses((status = 200, body = NackOutcome), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn nack_message(
    State(s): State<AppState>,
    Params((space, queue)): QueuePath,
    Body(b): Body<NackBody>,
) -> ApiResult<Json<NackOutcome>> {
    let req = NackRequest { delay_seconds: b.delay_seconds, error: b.error };
    Ok(Json(blocking(move || s.engine.space(&space)?.nack(&queue, &b.receipt, req)).await?))
}

#[utoipa::path(post, path = "/v1/spaces/{space}/queues/{queue}/extend", tag = "queues",
    params(("space" = String, Path), ("queue" = String, Path)), request_body = ExtendBody,
    responses((status = 200, body = ExtendResult), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn extend_lease(
    State(s): State<AppState>,
    Params((space, queue)): QueuePath,
    Body(b): Body<ExtendBody>,
) -> ApiResult<Json<ExtendResult>> {
    let until =
        blocking(move || s.engine.space(&space)?.extend_lease(&queue, &b.receipt, b.visibility_timeout_seconds))
            .await?;
    Ok(Json(ExtendResult { lease_expires_at_ms: until }))
}

#[utoipa::path(get, path = "/v1/spaces/{space}/queues/{queue}/dead-letters", tag = "queues",
    params(("space" = String, Path), ("queue" = String, Path), DeadLetterParams),
    responses((status = 200, body = DeadLetterList), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn list_dead_letters(
    State(s): State<AppState>,
    Params((space, queue)): QueuePath,
    QueryString(p): QueryString<DeadLetterParams>,
) -> ApiResult<Json<DeadLetterList>> {
    let limit = p.limit.unwrap_or(DEAD_LETTERS_DEFAULT);
    let messages = blocking(move || s.engine.space(&space)?.dead_letters(&queue, limit)).await?;
    Ok(Json(DeadLetterList { messages }))
}

#[utoipa::path(post, path = "/v1/spaces/{space}/queues/{queue}/redrive", tag = "queues",
    params(("space" = String, Path), ("queue" = String, Path)), request_body = RedriveBody,
    responses((status = 200, body = QueueCount), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn redrive_dead_letters(
    State(s): State<AppState>,
    Params((space, queue)): QueuePath,
    Body(b): Body<RedriveBody>,
) -> ApiResult<Json<QueueCount>> {
    let limit = b.limit.unwrap_or(engram::limits::QUEUE_CHUNK_MAX);
    let n = blocking(move || s.engine.space(&space)?.redrive(&queue, limit)).await?;
    Ok(Json(QueueCount { count: n as u64 }))
}

#[utoipa::path(post, path = "/v1/spaces/{space}/queues/{queue}/purge", tag = "queues",
    params(("space" = String, Path), ("queue" = String, Path)), request_body = PurgeBody,
    responses((status = 200, body = QueueCount), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn purge_queue(
    State(s): State<AppState>,
    Params((space, queue)): QueuePath,
    Body(b): Body<PurgeBody>,
) -> ApiResult<Json<QueueCount>> {
    let count = blocking(move || s.engine.space(&space)?.purge_queue(&queue, b.dead_letters)).await?;
    Ok(Json(QueueCount { count }))
}
