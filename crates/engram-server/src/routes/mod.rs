//! The routes: one file per resource, all under `/v1`.

mod audit;
mod changes;
mod collections;
mod documents;
mod facts;
mod feed;
mod graph;
mod health;
mod keys;
mod objects;
mod queries;
mod queues;
mod search;
mod spaces;
mod streams;
mod transactions;
mod webhooks;

use crate::auth::keys::KeyStore;
use crate::auth::middleware::authorize;
use crate::config::BODY_BYTES_MAX;
use crate::limits::{AuthFailures, Limits};
use crate::metrics::Metrics;
use crate::observe::{observe, shed};
use crate::problem::{ApiError, ApiResult};
use crate::shared_rate::{Rates, SharedRate};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use engram::{Engine, ErrorKind};
use std::sync::Arc;
use tokio::sync::Semaphore;

pub(crate) use audit::*;
pub(crate) use changes::*;
pub(crate) use collections::*;
pub(crate) use documents::*;
pub(crate) use facts::*;
pub(crate) use feed::*;
pub(crate) use graph::*;
pub(crate) use health::*;
pub(crate) use keys::*;
pub(crate) use objects::*;
pub(crate) use queries::*;
pub(crate) use queues::*;
pub(crate) use search::*;
pub(crate) use spaces::*;
pub(crate) use streams::*;
pub(crate) use transactions::*;
pub(crate) use webhooks::*;

/// Shared state of every handler: one allocation, so the clone each
/// layer and extractor takes per request is one reference count (cloning
/// the fields themselves cost a tenth of an in-process call).
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;
    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Clone)]
pub struct SharedState {
    pub engine: Engine,
    pub keys: Arc<KeyStore>,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    pub rate: Arc<Rates>,
    pub auth_failures: Arc<AuthFailures>,
    pub in_flight: Arc<Semaphore>,
    pub large_in_flight: Arc<Semaphore>,
    /// Permits for open feed streams (Server-Sent Events).
    pub feed_streams: Arc<Semaphore>,
    /// How webhooks are delivered (and which URLs endpoints may have).
    pub webhooks: crate::webhooks::WebhookSettings,
    /// Set when the server starts shutting down: open feed streams end, so
    /// the graceful shutdown does not wait out their lifetime.
    pub stopping: Arc<Stopping>,
    /// Where objects' bytes are kept, and how they are collected.
    pub objects: ObjectSettings,
    /// The key that signs audit checkpoints and receipts.
    pub audit: Arc<engram_core::audit::SigningKey>,
    /// The key of an embedded process's own calls (`Embedded`): its writes
    /// are recorded as `local`, a library call, not as a key's.
    pub local_key_id: Option<String>,
}

/// The object store the server uses and its collector's pace.
#[derive(Clone, Debug)]
pub struct ObjectSettings {
    pub service: engram_objects::Objects,
    /// How often the collector runs (expired objects, unreferenced bytes).
    pub collect_every: std::time::Duration,
    /// Longest an object upload or download may take (instead of the
    /// request timeout).
    pub transfer_timeout: std::time::Duration,
    /// The collector's totals (reported in `/metrics`).
    pub collected: Arc<engram_objects::CollectorStats>,
}

impl ObjectSettings {
    /// Objects in memory (tests; lost at exit), collected every second.
    pub fn in_memory() -> Self {
        let store = engram_objects::open_store("memory://").expect("the memory store opens");
        Self::new(engram_objects::Objects::new(store, engram_objects::GRACE_DEFAULT))
    }

    pub fn new(service: engram_objects::Objects) -> Self {
        Self {
            service,
            collect_every: std::time::Duration::from_secs(60),
            transfer_timeout: std::time::Duration::from_secs(3600),
            collected: Arc::default(),
        }
    }

    /// The object lines of `/metrics`.
    pub fn render_metrics(&self) -> String {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.collected;
        let store = self.service.store();
        let counters = [
            ("passes", "collector passes run", c.passes.load(Relaxed)),
            ("failed_passes", "collector passes that failed (retried at the next)", c.failed_passes.load(Relaxed)),
            ("expired_objects", "expired objects removed", c.expired_objects.load(Relaxed)),
            ("blobs_deleted", "unreferenced blobs whose bytes were deleted", c.blobs_deleted.load(Relaxed)),
            ("temporaries_deleted", "stale upload files deleted", c.temporaries_deleted.load(Relaxed)),
            ("deleted_space_files", "files of deleted spaces deleted", c.deleted_space_files.load(Relaxed)),
        ];
        let mut out = String::new();
        for (name, help, value) in counters {
            out.push_str(&format!("# HELP engram_objects_collector_{name}_total Object collector: {help}.\n"));
            out.push_str(&format!("# TYPE engram_objects_collector_{name}_total counter\n"));
            out.push_str(&format!("engram_objects_collector_{name}_total {value}\n"));
        }
        out.push_str(
            "# HELP engram_object_store_suspended 1 while the object store's circuit breaker suspends calls.\n",
        );
        out.push_str("# TYPE engram_object_store_suspended gauge\n");
        out.push_str(&format!(
            "engram_object_store_suspended{{store=\"{}\"}} {}\n",
            store.kind(),
            u8::from(store.suspended())
        ));
        out
    }
}

