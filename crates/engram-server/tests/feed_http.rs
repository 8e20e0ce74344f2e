//! The change feed over HTTP: pages and long polls, the Server-Sent Events
//! stream and its resumption with Last-Event-ID, the outbox, and durable
//! consumers with their lag in /metrics.

mod common;

use common::{ADMIN_KEY, TestServer};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const SPACE: &str = "fs";

fn started_with(limits: engram_server::limits::Limits) -> TestServer {
    let srv = TestServer::start_with(limits);
    srv.create_space(SPACE);
    srv
}

fn feed(srv: &TestServer, query: &str) -> Value {
    let r = srv.get(&format!("/v1/spaces/{SPACE}/feed?{query}"));
    r.expect_status(200, "feed");
    r.json.clone()
}

fn put(srv: &TestServer, coll: &str, id: &str, body: Value) -> u64 {
    let r = srv.put(&format!("/v1/spaces/{SPACE}/collections/{coll}/docs/{id}"), &body);
    assert!(r.status == 200 || r.status == 201, "put: {}", r.text);
    r.json["position"].as_u64().expect("position")
}

#[test]
fn feed_pages_long_polls_and_the_outbox() {
    let srv = std::sync::Arc::new(started_with(Default::default()));
    put(&srv, "notes", "a", json!({"n": 1}));
    put(&srv, "tasks", "b", json!({"n": 2}));
    let tx = json!({"ops": [
        {"op": "put", "collection": "orders", "id": "o1", "body": {"total": 5}},
        {"op": "publish", "topic": "order.created", "payload": {"id": "o1"}},
    ]});
    srv.post(&format!("/v1/spaces/{SPACE}/transactions"), &tx).expect_status(200, "transaction");
    let r = srv.post(&format!("/v1/spaces/{SPACE}/outbox"), &json!({"topic": "order.paid", "payload": {"id": "o1"}}));
    r.expect_status(201, "publish");
    let page = feed(&srv, "collections=notes,orders&include_documents=true");
    let ids: Vec<&str> =
        page["entries"].as_array().expect("entries").iter().map(|e| e["id"].as_str().unwrap_or("")).collect();
    assert_eq!(ids, ["a", "o1"]);
    assert_eq!(page["entries"][1]["document"], json!({"total": 5}));
    let out = feed(&srv, "source=outbox&topics=order.created");
    assert_eq!(out["entries"].as_array().map(Vec::len), Some(1));
    assert_eq!(out["entries"][0]["payload"], json!({"id": "o1"}));
    assert_eq!(feed(&srv, "source=outbox")["entries"].as_array().map(Vec::len), Some(2));
    // A long poll from the head is woken by a write through the server.
    let head = page["head"].as_u64().expect("head");
    let writer = {
        let srv = srv.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            put(&srv, "notes", "late", json!({}))
        })
    };
    let t = Instant::now();
    let woke = feed(&srv, &format!("after={head}&wait_seconds=10"));
    let position = writer.join().expect("writer");
    assert_eq!(woke["entries"][0]["position"], position);
    assert!(t.elapsed() < Duration::from_secs(5), "woken by the write: {:?}", t.elapsed());
    // Bad parameters are problems.
    let bad = |q: &str, what: &str| {
        srv.get(&format!("/v1/spaces/{SPACE}/feed?{q}")).expect_problem(400, "invalid-input", what);
    };
    bad("ops=upsert", "unknown op");
    bad("topics=t", "topics without the outbox source");
    bad("collections=_messages", "reserved collection");
    bad("wait_seconds=21", "wait too long");
    bad("limit=0", "zero limit");
    srv.post(&format!("/v1/spaces/{SPACE}/outbox"), &json!({"topic": "bad topic", "payload": 1})).expect_problem(
        400,
        "invalid-input",
        "bad topic",
    );
}

/// Opens the SSE stream and returns its events' (id, data) as they come,
/// until `n` events or the stream's end.
fn sse(srv: &TestServer, query: &str, last_event_id: Option<u64>, n: usize) -> (String, Vec<(u64, Value)>) {
    sse_at(&srv.base, query, last_event_id, n)
}

fn sse_at(base: &str, query: &str, last_event_id: Option<u64>, n: usize) -> (String, Vec<(u64, Value)>) {
    let addr = base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let resume = last_event_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
    let req = format!(
        "GET /v1/spaces/{SPACE}/feed/events?{query} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN_KEY}\r\n{resume}Connection: close\r\n\r\n"
    );
    conn.write_all(req.as_bytes()).expect("send");
    let mut reader = BufReader::new(conn);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header line");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    let mut events = Vec::new();
    let mut id = None;
    let mut line = String::new();
    while events.len() < n {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let l = line.trim_end();
        if let Some(v) = l.strip_prefix("id:") {
            id = v.trim().parse::<u64>().ok();
        } else if let Some(v) = l.strip_prefix("data:") {
            let data: Value = serde_json::from_str(v.trim()).expect("event data is JSON");
            events.push((id.expect("an id before the data"), data));
        }
    }
    (head, events)
}

