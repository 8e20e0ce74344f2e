//! `engram mcp`: Engram as an agent's memory over the Model Context
//! Protocol, on the official Rust SDK (`rmcp`), over stdio or streamable
//! HTTP. The tools (`tools.rs`) act on one space, through the same HTTP API
//! routes a server runs (`target.rs`): in this process on a data directory,
//! or on a remote server.

mod target;
mod tools;

pub use target::{REMOTE_RESPONSE_BYTES_MAX, Target};
pub use tools::{Memory, READ_EVENTS_MAX, RECALL_K_MAX};

use axum::http::{StatusCode, header};
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use serde_json::{Value, json};
use std::net::SocketAddr;

/// What the MCP server acts on.
#[derive(Clone, Debug)]
pub struct McpOptions {
    pub target: Target,
    /// The space every tool acts on (created if missing when the key may).
    pub space: String,
    /// The collection memories are kept in.
    pub collection: String,
}

/// How a new memory collection gets its vectors.
#[derive(Clone, Debug, Default)]
pub enum MemoryVectors {
    /// None: recall searches words only.
    #[default]
    None,
    /// Callers pass vectors of this many dimensions to remember and recall.
    Given(u32),
    /// The engine embeds the text with this configured embedder.
    Embedder(String),
}

/// The memory collection's spec when it does not exist yet: its `text`
/// is searchable (recall), with a vector field `embedding` per `vectors`.
fn memory_spec(vectors: &MemoryVectors) -> Value {
    let mut search = json!({"text": [{"path": "text"}]});
    if let MemoryVectors::Embedder(model) = vectors {
        search["vectors"] = json!([{
            "name": "embedding", "path": "embedding", "metric": "cosine",
            "embed": {"from": ["text"], "model": model}
        }]);
    }
    if let MemoryVectors::Given(d) = vectors {
        search["vectors"] = json!([{
            "name": "embedding", "path": "embedding", "dims": d, "metric": "cosine",
            "model": {"name": "caller-supplied", "version": "1"}
        }]);
    }
    json!({ "search": search })
}

/// Creates the space and the memory collection when missing (with the
/// target's own key); an existing collection keeps its spec.
pub async fn prepare(options: &McpOptions, vectors: &MemoryVectors) -> Result<(), String> {
    let t = &options.target;
    let space = format!("/v1/spaces/{}", tools::seg(&options.space));
    if t.call(None, "GET", space.clone(), None).await.is_err() {
        t.call(None, "POST", "/v1/spaces".into(), Some(json!({"name": options.space})))
            .await
            .map_err(|e| format!("creating space {:?}: {}", options.space, e.0))?;
    }
    let coll = format!("{space}/collections/{}", tools::seg(&options.collection));
    if t.call(None, "GET", coll.clone(), None).await.is_err() {
        t.call(None, "PUT", coll, Some(memory_spec(vectors)))
            .await
            .map_err(|e| format!("declaring collection {:?}: {}", options.collection, e.0))?;
    }
    Ok(())
}

/// Serves the tools over standard input and output until the client
/// closes them.
pub async fn serve_stdio(options: McpOptions) -> Result<(), String> {
    let memory = Memory::new(options.target, options.space, options.collection);
    let running = memory.serve(rmcp::transport::stdio()).await.map_err(|e| format!("MCP over stdio: {e}"))?;
    running.waiting().await.map_err(|e| format!("MCP over stdio: {e}"))?;
    Ok(())
}

/// Serves the tools over streamable HTTP at `http://{listen}/mcp` until
/// `shutdown` completes. Every request must carry an Engram API key
/// (`Authorization: Bearer …`); the tools act with that key, so its role
/// and space bound what an MCP client can do.
pub async fn serve_http(
    options: McpOptions,
    listen: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let config = StreamableHttpServerConfig::default();
    let cancel = config.cancellation_token.clone();
    let memory = Memory::new(options.target, options.space, options.collection);
    let service: StreamableHttpService<Memory, LocalSessionManager> =
        StreamableHttpService::new(move || Ok(memory.clone()), Default::default(), config);
    let app = axum::Router::new().nest_service("/mcp", service).layer(axum::middleware::from_fn(require_key));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    on_listening(listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            cancel.cancel();
        })
        .await
}

/// Refuses requests without a bearer key before they reach the protocol
/// (the key itself is checked by the routes each tool calls).
async fn require_key(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let has_key = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty());
    if has_key {
        return next.run(req).await;
    }
    let body = json!({
        "type": "urn:engram:problem:unauthorized", "title": "Unauthorized", "status": 401,
        "detail": "send an Engram API key as `Authorization: Bearer <key>`"
    });
    axum::response::Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header(header::CONTENT_TYPE, "application/problem+json")
        .header(header::WWW_AUTHENTICATE, "Bearer")
        .body(axum::body::Body::from(body.to_string()))
        .expect("a static response builds")
}
