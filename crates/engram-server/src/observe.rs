//! The outer layers of every request: a request id (taken from
//! `X-Request-Id` when valid, else a new UUIDv7) in the response and the
//! logs, metrics, load shedding and the request timeout.

use crate::problem::ApiError;
use crate::routes::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;
use tracing::Instrument;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest request id accepted from a client.
const REQUEST_ID_CHARS_MAX: usize = 128;

fn valid_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= REQUEST_ID_CHARS_MAX
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| s.to_owned())
}

/// Who is calling, for the change log: the request id (set by
/// [`observe`]) and, once the authorization layer knows it, the actor.
#[derive(Debug)]
struct Caller {
    request_id: String,
    actor: Option<engram::Actor>,
}

tokio::task_local! {
    static CALLER: std::cell::RefCell<Caller>;
}

/// Records the authenticated key of the request being served: its writes
/// name `key:<id>`.
pub fn set_caller_key(key_id: &str) {
    let _ = CALLER.try_with(|c| {
        let mut c = c.borrow_mut();
        // The request id's characters and length were checked, and key ids
        // are short; a key id over the limit records the request as `anonymous`.
        let actor = engram::Actor::new(format!("key:{key_id}"), c.request_id.clone())
            .or_else(|_| engram::Actor::new("anonymous", c.request_id.clone()));
        c.actor = actor.ok();
        if let Some(a) = &c.actor {
            // For the rest of this poll too (`with_caller` set the actor
            // the poll started with).
            engram::set_current_actor(a.clone());
        }
    });
}

/// Marks the request being served as the embedding process's own call
/// (recorded as `local`).
pub fn set_caller_local() {
    let _ = CALLER.try_with(|c| {
        let mut c = c.borrow_mut();
        let actor = engram::Actor::local(&c.request_id);
        engram::set_current_actor(actor.clone());
        c.actor = Some(actor);
    });
}

/// Polls `fut` inside the request's caller scope with the engine's actor
/// set around each poll, so engine calls made while serving the request
/// (and work handed from them to other threads) record who made them.
async fn with_caller<F: Future>(request_id: String, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    // Until the key is known, `anonymous` (no write route is public).
    let anonymous = engram::Actor::new("anonymous", request_id.clone()).ok();
    let caller = Caller { request_id, actor: anonymous };
    let scoped = std::future::poll_fn(move |cx| match CALLER.with(|c| c.borrow().actor.clone()) {
        Some(actor) => engram::with_actor(actor, || fut.as_mut().poll(cx)),
        None => fut.as_mut().poll(cx),
    });
    CALLER.scope(std::cell::RefCell::new(caller), scoped).await
}

