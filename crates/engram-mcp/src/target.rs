//! Where the tools' calls go: the routes in this process (a data
//! directory) or a server over HTTP. Either way a call is one request of the
//! HTTP API, so the tools obey the same keys, limits and errors.

use engram_server::embedded::Embedded;
use serde_json::Value;
use std::sync::Arc;

/// Largest answer read from a remote server for one tool call.
pub const REMOTE_RESPONSE_BYTES_MAX: u64 = 16 * 1024 * 1024;

/// The engine the tools act on.
#[derive(Clone)]
pub enum Target {
    /// A data directory opened by this process.
    Local(Arc<Embedded>),
    /// An `engram serve` at `base`, with the key used when the MCP client
    /// presents none (stdio).
    Remote { base: String, key: Option<String>, agent: ureq::Agent },
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local(_) => f.write_str("Local"),
            Self::Remote { base, .. } => write!(f, "Remote({base})"),
        }
    }
}

/// A refused or failed call, as a model should read it.
#[derive(Debug)]
pub struct CallFailed(pub String);

impl Target {
    /// A server at `base` (e.g. `http://127.0.0.1:7171`).
    pub fn remote(base: &str, key: Option<String>) -> Self {
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Self::Remote { base: base.trim_end_matches('/').to_owned(), key, agent }
    }

    /// Sends one JSON request; `key` (the MCP client's bearer key, over
    /// HTTP) replaces the target's own. A 204 answers `null`.
    pub async fn call(
        &self,
        key: Option<String>,
        method: &'static str,
        path: String,
        body: Option<Value>,
    ) -> Result<Value, CallFailed> {
        let raw = body.map(|b| serde_json::to_vec(&b).expect("JSON serializes"));
        let (status, bytes) = match self {
            Self::Local(embedded) => {
                let headers: Vec<(String, String)> =
                    key.map(|k| vec![("authorization".to_owned(), format!("Bearer {k}"))]).unwrap_or_default();
                let reply = embedded.dispatch(method, &path, raw, &headers).await.map_err(|e| CallFailed(e.0))?;
                (reply.status, reply.body)
            }
            Self::Remote { base, key: own, agent } => {
                let (agent, url, key) = (agent.clone(), format!("{base}{path}"), key.or_else(|| own.clone()));
                tokio::task::spawn_blocking(move || remote(&agent, method, &url, key.as_deref(), raw))
                    .await
                    .map_err(|e| CallFailed(format!("the call failed: {e}")))??
            }
        };
        answer(status, &bytes)
    }
}

fn remote(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    key: Option<&str>,
    body: Option<Vec<u8>>,
) -> Result<(u16, Vec<u8>), CallFailed> {
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    if let Some(k) = key {
        request = request.header("authorization", format!("Bearer {k}"));
    }
    let sent = match body {
        Some(b) => agent.run(
            request
                .header("content-type", "application/json")
                .body(b)
                .map_err(|e| CallFailed(format!("bad request: {e}")))?,
        ),
        None => agent.run(request.body(()).map_err(|e| CallFailed(format!("bad request: {e}")))?),
    };
    let mut response = sent.map_err(|e| CallFailed(format!("cannot reach the Engram server: {e}")))?;
    let status = response.status().as_u16();
    let bytes = response
        .body_mut()
        .with_config()
        .limit(REMOTE_RESPONSE_BYTES_MAX)
        .read_to_vec()
        .map_err(|e| CallFailed(format!("reading the server's answer: {e}")))?;
    Ok((status, bytes))
}

/// JSON on success; the problem's detail, type and status otherwise.
fn answer(status: u16, bytes: &[u8]) -> Result<Value, CallFailed> {
    if status == 204 || bytes.is_empty() {
        return if (200..300).contains(&status) { Ok(Value::Null) } else { Err(CallFailed(format!("HTTP {status}"))) };
    }
    let body: Value =
        serde_json::from_slice(bytes).map_err(|_| CallFailed(format!("an unreadable answer (HTTP {status})")))?;
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let detail = body.get("detail").and_then(Value::as_str).unwrap_or("no detail");
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("").rsplit(':').next().unwrap_or("error");
    Err(CallFailed(format!("{detail} ({kind}, HTTP {status})")))
}
