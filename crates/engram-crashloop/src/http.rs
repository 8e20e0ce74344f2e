//! HTTP requests to the server under test, and what came of them: a write
//! counts as acknowledged only when its 2xx response was read in full.

use serde_json::Value;
use std::time::Duration;

/// A request, kept whole so that it can be sent again byte for byte (the
/// idempotency checks re-send requests in later cycles, to later servers).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: &'static str,
    /// Path and query, without the server's address.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Request {
    pub fn new(method: &'static str, path: String, body: Option<Value>) -> Self {
        Self { method, path, headers: Vec::new(), body }
    }

    /// Adds a header.
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The `Idempotency-Key` header, if the request carries one.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("idempotency-key")).map(|(_, v)| v.as_str())
    }
}

/// The outcome of one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A 2xx response with a JSON body, read in full: acknowledged.
    Acked(u16, Value),
    /// Any other complete response: nothing was written.
    Refused(u16, String),
    /// No complete response: the write may or may not have happened.
    Unknown(String),
}

impl Outcome {
    /// A short description for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Acked(s, v) => format!("{s} {v}"),
            Self::Refused(s, t) => format!("{s} {}", t.chars().take(300).collect::<String>()),
            Self::Unknown(e) => format!("no response ({e})"),
        }
    }
}

/// An HTTP agent that reports every status as a response, not an error.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout)).build().into()
}

/// Sends `req` to the server at `base` (`http://host:port`).
pub fn send(agent: &ureq::Agent, base: &str, req: &Request) -> Outcome {
    let mut res = match run(agent, base, req) {
        Ok(res) => res,
        Err(e) => return Outcome::Unknown(e),
    };
    let status = res.status().as_u16();
    match res.body_mut().read_to_string() {
        Ok(text) => classify(status, text),
        Err(e) => Outcome::Unknown(format!("reading the {status} response: {e}")),
    }
}

/// The admin key the server under test is started with.
pub const ADMIN_KEY: &str = "crashloop-admin-key-00112233445566778899";

/// Sends the request (as the admin) and returns the response head.
fn run(agent: &ureq::Agent, base: &str, req: &Request) -> Result<ureq::http::Response<ureq::Body>, String> {
    let mut b = ureq::http::Request::builder()
        .method(req.method)
        .uri(format!("{base}{}", req.path))
        .header("authorization", format!("Bearer {ADMIN_KEY}"));
    for (k, v) in &req.headers {
        b = b.header(k, v);
    }
    let sent = match &req.body {
        None => agent.run(b.body(()).map_err(|e| e.to_string())?),
        Some(body) => {
            let bytes = serde_json::to_vec(body).expect("a JSON value serializes");
            agent.run(b.header("content-type", "application/json").body(bytes).map_err(|e| e.to_string())?)
        }
    };
    sent.map_err(|e| e.to_string())
}

/// A complete response to a raw request: its status, `ETag` and bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct RawResponse {
    pub status: u16,
    /// The `ETag` header, unquoted.
    pub etag: Option<String>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body as JSON, when it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// A short description for messages.
    pub fn describe(&self) -> String {
        let text = String::from_utf8_lossy(&self.body[..self.body.len().min(300)]).into_owned();
        format!("{} {text}", self.status)
    }
}

/// Longest body a raw response may have.
const RAW_BODY_MAX: u64 = 64 << 20;

/// Sends a request with raw bytes as its body (as the admin, with
/// `headers`) and reads the whole response. `Err` when no complete
/// response came (a connection refused or cut, a body cut short).
pub fn send_raw(
    agent: &ureq::Agent,
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<RawResponse, String> {
    let mut b = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("authorization", format!("Bearer {ADMIN_KEY}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut res = agent.run(b.body(body).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let etag = res.headers().get("etag").and_then(|v| v.to_str().ok()).map(|v| v.trim_matches('"').to_owned());
    let body = res
        .body_mut()
        .with_config()
        .limit(RAW_BODY_MAX)
        .read_to_vec()
        .map_err(|e| format!("reading the {status} response: {e}"))?;
    Ok(RawResponse { status, etag, body })
}

fn classify(status: u16, text: String) -> Outcome {
    if !(200..300).contains(&status) {
        return Outcome::Refused(status, text);
    }
    match serde_json::from_str(&text) {
        Ok(v) => Outcome::Acked(status, v),
        Err(_) => Outcome::Refused(status, text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_2xx_json_is_acknowledged() {
        assert_eq!(classify(201, "{\"version\":1}".into()), Outcome::Acked(201, serde_json::json!({"version": 1})));
        assert!(matches!(classify(409, "{}".into()), Outcome::Refused(409, _)));
        assert!(matches!(classify(200, "{\"trunc".into()), Outcome::Refused(200, _)));
    }

    #[test]
    fn idempotency_key_is_found_case_insensitively() {
        let r = Request::new("PUT", "/x".into(), None).with("Idempotency-Key", "k1");
        assert_eq!(r.idempotency_key(), Some("k1"));
        assert_eq!(Request::new("PUT", "/x".into(), None).idempotency_key(), None);
    }
}
