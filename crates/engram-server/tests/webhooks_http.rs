//! Webhooks end to end: a local receiver that fails, times out and answers
//! slowly at random still gets every committed message, in order, signed;
//! nothing from a rolled-back transaction arrives; dead letters and
//! replay; SSRF rules on endpoint URLs.

mod common;

use common::TestServer;
use engram_server::webhooks::WebhookSettings;
use engram_server::webhooks::sign::verify;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SPACE: &str = "hooks";

/// What the receiver does with a request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    Accept,
    Fail,
    /// Answers 200 after the sender's timeout: the sender counts a failure.
    Hang,
    /// Answers 200 slowly, within the timeout.
    Slow,
}

/// One request as received.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: u64,
    signature: String,
    body: Vec<u8>,
    answered_ok: bool,
}

/// A webhook receiver on loopback; `choose` decides each answer.
struct Receiver {
    url: String,
    log: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    fn start(choose: impl Fn() -> Behaviour + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let log: Arc<Mutex<Vec<Received>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s, choose) = (log.clone(), stop.clone(), Arc::new(choose));
        listener.set_nonblocking(true).expect("nonblocking");
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (l, choose) = (l.clone(), choose.clone());
                        std::thread::spawn(move || serve(conn, &l, choose()));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self { url, log, stop }
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().expect("log").clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(conn: TcpStream, log: &Mutex<Vec<Received>>, behaviour: Behaviour) {
    conn.set_nonblocking(false).expect("blocking");
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        headers.push(line.trim_end().to_owned());
    }
    let header = |name: &str| {
        headers
            .iter()
            .find_map(|h| {
                h.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let len: usize = header("content-length").parse().unwrap_or(0);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    match behaviour {
        Behaviour::Hang => std::thread::sleep(Duration::from_millis(600)),
        Behaviour::Slow => std::thread::sleep(Duration::from_millis(100)),
        _ => {}
    }
    let ok = behaviour != Behaviour::Fail;
    log.lock().expect("log").push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp").parse().unwrap_or(0),
        signature: header("webhook-signature"),
        body,
        answered_ok: ok,
    });
    let status = if ok { "200 OK" } else { "500 Internal Server Error" };
    let mut conn = conn;
    let _ = conn.write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes());
}

fn fast_settings() -> WebhookSettings {
    WebhookSettings {
        schedule: vec![Duration::from_millis(20); 7],
        timeout: Duration::from_millis(300),
        allow_private: true,
        concurrency: 4,
    }
}

fn server(settings: WebhookSettings) -> TestServer {
    let srv = TestServer::start_configured(Default::default(), settings);
    srv.create_space(SPACE);
    srv
}

