//! Shared helpers: an in-process server on loopback and a small HTTP client.

#![allow(dead_code)]

pub mod contract;

use engram::{Engine, EngineConfig};
use serde_json::Value;
use std::thread::JoinHandle;
use std::time::Duration;

/// The all-spaces admin key every test server accepts; requests carry it
/// unless they set their own `Authorization` header.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef";

/// Problem `type` prefix every error response carries.
pub const PROBLEM_PREFIX: &str = "urn:engram:problem:";

/// The real router served on 127.0.0.1 from a background thread, on a
/// fresh data directory. Dropping it shuts the server down.
pub struct TestServer {
    pub base: String,
    agent: ureq::Agent,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    dir: tempfile::TempDir,
}

/// A response: status, headers and the body (parsed as JSON when it is).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub text: String,
    pub json: Value,
}

/// A response whose body is kept as bytes.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: Vec<u8>,
}

impl RawReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Asserts the status, panicking with the body on a mismatch.
    pub fn expect_status(&self, status: u16, what: &str) -> &Self {
        assert_eq!(self.status, status, "{what}: unexpected status; body: {}", String::from_utf8_lossy(&self.body));
        self
    }
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, panicking with the body on a mismatch.
    pub fn expect_status(&self, status: u16, what: &str) -> &Self {
        assert_eq!(self.status, status, "{what}: unexpected status; body: {}", self.text);
        self
    }

    /// Asserts a problem+json error with this status and kind; returns its detail.
    pub fn expect_problem(&self, status: u16, kind: &str, what: &str) -> String {
        self.expect_status(status, what);
        let ct = self.header("content-type").unwrap_or_default();
        assert_eq!(ct, "application/problem+json", "{what}: content type of a problem; body: {}", self.text);
        let ty = self.json["type"].as_str().unwrap_or_default();
        assert!(ty.starts_with(PROBLEM_PREFIX), "{what}: problem type {ty:?} lacks the prefix");
        assert_eq!(ty, format!("{PROBLEM_PREFIX}{kind}"), "{what}: problem type; body: {}", self.text);
        assert_eq!(
            self.json["status"].as_u64(),
            Some(u64::from(status)),
            "{what}: problem status member; body: {}",
            self.text
        );
        assert!(
            self.json["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{what}: problem title; body: {}",
            self.text
        );
        let detail = self.json["detail"].as_str().unwrap_or_default().to_owned();
        assert!(!detail.is_empty(), "{what}: problem detail is empty");
        detail
    }
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with(engram_server::limits::Limits::default())
    }

    /// A server with these limits.
    pub fn start_with(limits: engram_server::limits::Limits) -> Self {
        Self::start_configured(limits, engram_server::webhooks::WebhookSettings::default())
    }

    /// A server with these limits and webhook settings.
    pub fn start_configured(
        limits: engram_server::limits::Limits,
        webhooks: engram_server::webhooks::WebhookSettings,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temporary data directory");
        let engine = Engine::open(EngineConfig::dir(dir.path())).expect("engine opens on a fresh directory");
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
                addr_tx.send(listener.local_addr().expect("bound address")).expect("test waits for the address");
                let shutdown = async move {
                    let _ = stop_rx.await;
                };
                let keys = engram_server::auth::keys::KeyStore::in_memory(Some(ADMIN_KEY)).expect("key store");
                let state = engram_server::AppState::new(engine.clone(), std::sync::Arc::new(keys), limits)
                    .with_webhooks(webhooks);
                engram_server::serve_on(listener, state, shutdown).await.expect("server runs until shut down");
                engine.close();
            });
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(10)).expect("server thread reports its address");
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Self { base: format!("http://{addr}"), agent, shutdown: Some(stop_tx), thread: Some(thread), dir }
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Sends a request; `body` is sent as-is with a JSON content type.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> Reply {
        let mut b = ureq::http::Request::builder().method(method).uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
            b = b.header("authorization", format!("Bearer {ADMIN_KEY}"));
        }
        let res = match body {
            Some(bytes) => {
                let req = b.header("content-type", "application/json").body(bytes).expect("valid request");
                self.agent.run(req)
            }
            None => self.agent.run(b.body(()).expect("valid request")),
        };
        let mut res = res.unwrap_or_else(|e| panic!("{method} {path}: transport error: {e}"));
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_else(|e| panic!("{method} {path}: reading the body: {e}"));
        let json = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
        let exchange = contract::Exchange { method, target: path, status, content_type, body: &text };
        if let Err(violation) = contract::check(&exchange) {
            panic!("the response breaks the OpenAPI document: {violation}");
        }
        Reply { status, headers, text, json }
    }

    /// Sends raw bytes (any content type) and returns the raw response
    /// body; a JSON or problem response is checked against the contract.
    pub fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> RawReply {
        let mut b = ureq::http::Request::builder().method(method).uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
            b = b.header("authorization", format!("Bearer {ADMIN_KEY}"));
        }
        let res = match body {
            Some(bytes) => self.agent.run(b.body(bytes).expect("valid request")),
            None => self.agent.run(b.body(()).expect("valid request")),
        };
        let mut res = res.unwrap_or_else(|e| panic!("{method} {path}: transport error: {e}"));
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = if method == "HEAD" {
            Vec::new()
        } else {
            res.body_mut()
                .with_config()
                .limit(256 * 1024 * 1024)
                .read_to_vec()
                .unwrap_or_else(|e| panic!("{method} {path}: reading the body: {e}"))
        };
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
        if content_type.is_some_and(|ct| ct.contains("json")) {
            let text = String::from_utf8_lossy(&body);
            let exchange = contract::Exchange { method, target: path, status, content_type, body: &text };
            if let Err(violation) = contract::check(&exchange) {
                panic!("the response breaks the OpenAPI document: {violation}");
            }
        }
        RawReply { status, headers, body }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], None)
    }

    pub fn delete(&self, path: &str) -> Reply {
        self.request("DELETE", path, &[], None)
    }

    /// Sends `body` as JSON with `method` and extra headers.
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
        let bytes = serde_json::to_vec(body).expect("test bodies serialize");
        self.request(method, path, headers, Some(bytes))
    }

    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.send("POST", path, &[], body)
    }

    pub fn put(&self, path: &str, body: &Value) -> Reply {
        self.send("PUT", path, &[], body)
    }

    /// Creates a space, asserting 201.
    pub fn create_space(&self, name: &str) {
        self.post("/v1/spaces", &serde_json::json!({ "name": name })).expect_status(201, "create space");
    }

    /// The change-log head position of a space (verifying the chain).
    pub fn head(&self, space: &str) -> u64 {
        let r = self.get(&format!("/v1/spaces/{space}/changes/verify"));
        r.expect_status(200, "verify changes");
        r.json["head_position"].as_u64().expect("verify reports head_position")
    }

    /// Asserts the server still answers its liveness probe.
    pub fn assert_healthy(&self) {
        let r = self.get("/healthz");
        r.expect_status(200, "healthz");
        assert_eq!(r.json["status"], "ok");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            // A server-thread panic is re-raised unless we are already panicking.
            if t.join().is_err() && !std::thread::panicking() {
                panic!("the server thread panicked");
            }
        }
    }
}

/// Percent-encodes a string for use in a URL path segment or query value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
