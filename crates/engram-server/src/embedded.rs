//! The server's routes in-process, without a socket: what the Python
//! package's `engram.open(path)` runs.
//!
//! Why the routes and not a second binding of the engine: the HTTP API is
//! Engram's one contract (validation, limits, errors, OpenAPI). Running the
//! same router in-process makes embedded and remote use behave alike by
//! construction; only the socket and HTTP parsing are skipped. Calls are
//! authenticated with a key minted for this process and never shown, so
//! the policy layer stays in force; keys created through `/v1/keys` are
//! kept in the data directory as a server would keep them.

use crate::auth::keys::KeyStore;
use crate::limits::Limits;
use crate::routes::{AppState, ObjectSettings, router};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use engram::{Engine, EngineConfig};
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt;

/// Largest response an embedded call collects into memory (an object
/// download larger than this is refused; read it in ranges).
pub const EMBEDDED_RESPONSE_BYTES_MAX: usize = 256 * 1024 * 1024;

/// One data directory served in-process.
pub struct Embedded {
    runtime: tokio::runtime::Runtime,
    app: Router,
    engine: Engine,
    authorization: header::HeaderValue,
    /// The webhook dispatcher and the object collector (stop when dropped).
    background: Option<(crate::webhooks::dispatch::Dispatcher, crate::run::AbortOnDrop)>,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded").finish_non_exhaustive()
    }
}

/// The answer to one call.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// The response's headers, names lower-case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a call got no answer (the route's own errors are replies).
#[derive(Debug)]
pub struct CallError(pub String);

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How [`Embedded::open_with`] opens a data directory.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedOptions {
    /// An admin key callers may present (calls without a key of their own
    /// use one minted for this process).
    pub admin_key: Option<String>,
    /// The embedders collections' embedded vector fields name.
    pub embedders: engram::embed::Embedders,
}

impl Embedded {
    /// Opens (creating if needed) a data directory, as `engram serve` would
    /// with its defaults: SQLite in the directory, objects in `objects/`.
    /// A directory is held by one process at a time.
    pub fn open(dir: &Path) -> engram::Result<Self> {
        Self::open_with_admin_key(dir, None)
    }

    /// [`Embedded::open`], with an admin key callers may present (calls
    /// without a key of their own use one minted for this process).
    pub fn open_with_admin_key(dir: &Path, admin_key: Option<&str>) -> engram::Result<Self> {
        Self::open_with(dir, EmbeddedOptions { admin_key: admin_key.map(str::to_owned), ..EmbeddedOptions::default() })
    }

    /// [`Embedded::open`] with options.
    pub fn open_with(dir: &Path, options: EmbeddedOptions) -> engram::Result<Self> {
        let admin_key = options.admin_key.as_deref();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("engram-embedded")
            .enable_all()
            .build()
            .map_err(|e| engram::Error::internal(format!("starting the embedded runtime: {e}")))?;
        let mut config = EngineConfig::dir(dir);
        config.holder_command = "engram (Python, embedded)".into();
        config.embedders = options.embedders;
        let engine = Engine::open(config)?;
        let token = match admin_key {
            Some(key) => key.to_owned(),
            None => crate::auth::keys::random_hex(32)?,
        };
        let keys = KeyStore::open(dir, Some(&token))?;
        keys.bind_unbound(|name| engine.space_id(name))?;
        let store = engram_objects::open_dir(&dir.join("objects"))?;
        let objects = ObjectSettings::new(engram_objects::Objects::new(store, engram_objects::GRACE_DEFAULT));
        // In-process calls have no other client to share with: no rate limit.
        let limits = Limits { rate_per_key: 0.0, ..Limits::default() };
        let local_key =
            keys.verify(&token)?.ok_or_else(|| engram::Error::internal("the embedded key does not verify"))?.id;
        let audit_key = crate::audit_key::load(dir, None)?;
        let state = AppState::new(engine.clone(), Arc::new(keys), limits)
            .with_objects(objects)
            .with_local_key(local_key)
            .with_audit_key(audit_key);
        let background = {
            let _entered = runtime.enter();
            let webhooks = crate::webhooks::dispatch::start(state.engine.clone(), state.webhooks.clone());
            Some((webhooks, crate::run::start_collector(&state)))
        };
        let authorization = header::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|e| engram::Error::internal(format!("the embedded key: {e}")))?;
        Ok(Self { runtime, app: router(state), engine, authorization, background })
    }

    /// Sends one request to the routes and waits for the whole answer.
    /// `path` carries the query string; `body` is sent as JSON unless
    /// `headers` give a `content-type`.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(String, String)],
    ) -> Result<Reply, CallError> {
        // This thread blocks on the request anyway: its engine work runs
        // here (SQLite drives no runtime of its own), not on a pool thread.
        crate::work_pool::inline(|| self.runtime.block_on(self.dispatch(method, path, body, headers)))
    }

    /// [`Embedded::call`] on the caller's runtime (from async code, which
    /// must not block on another runtime). An `authorization` header among
    /// `headers` replaces this process's key: the caller's key is checked.
    pub async fn dispatch(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(String, String)],
    ) -> Result<Reply, CallError> {
        let request = self.request(method, path, body, headers)?;
        let response = self.app.clone().oneshot(request).await.map_err(|e| CallError(e.to_string()))?;
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, EMBEDDED_RESPONSE_BYTES_MAX).await.map_err(|_| {
            CallError(format!(
                "the response is larger than {EMBEDDED_RESPONSE_BYTES_MAX} bytes (EMBEDDED_RESPONSE_BYTES_MAX); read it in ranges"
            ))
        })?;
        let headers = parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        Ok(Reply { status: parts.status.as_u16(), headers, body: body.to_vec() })
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(String, String)],
    ) -> Result<Request<Body>, CallError> {
        let method = Method::from_bytes(method.as_bytes()).map_err(|_| CallError(format!("bad method {method:?}")))?;
        if !path.starts_with('/') {
            return Err(CallError(format!("the path must start with '/': {path:?}")));
        }
        let mut builder = Request::builder().method(method).uri(path);
        let has_type = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        let has_key = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        for (k, v) in headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        if body.is_some() && !has_type {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        if !has_key {
            builder = builder.header(header::AUTHORIZATION, self.authorization.clone());
        }
        builder.body(body.map_or_else(Body::empty, Body::from)).map_err(|e| CallError(format!("bad request: {e}")))
    }

    /// Stops the background work and closes the engine (its data is
    /// durable at every acknowledged call; closing saves index files so the
    /// next open loads instead of replaying).
    pub fn close(self) {
        let Self { runtime, app, engine, background, .. } = self;
        drop(background);
        drop(app);
        runtime.shutdown_timeout(std::time::Duration::from_secs(5));
        engine.close();
    }
}