fn create(srv: &TestServer, name: &str, body: Value) -> Vec<u8> {
    let r = srv.put(&format!("/v1/spaces/{SPACE}/webhooks/{name}"), &body);
    r.expect_status(201, "create webhook");
    engram::secret_key(r.json["secret"].as_str().expect("secret")).expect("a valid secret")
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_message_arrives_signed_and_in_order_through_failures() {
    let rng = Mutex::new(StdRng::seed_from_u64(0x5eed_0013));
    let receiver = Receiver::start(move || {
        let roll: f64 = rng.lock().expect("rng").random();
        match roll {
            r if r < 0.2 => Behaviour::Fail,
            r if r < 0.3 => Behaviour::Hang,
            r if r < 0.5 => Behaviour::Slow,
            _ => Behaviour::Accept,
        }
    });
    let srv = server(fast_settings());
    let key = create(&srv, "orders", json!({"url": receiver.url, "topics": ["order.created", "order.paid"]}));
    let mut expected = Vec::new();
    for i in 0..40 {
        let topic = if i % 3 == 0 { "order.paid" } else { "order.created" };
        let tx = json!({"ops": [
            {"op": "put", "collection": "orders", "id": format!("o{i}"), "body": {"n": i}},
            {"op": "publish", "topic": topic, "payload": {"order": i}},
            {"op": "publish", "topic": "audit.ignored", "payload": {"order": i}},
        ]});
        let r = srv.post(&format!("/v1/spaces/{SPACE}/transactions"), &tx);
        r.expect_status(200, "transaction");
        expected.push(r.json["results"][1]["id"].as_str().expect("message id").to_owned());
        if i % 10 == 0 {
            // A rolled-back transaction's message is never sent.
            let failing = json!({"ops": [
                {"op": "publish", "topic": "order.created", "payload": {"rolled_back": true}},
                {"op": "put", "collection": "orders", "id": "o0", "body": {}, "expect": "absent"},
            ]});
            srv.post(&format!("/v1/spaces/{SPACE}/transactions"), &failing).expect_problem(
                409,
                "conflict",
                "rolled back",
            );
        }
    }
    wait_until("every message accepted", Duration::from_secs(90), || {
        let got = receiver.received();
        expected.iter().all(|id| got.iter().any(|r| r.answered_ok && &r.id == id))
    });
    let got = receiver.received();
    for r in &got {
        assert!(verify(&key, &r.id, r.timestamp, &r.body, &r.signature), "signature of {}", r.id);
        let body: Value = serde_json::from_slice(&r.body).expect("JSON body");
        assert!(body["type"] == "order.created" || body["type"] == "order.paid", "{body}");
        assert!(body["data"]["rolled_back"].is_null(), "a rolled-back message arrived: {body}");
        assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    // Order: the first arrival of each message follows publication order,
    // and no message is sent before the one before it was accepted.
    let mut first: Vec<&str> = Vec::new();
    for r in &got {
        if !first.contains(&r.id.as_str()) {
            first.push(&r.id);
        }
    }
    assert_eq!(first, expected.iter().map(String::as_str).collect::<Vec<_>>(), "order per endpoint");
    let failures = got.iter().filter(|r| !r.answered_ok).count();
    let duplicates = got.iter().filter(|r| r.answered_ok).count() - expected.len();
    println!(
        "webhooks: {} messages, {} requests, {failures} failed answers, {duplicates} duplicates accepted",
        expected.len(),
        got.len()
    );
    assert!(failures > 0, "the receiver failed some requests (the test exercises retries)");
    let attempts = srv.get(&format!("/v1/spaces/{SPACE}/webhooks/orders/attempts?limit=1000"));
    attempts.expect_status(200, "attempts");
    let list = attempts.json["attempts"].as_array().expect("attempts");
    assert!(list.iter().any(|a| a["delivered"] == false) && list.iter().any(|a| a["delivered"] == true));
    let info = srv.get(&format!("/v1/spaces/{SPACE}/webhooks/orders"));
    assert!(info.json.get("secret").is_none(), "the secret is never shown again");
}

#[test]
fn dead_letters_replay_and_ssrf_rules() {
    let failing = Arc::new(AtomicBool::new(true));
    let f = failing.clone();
    let receiver = Receiver::start(move || if f.load(Ordering::SeqCst) { Behaviour::Fail } else { Behaviour::Accept });
    let settings = WebhookSettings { schedule: vec![Duration::from_millis(10); 2], ..fast_settings() };
    let srv = server(settings);
    create(&srv, "flaky", json!({"url": receiver.url}));
    let r = srv.post(&format!("/v1/spaces/{SPACE}/outbox"), &json!({"topic": "job.done", "payload": {"n": 1}}));
    let id = r.json["id"].as_str().expect("id").to_owned();
    let dead_path = format!("/v1/spaces/{SPACE}/webhooks/flaky/dead-letters");
    wait_until("a dead letter", Duration::from_secs(30), || {
        srv.get(&dead_path).json["messages"].as_array().is_some_and(|m| !m.is_empty())
    });
    let dead = srv.get(&dead_path);
    assert_eq!(dead.json["messages"][0]["message_id"], id.as_str());
    assert_eq!(dead.json["messages"][0]["attempts"], 3, "first try plus the two retries of the schedule");
    assert_eq!(receiver.received().len(), 3);
    failing.store(false, Ordering::SeqCst);
    let r = srv.post(&format!("/v1/spaces/{SPACE}/webhooks/flaky/replay"), &json!({}));
    assert_eq!(r.json["count"], 1);
    wait_until("the replay delivered", Duration::from_secs(30), || {
        receiver.received().iter().any(|r| r.answered_ok && r.id == id)
    });
    wait_until("the dead letter gone", Duration::from_secs(10), || {
        srv.get(&dead_path).json["messages"].as_array().is_some_and(Vec::is_empty)
    });
    // A server that does not allow private targets refuses them by name.
    let strict = server(WebhookSettings::default());
    let detail = strict
        .put(&format!("/v1/spaces/{SPACE}/webhooks/local"), &json!({"url": "http://127.0.0.1:9/x"}))
        .expect_problem(400, "invalid-input", "loopback endpoint");
    assert!(detail.contains("private or reserved"), "{detail}");
    for (body, what) in [
        (json!({"url": "ftp://example.com/"}), "bad scheme"),
        (json!({"url": "http://user:pw@example.com/"}), "credentials"),
        (json!({"url": receiver.url, "secret": "nope"}), "bad secret"),
        (json!({"url": receiver.url, "topics": ["bad topic"]}), "bad topic"),
    ] {
        srv.put(&format!("/v1/spaces/{SPACE}/webhooks/x"), &body).expect_problem(400, "invalid-input", what);
    }
    srv.put(&format!("/v1/spaces/{SPACE}/webhooks/flaky"), &json!({"url": receiver.url})).expect_problem(
        409,
        "conflict",
        "duplicate",
    );
    srv.delete(&format!("/v1/spaces/{SPACE}/webhooks/flaky")).expect_status(204, "delete");
    srv.get(&format!("/v1/spaces/{SPACE}/webhooks/flaky")).expect_problem(404, "not-found", "deleted");
}
