//! Webhook endpoints: create (the secret is shown once), list, read,
//! delete; their delivery attempts and dead letters; replay.

use super::{AppState, blocking};
use crate::extract::{Body, Params, QueryString};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::webhooks::ssrf;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use engram::{DeliveryAttempt, NewWebhook, WebhookCreated, WebhookDeadLetter, WebhookInfo};
use serde::{Deserialize, Serialize};

type WebhookPath = Params<(String, String)>;

/// Records listed when the caller gives no limit.
const LIST_DEFAULT: usize = 100;

/// The endpoints of a space.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookInfo>,
}

/// An endpoint's latest delivery attempts, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttemptList {
    pub attempts: Vec<DeliveryAttempt>,
}

/// An endpoint's dead letters.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookDeadLetterList {
    pub messages: Vec<WebhookDeadLetter>,
}

/// How many records to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WebhookListParams {
    /// 1 to 1,000 (default 100).
    pub limit: Option<usize>,
}

/// Body of a replay.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReplayBody {
    /// One dead letter's message id; all of the endpoint's when absent.
    pub message_id: Option<String>,
}

/// How many dead letters were queued for another delivery.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplayResult {
    pub count: usize,
}

#[utoipa::path(get, path = "/v1/spaces/{space}/webhooks", tag = "webhooks",
    params(("space" = String, Path)),
    responses((status = 200, body = WebhookList), (status = 404, body = Problem)))]
pub async fn list_webhooks(State(s): State<AppState>, Params(space): Params<String>) -> ApiResult<Json<WebhookList>> {
    let webhooks = blocking(move || s.engine.space(&space)?.webhooks()).await?;
    Ok(Json(WebhookList { webhooks }))
}

#[utoipa::path(put, path = "/v1/spaces/{space}/webhooks/{webhook}", tag = "webhooks",
    params(("space" = String, Path), ("webhook" = String, Path)), request_body = NewWebhook,
    responses((status = 201, body = WebhookCreated), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 413, body = Problem)))]
pub async fn create_webhook(
    State(s): State<AppState>,
    Params((space, name)): WebhookPath,
    Body(req): Body<NewWebhook>,
) -> ApiResult<(StatusCode, Json<WebhookCreated>)> {
    engram::check_url(&req.url)?;
    // Where it points, refused now rather than at the first delivery (and
    // checked again at every delivery: names can change what they resolve to).
    let (url, allow) = (req.url.clone(), s.webhooks.allow_private);
    tokio::task::spawn_blocking(move || ssrf::check(&url, allow))
        .await
        .map_err(|_| ApiError::invalid("checking the webhook URL failed"))?
        .map_err(ApiError::invalid)?;
    let created = blocking(move || s.engine.space(&space)?.create_webhook(&name, req)).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(get, path = "/v1/spaces/{space}/webhooks/{webhook}", tag = "webhooks",
    params(("space" = String, Path), ("webhook" = String, Path)),
    responses((status = 200, body = WebhookInfo), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn get_webhook(
    State(s): State<AppState>,
    Params((space, name)): WebhookPath,
) -> ApiResult<Json<WebhookInfo>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.webhook(&name)).await?))
}

#[utoipa::path(delete, path = "/v1/spaces/{space}/webhooks/{webhook}", tag = "webhooks",
    params(("space" = String, Path), ("webhook" = String, Path)),
    responses((status = 204), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_webhook(State(s): State<AppState>, Params((space, name)): WebhookPath) -> ApiResult<StatusCode> {
    blocking(move || s.engine.space(&space)?.delete_webhook(&name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/spaces/{space}/webhooks/{webhook}/attempts", tag = "webhooks",
    params(("space" = String, Path), ("webhook" = String, Path), WebhookListParams),
    responses((status = 200, body = AttemptList), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn list_webhook_attempts(
    State(s): State<AppState>,
    Params((space, name)): WebhookPath,
    QueryString(p): QueryString<WebhookListParams>,
) -> ApiResult<Json<AttemptList>> {
    let limit = p.limit.unwrap_or(LIST_DEFAULT);
    let attempts = blocking(move || s.engine.space(&space)?.webhook_attempts(&name, limit)).await?;
    Ok(Json(AttemptList { attempts }))
}

#[utoipa::path(get, path = "/v1/spaces/{space}/webhooks/{webhook}/dead-letters", tag = "webhooks",
    params(("space" = String, Path), ("webhook" = String, Path), WebhookListParams),
    responses((status = 200, body = WebhookDeadLetterList), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn list_webhook_dead_letters(
    State(s): State<AppState>,
    Params((space, name)): WebhookPath,
    QueryString(p): QueryString<WebhookListParams>,
) -> ApiResult<Json<WebhookDeadLetterList>> {
    let limit = p.limit.unwrap_or(LIST_DEFAULT);
    let messages = blocking(move || s.engine.space(&space)?.webhook_dead_letters(&name, limit)).await?;
    Ok(Json(WebhookDeadLetterList { messages }))
}

#[utoipa::path(post, path = "/v1/spaces/{space}/webhooks/{webhook}/replay", tag = "webhooks",
    params(("space" = String, Path), ("webhook" = String, Path)), request_body = ReplayBody,
    responses((status = 200, body = ReplayResult), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn replay_webhook(
    State(s): State<AppState>,
    Params((space, name)): WebhookPath,
    Body(b): Body<ReplayBody>,
) -> ApiResult<Json<ReplayResult>> {
    let count = blocking(move || s.engine.space(&space)?.replay_webhook(&name, b.message_id.as_deref())).await?;
    Ok(Json(ReplayResult { count }))
}
