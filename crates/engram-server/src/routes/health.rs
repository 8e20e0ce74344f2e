//! Liveness and the OpenAPI document.

use axum::Json;
use serde::Serialize;

/// Liveness answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
    /// The storage backend (`sqlite`, `postgres`, `memory`), on readiness.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<&'static str>,
    /// The object store (`fs`, `memory`, `s3`, `azure`), on readiness.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objects: Option<&'static str>,
}

/// Liveness: the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok", backend: None, objects: None })
}

/// The OpenAPI 3.1 document of this server, generated from the code.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI document", body = Object, content_type = "application/json")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}

/// Readiness: the engine answers a storage read and the object store a
/// listing (503 while either is unreachable); names both.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = crate::problem::Problem)))]
pub async fn readyz(
    axum::extract::State(s): axum::extract::State<super::AppState>,
) -> crate::problem::ApiResult<Json<Health>> {
    let backend = s.engine.capabilities().name;
    let store = s.objects.service.store().clone();
    super::blocking(move || s.engine.spaces()).await?;
    store.check().await?;
    Ok(Json(Health { status: "ready", backend: Some(backend), objects: Some(store.kind()) }))
}

/// Prometheus metrics (text exposition format). Needs an all-spaces key.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 401, body = crate::problem::Problem), (status = 403, body = crate::problem::Problem)))]
pub async fn metrics(
    axum::extract::State(s): axum::extract::State<super::AppState>,
) -> crate::problem::ApiResult<([(axum::http::HeaderName, &'static str); 1], String)> {
    let objects = s.objects.render_metrics();
    let mut text = super::blocking(move || Ok(s.metrics.render(&s.engine))).await?;
    text.push_str(&objects);
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}

/// A browsable API reference, rendered in the browser from `/openapi.json`
/// by a self-contained page (no external scripts or fonts).
#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 200, description = "HTML page", content_type = "text/html")))]
pub async fn api_reference() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("../api_reference.html"))
}
