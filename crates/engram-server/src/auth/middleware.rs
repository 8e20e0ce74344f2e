//! The authentication and authorization layer of every matched route.

use crate::auth::keys::KeyRecord;
use crate::auth::{Access, Principal, policy};
use crate::problem::ApiError;
use crate::routes::AppState;
use crate::tls::ClientAddr;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

fn unauthorized(detail: &str) -> Response {
    let mut res = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).into_response();
    res.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    res
}

fn forbidden(detail: String) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail).into_response()
}

/// The bearer token of a request, if it has one.
fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The `{space}` of a `/v1/spaces/{space}/…` request, as sent.
fn space_of(req: &Request) -> Option<&str> {
    req.uri().path().strip_prefix("/v1/spaces/")?.split('/').next().filter(|s| !s.is_empty())
}

/// Checks the key, its role and its space against the route's policy,
/// then the key's request rate; puts the [`Principal`] in the request.
pub async fn authorize(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let has_body = crate::observe::has_body(&req);
    let mut res = check(s, req, next).await;
    if has_body && res.extensions().get::<Refused>().is_some() {
        crate::observe::close_connection(&mut res);
    }
    res
}

/// Marks a response refused before the request's body was read.
#[derive(Clone, Copy)]
struct Refused;

fn refused(mut res: Response) -> Response {
    res.extensions_mut().insert(Refused);
    res
}

async fn check(s: AppState, mut req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("", MatchedPath::as_str).to_owned();
    let Access::Key { role, all_spaces } = policy(req.method(), &route) else { return next.run(req).await };
    let client = req.extensions().get::<ConnectInfo<ClientAddr>>().map(|c| c.0.0.ip());
    let Some(token) = bearer(&req) else {
        return refused(unauthorized("send an API key as `Authorization: Bearer <key>`"));
    };
    let verified = if s.keys.is_shared() {
        // A database read: off the async workers.
        let (keys, token) = (s.keys.clone(), token.to_owned());
        crate::routes::blocking(move || keys.verify(&token)).await
    } else {
        s.keys.verify(token).map_err(crate::problem::ApiError::from)
    };
    let verified = match verified {
        Ok(v) => v,
        Err(e) => return refused(e.into_response()),
    };
    let Some(key) = verified else {
        // Only a presented, wrong key counts: that is what guessing looks
        // like. The limit answers wrong keys only, never a valid one: behind
        // a proxy or NAT, one client's bad keys must not lock out everyone
        // else at that address (a key's 192-bit secret is not guessable, so
        // the limit sheds load and noise, it is not what keeps keys safe).
        if let Err(wait) = s.auth_failures.check(client, s.limits.auth_failures_per_window) {
            s.metrics.reject("auth_failures");
            let e = ApiError::too_many(format!("too many failed authentications; retry in {wait} s"), wait);
            return refused(e.into_response());
        }
        s.auth_failures.record(client);
        return refused(unauthorized("the API key is unknown, revoked or expired"));
    };
    match scope_alive(&s, &key).await {
        Ok(true) => {}
        Ok(false) => return refused(unauthorized("the API key's space was deleted; the key no longer works")),
        Err(e) => return refused(e.into_response()),
    }
    let principal = Principal { key_id: key.id, space: key.space, role: key.role };
    if principal.role < role {
        return refused(forbidden(format!(
            "this route needs a key with role {role:?}; the key has {:?}",
            principal.role
        )));
    }
    if all_spaces && principal.space.is_some() {
        return refused(forbidden("this route needs a key for all spaces".into()));
    }
    if route.starts_with("/v1/spaces/{space}")
        && let Some(space) = space_of(&req)
        && !principal.covers(space)
    {
        return refused(forbidden(format!("the key is not valid for space {space:?}")));
    }
    let taken = if s.rate.is_shared() {
        // A Redis round trip: off the async workers.
        let (rates, id, per) = (s.rate.clone(), principal.key_id.clone(), s.limits.rate_per_key);
        crate::routes::blocking(move || Ok(rates.take(&id, per))).await.unwrap_or(Ok(()))
    } else {
        s.rate.take(&principal.key_id, s.limits.rate_per_key)
    };
    if let Err(wait) = taken {
        s.metrics.reject("rate");
        let e = ApiError::too_many(format!("the key's request rate is exceeded; retry in {wait} s"), wait);
        return refused(e.into_response());
    }
    if s.local_key_id.as_deref() == Some(principal.key_id.as_str()) {
        crate::observe::set_caller_local();
    } else {
        crate::observe::set_caller_key(&principal.key_id);
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// Whether a space-scoped key's space still exists as the same space (by
/// internal id, never reused): a space deleted and created again under the
/// same name is another tenant. Keys for all spaces always pass.
async fn scope_alive(s: &AppState, key: &KeyRecord) -> Result<bool, crate::problem::ApiError> {
    let (Some(name), Some(id)) = (key.space.clone(), key.space_id) else { return Ok(key.space.is_none()) };
    let engine = s.engine.clone();
    // A cached lookup after the first.
    let current = crate::routes::blocking(move || engine.space_id(&name)).await?;
    Ok(current == Some(id))
}
