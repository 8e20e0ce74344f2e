//! The webhook receiver: a minimal HTTP/1.1 server on loopback, in the
//! crash loop's own process (so it outlives every server kill), that
//! answers 500 to a share of the deliveries and records each one: the
//! message id, the tag of its payload, whether it was accepted, and whether
//! its Standard Webhooks signature verifies.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How long a delivery may take to arrive in full once connected.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest header section read (the dispatcher sends a handful).
const HEADERS_MAX: usize = 64;

/// One delivery attempt as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The `webhook-id` header: the outbox message's id.
    pub id: String,
    /// The payload's tag (None: no tag, or not JSON).
    pub tag: Option<String>,
    /// Answered 2xx (otherwise 500).
    pub accepted: bool,
    /// The signature verifies with the endpoint's secret.
    pub signed: bool,
}

/// State shared with the connection threads.
struct Shared {
    key: OnceLock<Vec<u8>>,
    log: Mutex<Vec<Delivery>>,
    rng: Mutex<StdRng>,
    fail_share: f64,
    stop: AtomicBool,
}

/// A running receiver; stops accepting when dropped.
pub struct Receiver {
    /// The endpoint URL to register.
    pub url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Receiver {
    /// Listens on a free loopback port; `fail_share` of the deliveries are
    /// answered 500, chosen by a generator seeded with `seed`.
    pub fn start(seed: u64, fail_share: f64) -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("webhook receiver: bind: {e}"))?;
        let addr = listener.local_addr().map_err(|e| format!("webhook receiver: {e}"))?;
        let shared = Arc::new(Shared {
            key: OnceLock::new(),
            log: Mutex::default(),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            fail_share,
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || accept_loop(&listener, &s));
        Ok(Self { url: format!("http://{addr}/hook"), addr, shared })
    }

    /// Sets the secret (`whsec_…`) the signatures are checked with; the
    /// endpoint returns it once, at creation, before anything is published.
    pub fn set_secret(&self, secret: &str) -> Result<(), String> {
        let key = engram::secret_key(secret).map_err(|e| format!("the endpoint's secret: {e}"))?;
        self.shared.key.set(key).map_err(|_| "the endpoint's secret is set twice".to_owned())
    }

    /// Every delivery so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so that its thread sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(conn) = conn else { continue };
        let s = shared.clone();
        std::thread::spawn(move || {
            let _ = serve(conn, &s);
        });
    }
}

/// A request's header lines and body.
struct Incoming {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Incoming {
    fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map_or("", |(_, v)| v.as_str())
    }
}

/// Reads one request, records it, answers, and closes the connection (the
/// dispatcher then connects afresh for the next message).
fn serve(conn: TcpStream, shared: &Shared) -> std::io::Result<()> {
    conn.set_read_timeout(Some(READ_TIMEOUT))?;
    let Some(req) = read_request(&mut BufReader::new(conn.try_clone()?))? else { return Ok(()) };
    let accepted = !shared.rng.lock().is_ok_and(|mut r| r.random_bool(shared.fail_share));
    let delivery = record(&req, shared, accepted);
    if let Ok(mut log) = shared.log.lock() {
        log.push(delivery);
    }
    let status = if accepted { "200 OK" } else { "500 Internal Server Error" };
    let mut conn = conn;
    conn.write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes())
}

/// The request, or None when the connection closed first (a wake-up, or a
/// server killed mid-send).
fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<Incoming>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None); // no request line
    }
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || headers.len() > HEADERS_MAX {
            return Ok(None);
        }
        let Some((k, v)) = line.trim_end().split_once(':') else { break }; // the blank line
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let mut req = Incoming { headers, body: Vec::new() };
    req.body = vec![0; req.header("content-length").parse().unwrap_or(0)];
    if reader.read_exact(&mut req.body).is_err() {
        return Ok(None);
    }
    Ok(Some(req))
}

/// What the delivery carried, with its signature checked.
fn record(req: &Incoming, shared: &Shared, accepted: bool) -> Delivery {
    let id = req.header("webhook-id").to_owned();
    let timestamp = req.header("webhook-timestamp").parse().unwrap_or(0);
    let signed = shared.key.get().is_some_and(|key| {
        engram_server::webhooks::sign::verify(key, &id, timestamp, &req.body, req.header("webhook-signature"))
    });
    let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
    Delivery { id, tag: crate::messages::tag_of(&body["data"]).map(str::to_owned), accepted, signed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_read_with_its_headers_and_body() {
        let raw = "POST /hook HTTP/1.1\r\nHost: 127.0.0.1:9\r\nwebhook-id: msg_1\r\ncontent-length: 4\r\n\r\nbodyrest";
        let req = read_request(&mut raw.as_bytes()).expect("read").expect("a request");
        assert_eq!(req.header("Webhook-Id"), "msg_1");
        assert_eq!(req.header("host"), "127.0.0.1:9");
        assert_eq!(req.body, b"body");
        assert!(read_request(&mut "POST /hook HTTP/1.1\r\n".as_bytes()).expect("read").is_none());
    }
}