/// The shutdown flag long-lived responses watch.
#[derive(Default)]
pub struct Stopping {
    flag: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl Stopping {
    pub fn stop(&self) {
        self.flag.store(true, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_stopping(&self) -> bool {
        self.flag.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Resolves once the server is stopping.
    pub async fn stopped(&self) {
        let notified = self.notify.notified();
        if self.is_stopping() {
            return;
        }
        notified.await;
    }
}

impl AppState {
    pub fn new(engine: Engine, keys: Arc<KeyStore>, limits: Limits) -> Self {
        Self(Arc::new(SharedState {
            engine,
            keys,
            limits,
            metrics: Arc::default(),
            rate: Arc::default(),
            auth_failures: Arc::default(),
            in_flight: Arc::new(Semaphore::new(limits.concurrent_requests.max(1))),
            large_in_flight: Arc::new(Semaphore::new(limits.large_requests.max(1))),
            feed_streams: Arc::new(Semaphore::new(limits.feed_streams.max(1))),
            webhooks: crate::webhooks::WebhookSettings::default(),
            stopping: Arc::default(),
            objects: ObjectSettings::in_memory(),
            local_key_id: None,
            // A key of this process only, until the server configures its own.
            audit: Arc::new(engram_core::audit::SigningKey::generate().expect("the system random generator works").0),
        }))
    }

    /// Signs audit checkpoints with `key`.
    pub fn with_audit_key(mut self, key: engram_core::audit::SigningKey) -> Self {
        Arc::make_mut(&mut self.0).audit = Arc::new(key);
        self
    }

    /// Records the writes of calls made with key `id` as `local`.
    pub fn with_local_key(mut self, id: String) -> Self {
        Arc::make_mut(&mut self.0).local_key_id = Some(id);
        self
    }

    /// Keeps objects in this store.
    pub fn with_objects(mut self, objects: ObjectSettings) -> Self {
        Arc::make_mut(&mut self.0).objects = objects;
        self
    }

    /// Delivers webhooks with these settings.
    pub fn with_webhooks(mut self, settings: crate::webhooks::WebhookSettings) -> Self {
        Arc::make_mut(&mut self.0).webhooks = settings;
        self
    }

    /// Limits request rates through Redis, shared by every server on it.
    pub fn with_shared_rates(mut self, shared: SharedRate) -> Self {
        Arc::make_mut(&mut self.0).rate = Arc::new(Rates::Shared(shared));
        self
    }
}

/// The application: every route, with problem+json for unknown ones.
pub fn router(state: AppState) -> Router {
    const COLL: &str = "/v1/spaces/{space}/collections/{collection}";
    const QUEUE: &str = "/v1/spaces/{space}/queues/{queue}";
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/docs", get(api_reference))
        .route("/openapi.json", get(openapi_json))
        .route("/v1/spaces", get(list_spaces).post(create_space))
        .route("/v1/spaces/{space}", get(get_space).delete(delete_space))
        .route("/v1/spaces/{space}/collections", get(list_collections))
        .route(COLL, get(get_collection).put(put_collection).delete(drop_collection))
        .route(&format!("{COLL}/docs"), get(list_documents).post(insert_document))
        .route(
            &format!("{COLL}/docs/{{id}}"),
            get(get_document).put(put_document).patch(patch_document).delete(delete_document),
        )
        .route(&format!("{COLL}/bulk/put"), post(bulk_put))
        .route(&format!("{COLL}/bulk/delete"), post(bulk_delete))
        .route(&format!("{COLL}/bulk/get"), post(bulk_get))
        .route(&format!("{COLL}/query"), post(query_documents))
        .route(&format!("{COLL}/count"), post(count_documents))
        .route(&format!("{COLL}/exists"), post(exists_documents))
        .route(&format!("{COLL}/search"), post(search_collection))
        .route(&format!("{COLL}/search-index"), get(search_index_status))
        .route(&format!("{COLL}/embeddings"), get(embedding_status))
        .route(&format!("{COLL}/embeddings/backfill"), post(backfill_embeddings))
        .route("/v1/spaces/{space}/search-index/check", post(check_search_index))
        .route("/v1/spaces/{space}/search-index/rebuild", post(rebuild_search_index))
        .route("/v1/spaces/{space}/graph/edges", post(create_edge))
        .route("/v1/spaces/{space}/graph/edges/{edge}", get(get_edge).delete(delete_edge))
        .route("/v1/spaces/{space}/graph/edges/{edge}/strengthen", post(strengthen_edge))
        .route("/v1/spaces/{space}/graph/decay", post(decay_edges))
        .route("/v1/spaces/{space}/graph/neighbors", post(graph_neighbors))
        .route("/v1/spaces/{space}/graph/path", post(graph_path))
        .route("/v1/spaces/{space}/facts", post(assert_fact))
        .route("/v1/spaces/{space}/facts/query", post(query_facts))
        .route("/v1/spaces/{space}/facts/{fact}/retract", post(retract_fact))
        .route("/v1/spaces/{space}/streams/{stream}", get(get_stream))
        .route("/v1/spaces/{space}/streams/{stream}/events", get(read_events).post(append_events))
        .route("/v1/spaces/{space}/streams/{stream}/snapshot", get(get_snapshot).put(put_snapshot))
        .route("/v1/spaces/{space}/queues", get(list_queues))
        .route(QUEUE, get(get_queue).put(put_queue).delete(delete_queue))
        .route(&format!("{QUEUE}/messages"), post(enqueue_messages))
        .route(&format!("{QUEUE}/receive"), post(receive_messages))
        .route(&format!("{QUEUE}/ack"), post(ack_messages))
        .route(&format!("{QUEUE}/nack"), post(nack_message))
        .route(&format!("{QUEUE}/extend"), post(extend_lease))
        .route(&format!("{QUEUE}/dead-letters"), get(list_dead_letters))
        .route(&format!("{QUEUE}/redrive"), post(redrive_dead_letters))
        .route(&format!("{QUEUE}/purge"), post(purge_queue))
        .route("/v1/spaces/{space}/feed", get(read_feed))
        .route("/v1/spaces/{space}/feed/events", get(stream_feed))
        .route("/v1/spaces/{space}/outbox", post(publish_message))
        .route("/v1/spaces/{space}/consumers", get(list_consumers))
        .route(
            "/v1/spaces/{space}/consumers/{consumer}",
            get(get_consumer).put(create_consumer).delete(delete_consumer),
        )
        .route("/v1/spaces/{space}/consumers/{consumer}/poll", post(poll_consumer))
        .route("/v1/spaces/{space}/consumers/{consumer}/ack", post(ack_consumer))
        .route("/v1/spaces/{space}/webhooks", get(list_webhooks))
        .route("/v1/spaces/{space}/webhooks/{webhook}", get(get_webhook).put(create_webhook).delete(delete_webhook))
        .route("/v1/spaces/{space}/webhooks/{webhook}/attempts", get(list_webhook_attempts))
        .route("/v1/spaces/{space}/webhooks/{webhook}/dead-letters", get(list_webhook_dead_letters))
        .route("/v1/spaces/{space}/webhooks/{webhook}/replay", post(replay_webhook))
        .route("/v1/spaces/{space}/objects", get(list_objects))
        .route(
            "/v1/spaces/{space}/objects/{*key}",
            get(get_object).head(head_object).put(put_object).delete(delete_object),
        )
        .route("/v1/spaces/{space}/object-copy", post(copy_object))
        .route("/v1/spaces/{space}/object-urls/{*key}", get(signed_object_url))
        .route("/v1/spaces/{space}/blobs", post(stage_blob))
        .route("/v1/spaces/{space}/transactions", post(commit_transaction))
        .route("/v1/spaces/{space}/changes", get(list_changes))
        .route("/v1/spaces/{space}/changes/verify", get(verify_changes))
        .route("/v1/spaces/{space}/changes/{position}/receipt", get(change_receipt))
        .route("/v1/spaces/{space}/audit/checkpoint", get(audit_checkpoint))
        .route("/v1/spaces/{space}/audit/consistency", get(audit_consistency))
        .route("/v1/spaces/{space}/audit/verify", post(audit_verify))
        .route("/v1/audit/public-key", get(audit_public_key))
        .route("/v1/keys", get(list_keys).post(create_key))
        .route("/v1/keys/{key}", axum::routing::delete(revoke_key))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .layer(middleware::from_fn_with_state(state.clone(), shed))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, ErrorKind::NotFound.as_str(), "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "this route does not support that method")
}

/// When a long poll waiting `wait` must answer: a second before the
/// server's request timeout would cut it, at the latest.
pub(crate) fn long_poll_deadline(limits: &Limits, wait: std::time::Duration) -> std::time::Instant {
    let cap = limits.request_timeout.saturating_sub(std::time::Duration::from_secs(1));
    std::time::Instant::now() + wait.min(cap)
}

/// Runs synchronous engine work on the server's work pool (outside the
/// async runtime: see `work_pool.rs`).
pub(crate) async fn blocking<T, F>(f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> engram::Result<T> + Send + 'static,
{
    // The request's actor (see `observe::with_caller`) goes with the work
    // to the pool thread, where the engine records it in the change log.
    let actor = engram::current_actor();
    let work = move || engram::with_actor(actor, f);
    match crate::work_pool::run(work).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(_) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Internal.as_str(),
            "the request failed unexpectedly",
        )),
    }
}
