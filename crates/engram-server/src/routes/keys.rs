//! API keys: create (the key is shown once), list, revoke. All-spaces
//! admin keys only.

use super::{AppState, blocking};
use crate::auth::Role;
use crate::auth::keys::{KeyRecord, Scope, now_ms};
use crate::extract::{Body, Params};
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use engram::Error;
use engram::limits::NAME_CHARS_MAX;
use serde::{Deserialize, Serialize};

/// Body of `POST /v1/keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// A label for people (1 to 64 characters).
    pub name: String,
    /// The one space the key works in; all spaces when absent.
    #[serde(default)]
    pub space: Option<String>,
    pub role: Role,
    /// Seconds until the key stops working; never when absent.
    #[serde(default)]
    pub expires_in_seconds: Option<u64>,
}

/// A created key: the only time the secret is shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    /// Send as `Authorization: Bearer <key>`; it cannot be shown again.
    pub key: String,
    #[serde(flatten)]
    pub record: KeyRecord,
}

/// The list of keys (never their secrets).
#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyRecord>,
}

#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = NewKey,
    responses((status = 201, body = CreatedKey), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem, description = "The named space does not exist")))]
pub async fn create_key(State(s): State<AppState>, Body(k): Body<NewKey>) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let (keys, engine) = (s.keys.clone(), s.engine.clone());
    let created = blocking(move || {
        if k.name.trim().is_empty() || k.name.chars().count() > NAME_CHARS_MAX || k.name.chars().any(char::is_control) {
            return Err(Error::invalid(format!("name must be 1 to {NAME_CHARS_MAX} printable characters")));
        }
        // Bound to the space's identity, not its name: a missing space is a
        // 404, and a space created later under the same name is another.
        let scope = match k.space {
            Some(name) => Some(Scope { id: engine.space(&name)?.id(), name }),
            None => None,
        };
        let expires = match k.expires_in_seconds {
            Some(0) => return Err(Error::invalid("expires_in_seconds must be at least 1")),
            Some(secs) => Some(now_ms().saturating_add(secs.saturating_mul(1000))),
            None => None,
        };
        keys.create(&k.name, scope, k.role, expires)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { key: created.1, record: created.0 })))
}

#[utoipa::path(get, path = "/v1/keys", tag = "keys",
    responses((status = 200, body = KeyList), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_keys(State(s): State<AppState>) -> ApiResult<Json<KeyList>> {
    let keys = s.keys.clone();
    Ok(Json(KeyList { keys: blocking(move || keys.list()).await? }))
}

#[utoipa::path(delete, path = "/v1/keys/{key}", tag = "keys", params(("key" = String, Path)),
    responses((status = 200, body = KeyRecord), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn revoke_key(State(s): State<AppState>, Params(id): Params<String>) -> ApiResult<Json<KeyRecord>> {
    let keys = s.keys.clone();
    Ok(Json(blocking(move || keys.revoke(&id)).await?))
}