/// Request id, access log, metrics.
pub async fn observe(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let id = req.headers().get(&REQUEST_ID).and_then(valid_id).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let started = Instant::now();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let mut res = with_caller(id.clone(), next.run(req).instrument(span.clone())).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = res.status().as_u16();
    s.metrics.observe(&route, &method, status, seconds);
    span.in_scope(|| {
        if res.status().is_server_error() {
            tracing::warn!(status, ms = seconds * 1e3, "request failed");
        } else {
            tracing::debug!(status, ms = seconds * 1e3, "request");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    res
}

/// Whether a request carries a body (one the server may not read).
pub fn has_body(req: &Request) -> bool {
    let h = req.headers();
    h.contains_key(axum::http::header::TRANSFER_ENCODING)
        || h.get(axum::http::header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0")
}

/// A body over LARGE_BODY_BYTES, or of unknown length.
fn is_large(req: &Request) -> bool {
    let h = req.headers();
    let len = h.get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    match len {
        Some(n) => n > crate::limits::LARGE_BODY_BYTES,
        None => h.contains_key(axum::http::header::TRANSFER_ENCODING),
    }
}

/// Whether a request moves an object's bytes (an upload or a staged blob).
fn is_transfer(req: &Request) -> bool {
    let path = req.uri().path();
    let objects = path.starts_with("/v1/spaces/") && (path.contains("/objects/") || path.ends_with("/blobs"));
    objects && matches!(*req.method(), axum::http::Method::PUT | axum::http::Method::POST | axum::http::Method::GET)
}

/// Asks the client not to reuse a connection whose request body was left
/// unread (the server closes it), so keep-alive clients do not fail next.
pub fn close_connection(res: &mut Response) {
    res.headers_mut().insert(axum::http::header::CONNECTION, HeaderValue::from_static("close"));
}

/// Refuses work beyond the concurrency limit at once (503) instead of
/// queueing it, and bounds each request's time.
pub async fn shed(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let overloaded = |what: &str| {
        s.metrics.reject("overloaded");
        let mut res =
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", format!("the server is at its {what}"))
                .into_response();
        if has_body(&req) {
            close_connection(&mut res);
        }
        res
    };
    let Ok(_permit) = s.in_flight.clone().try_acquire_owned() else { return overloaded("concurrency limit") };
    let _large = if is_large(&req) {
        match s.large_in_flight.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => return overloaded("limit of requests with large bodies"),
        }
    } else {
        None
    };
    // Object transfers stream gigabytes: they get their own, longer bound.
    let limit = if is_transfer(&req) { s.objects.transfer_timeout } else { s.limits.request_timeout };
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            s.metrics.reject("timeout");
            let detail = format!("the request took longer than {} s", limit.as_secs_f64());
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "timeout", detail).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::auth::keys::KeyStore;
    use crate::limits::Limits;
    use crate::routes::AppState;
    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use std::sync::Arc;
    use std::time::Duration;
    use tower::ServiceExt;

    /// A router whose one route sleeps, behind the shedding layer.
    fn app(limits: Limits) -> Router {
        let keys = Arc::new(KeyStore::in_memory(None).expect("keys"));
        let state = AppState::new(engram::Engine::in_memory(), keys, limits);
        Router::new()
            .route("/slow", get(|| async { tokio::time::sleep(Duration::from_millis(300)).await }))
            .layer(axum::middleware::from_fn_with_state(state.clone(), super::shed))
            .with_state(state)
    }

    fn get_slow() -> Request<Body> {
        Request::get("/slow").body(Body::empty()).expect("request")
    }

    async fn problem_type(res: axum::response::Response) -> String {
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 16).await.expect("body");
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("problem json");
        v["type"].as_str().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn beyond_the_concurrency_limit_requests_are_shed_at_once() {
        let app = app(Limits { concurrent_requests: 1, ..Limits::default() });
        let first = tokio::spawn(app.clone().oneshot(get_slow()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        let second = app.clone().oneshot(get_slow()).await.expect("response");
        assert_eq!(second.status(), 503);
        assert!(started.elapsed() < Duration::from_millis(200), "shed without waiting");
        assert_eq!(second.headers().get("retry-after").map(|v| v.as_bytes()), Some(&b"1"[..]));
        assert_eq!(problem_type(second).await, "urn:engram:problem:overloaded");
        assert_eq!(first.await.expect("task").expect("response").status(), 200);
        assert_eq!(app.oneshot(get_slow()).await.expect("response").status(), 200, "capacity is back");
    }

    #[tokio::test]
    async fn large_bodies_have_their_own_limit() {
        let app = app(Limits { large_requests: 1, ..Limits::default() });
        let big = || {
            Request::get("/slow")
                .header("content-length", "2000000")
                .body(Body::from(vec![b' '; 2_000_000]))
                .expect("req")
        };
        let first = tokio::spawn(app.clone().oneshot(big()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let second = app.clone().oneshot(big()).await.expect("response");
        assert_eq!(second.status(), 503);
        assert_eq!(second.headers().get("connection").map(|v| v.as_bytes()), Some(&b"close"[..]));
        assert_eq!(app.clone().oneshot(get_slow()).await.expect("response").status(), 200, "small ones still pass");
        assert_eq!(first.await.expect("task").expect("response").status(), 200);
    }

    #[tokio::test]
    async fn slow_requests_time_out() {
        let app = app(Limits { request_timeout: Duration::from_millis(50), ..Limits::default() });
        let res = app.oneshot(get_slow()).await.expect("response");
        assert_eq!(res.status(), 503);
        assert_eq!(problem_type(res).await, "urn:engram:problem:timeout");
    }
}