#[test]
fn server_sent_events_stream_and_resume() {
    let limits = engram_server::limits::Limits { feed_stream_max: Duration::from_secs(2), ..Default::default() };
    let srv = std::sync::Arc::new(started_with(limits));
    let first = put(&srv, "notes", "1", json!({"n": 1}));
    put(&srv, "notes", "2", json!({"n": 2}));
    let later = {
        let srv = srv.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            put(&srv, "notes", "3", json!({"n": 3}))
        })
    };
    let (head, events) = sse(&srv, "collections=notes&include_documents=true", None, 3);
    let third = later.join().expect("writer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/event-stream"), "{head}");
    let ids: Vec<&str> = events.iter().map(|(_, d)| d["id"].as_str().unwrap_or("")).collect();
    assert_eq!(ids, ["1", "2", "3"], "the backlog, then a live write");
    assert_eq!(events[2].0, third);
    assert_eq!(events[0].1["document"], json!({"n": 1}));
    // Resuming after the first event replays only what follows it.
    let (_, resumed) = sse(&srv, "collections=notes", Some(first), 2);
    assert_eq!(resumed.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [events[1].0, third]);
    // The stream ends by itself after the server's limit.
    let t = Instant::now();
    let (_, rest) = sse(&srv, &format!("after={third}"), None, 1);
    assert!(rest.is_empty());
    assert!(t.elapsed() < Duration::from_secs(10), "the stream closed after its limit");
    let (bad, _) = sse(&srv, "ops=nope", None, 0);
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
}

#[test]
fn durable_consumers_over_http() {
    let srv = started_with(Default::default());
    let base = format!("/v1/spaces/{SPACE}/consumers");
    let body = json!({"filter": {"source": "documents", "collections": ["notes"]}, "start": "beginning"});
    srv.put(&format!("{base}/mailer"), &body).expect_status(201, "create consumer");
    srv.put(&format!("{base}/mailer"), &body).expect_problem(409, "conflict", "duplicate consumer");
    srv.put(&format!("{base}/bad%20name"), &body).expect_problem(400, "invalid-input", "bad name");
    put(&srv, "notes", "n1", json!({}));
    put(&srv, "other", "x", json!({}));
    let r = srv.post(&format!("{base}/mailer/poll"), &json!({"limit": 10}));
    r.expect_status(200, "poll");
    assert_eq!(r.json["entries"][0]["id"], "n1");
    assert_eq!(r.json["entries"].as_array().map(Vec::len), Some(1));
    let next = r.json["next_after"].as_u64().expect("next_after");
    let info = srv.get(&format!("{base}/mailer"));
    assert!(info.json["lag"].as_u64().expect("lag") > 0);
    let metrics = srv.get("/metrics").text;
    assert!(
        metrics.contains(&format!("engram_feed_consumer_lag_entries{{space=\"{SPACE}\",consumer=\"mailer\"}}")),
        "{metrics}"
    );
    let acked = srv.post(&format!("{base}/mailer/ack"), &json!({"position": next}));
    acked.expect_status(200, "ack");
    assert_eq!(acked.json["lag"], 0, "caught up: {}", acked.text);
    let r = srv.post(&format!("{base}/mailer/poll"), &json!({"wait_seconds": 1}));
    assert!(r.json["entries"].as_array().expect("entries").is_empty());
    srv.post(&format!("{base}/mailer/ack"), &json!({"position": 1_000_000})).expect_problem(
        400,
        "invalid-input",
        "beyond the head",
    );
    let list = srv.get(&base);
    assert_eq!(list.json["consumers"][0]["name"], "mailer");
    srv.delete(&format!("{base}/mailer")).expect_status(204, "delete");
    srv.get(&format!("{base}/mailer")).expect_problem(404, "not-found", "deleted");
}

#[test]
fn shutting_down_ends_open_feed_streams() {
    let srv = started_with(Default::default());
    let base = srv.base.clone();
    let reader = std::thread::spawn(move || {
        let t = Instant::now();
        let (head, events) = sse_at(&base, "after=0", None, 1_000);
        (head, events.len(), t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    drop(srv);
    assert!(t.elapsed() < Duration::from_secs(10), "the shutdown waited {:?} for an open stream", t.elapsed());
    let (head, _, open_for) = reader.join().expect("reader");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(open_for < Duration::from_secs(15), "the stream ended with the server, after {open_for:?}");
}
