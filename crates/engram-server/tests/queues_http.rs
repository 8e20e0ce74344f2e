//! Queues over HTTP: the whole lifecycle, long polling woken by an enqueue
//! and by a delay ending, and bad input answered with problem+json.
//! Every response is checked against the OpenAPI document.

mod common;

use common::TestServer;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SPACE: &str = "qs";

fn started() -> TestServer {
    let srv = TestServer::start();
    srv.create_space(SPACE);
    srv
}

fn q(rest: &str) -> String {
    format!("/v1/spaces/{SPACE}/queues/jobs%2Fmail{rest}")
}

fn receive(srv: &TestServer, body: Value) -> Vec<Value> {
    let r = srv.post(&q("/receive"), &body);
    r.expect_status(200, "receive");
    r.json["messages"].as_array().expect("messages").clone()
}

#[test]
fn queue_lifecycle_over_http() {
    let srv = started();
    let r = srv.put(&q(""), &json!({"max_attempts": 2, "visibility_timeout_seconds": 60}));
    r.expect_status(200, "configure");
    assert_eq!(r.json["config"]["max_attempts"], 2);
    assert_eq!(r.json["queue"], "jobs/mail");
    let r = srv.post(
        &q("/messages"),
        &json!({"messages": [
            {"body": {"n": 1}},
            {"body": {"n": 2}, "priority": 5, "dedup_key": "k2"},
            {"body": {"n": 3}, "group": "g"},
            {"body": {"n": 4}, "group": "g"},
        ]}),
    );
    r.expect_status(200, "enqueue");
    let ids: Vec<String> =
        r.json["messages"].as_array().expect("results").iter().map(|m| m["id"].as_str().expect("id").into()).collect();
    assert_eq!(ids.len(), 4);
    let again = srv.post(&q("/messages"), &json!({"messages": [{"body": {"n": 22}, "dedup_key": "k2"}]}));
    assert_eq!(again.json["messages"][0]["deduplicated"], true);
    assert_eq!(again.json["messages"][0]["id"], ids[1].as_str());
    let stats = srv.get(&q(""));
    stats.expect_status(200, "stats");
    assert_eq!((stats.json["ready"].as_u64(), stats.json["waiting"].as_u64()), (Some(3), Some(1)));
    let got = receive(&srv, json!({"max_messages": 10}));
    let ns: Vec<u64> = got.iter().map(|m| m["body"]["n"].as_u64().expect("n")).collect();
    assert_eq!(ns, [2, 1, 3], "priority first, then age; one message of group g");
    let receipt = |i: usize| got[i]["receipt"].as_str().expect("receipt").to_owned();
    let r = srv.post(&q("/ack"), &json!({"receipts": [receipt(2), receipt(2)]}));
    r.expect_status(200, "ack");
    assert_eq!(r.json["results"][0]["acked"], true);
    assert_eq!(r.json["results"][1]["acked"], false, "a receipt acks once");
    assert_eq!(receive(&srv, json!({}))[0]["body"]["n"], 4, "the group moves on after the ack");
    let r = srv.post(&q("/extend"), &json!({"receipt": receipt(0), "visibility_timeout_seconds": 120}));
    r.expect_status(200, "extend");
    assert!(
        r.json["lease_expires_at_ms"].as_u64().expect("expiry") > got[0]["lease_expires_at_ms"].as_u64().expect("old")
    );
    let r = srv.post(&q("/nack"), &json!({"receipt": receipt(1), "delay_seconds": 0, "error": "smtp down"}));
    r.expect_status(200, "nack");
    assert_eq!(r.json["dead_lettered"], false);
    let again = receive(&srv, json!({}));
    assert_eq!(again[0]["attempts"], 2);
    let r = srv.post(&q("/nack"), &json!({"receipt": again[0]["receipt"], "error": "still down"}));
    assert_eq!(r.json["dead_lettered"], true, "attempts spent");
    srv.post(&q("/nack"), &json!({"receipt": again[0]["receipt"]})).expect_problem(409, "conflict", "lease gone");
    let dead = srv.get(&q("/dead-letters?limit=10"));
    dead.expect_status(200, "dead letters");
    assert_eq!(dead.json["messages"][0]["body"]["n"], 1);
    assert!(dead.json["messages"][0]["reason"].as_str().expect("reason").contains("still down"));
    let r = srv.post(&q("/redrive"), &json!({}));
    assert_eq!(r.json["count"], 1);
    assert_eq!(receive(&srv, json!({}))[0]["attempts"], 1);
    // Enqueue inside a transaction, with a document.
    let tx = json!({"ops": [
        {"op": "put", "collection": "orders", "id": "o1", "body": {"total": 3}},
        {"op": "enqueue", "queue": "jobs/mail", "message": {"body": {"n": 5}}},
    ]});
    srv.post(&format!("/v1/spaces/{SPACE}/transactions"), &tx).expect_status(200, "transaction");
    assert_eq!(receive(&srv, json!({}))[0]["body"]["n"], 5);
    let list = srv.get(&format!("/v1/spaces/{SPACE}/queues"));
    assert_eq!(list.json["queues"][0]["queue"], "jobs/mail");
    let r = srv.post(&q("/purge"), &json!({"dead_letters": true}));
    r.expect_status(200, "purge");
    assert_eq!(r.json["count"], 4, "the leased messages 2, 4, 1 and 5");
    let r = srv.delete(&q(""));
    r.expect_status(200, "delete");
    srv.get(&q("")).expect_problem(404, "not-found", "deleted queue");
}

#[test]
fn bad_queue_requests_get_problems() {
    let srv = started();
    let cases: &[(&str, Value, &str)] = &[
        ("/messages", json!({"messages": []}), "empty enqueue"),
        ("/messages", json!({"messages": [{"body": 1, "priority": 10}]}), "priority above 9"),
        ("/messages", json!({"messages": [{"body": 1, "delay": 5}]}), "unknown field"),
        ("/messages", json!({"messages": [{"body": 1, "group": ""}]}), "empty group"),
        ("/receive", json!({"max_messages": 0}), "no messages asked"),
        ("/receive", json!({"wait_seconds": 21}), "wait above 20 s"),
        ("/receive", json!({"visibility_timeout_seconds": 0}), "zero lease"),
        ("/ack", json!({"receipts": ["nope"]}), "malformed receipt"),
        ("/ack", json!({"receipts": []}), "no receipts"),
        (
            "/extend",
            json!({"receipt": "x.0123456789abcdef0123456789abcdef", "visibility_timeout_seconds": 43201}),
            "lease too long",
        ),
        ("/nack", json!({"receipt": "x", "error": "e".repeat(2000)}), "error too long"),
    ];
    for (path, body, what) in cases {
        srv.post(&q(path), body).expect_problem(400, "invalid-input", what);
    }
    srv.put(&q(""), &json!({"max_attempts": 0})).expect_problem(400, "invalid-input", "zero attempts");
    srv.put(&q(""), &json!({"retry_base_ms": 10, "retry_max_ms": 5})).expect_problem(
        400,
        "invalid-input",
        "base above max",
    );
    srv.post("/v1/spaces/qs/queues/bad@name/messages", &json!({"messages": [{"body": 1}]})).expect_problem(
        400,
        "invalid-input",
        "bad queue name",
    );
    let big = json!({"messages": [{"body": "x".repeat(300 * 1024)}]});
    srv.post(&q("/messages"), &big).expect_problem(413, "too-large", "body above 256 KiB");
    srv.get(&q("/dead-letters?limit=0")).expect_problem(400, "invalid-input", "zero limit");
    srv.post("/v1/spaces/nope/queues/q/receive", &json!({})).expect_problem(404, "not-found", "missing space");
    srv.get(&q("")).expect_problem(404, "not-found", "missing queue");
    assert!(receive(&srv, json!({})).is_empty(), "a queue nobody wrote to has nothing");
}

#[test]
fn long_polls_wake_on_enqueue_and_on_due_messages() {
    let srv = std::sync::Arc::new(started());
    // An empty queue: the poll lasts its wait and returns nothing.
    let t = Instant::now();
    assert!(receive(&srv, json!({"wait_seconds": 1})).is_empty());
    assert!(t.elapsed() >= Duration::from_millis(950), "returned after {:?}", t.elapsed());
    // Woken by an enqueue from another client.
    let producer = {
        let srv = srv.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            srv.post(&q("/messages"), &json!({"messages": [{"body": {"n": 1}}]})).expect_status(200, "enqueue");
        })
    };
    let t = Instant::now();
    let got = receive(&srv, json!({"wait_seconds": 10}));
    let took = t.elapsed();
    producer.join().expect("producer");
    assert_eq!(got.len(), 1);
    assert!(took < Duration::from_secs(5), "woken by the enqueue, not the deadline: {took:?}");
    // Woken when a delayed message comes due.
    srv.post(&q("/messages"), &json!({"messages": [{"body": {"n": 2}, "delay_seconds": 1}]}))
        .expect_status(200, "enqueue");
    let t = Instant::now();
    let got = receive(&srv, json!({"wait_seconds": 10}));
    let took = t.elapsed();
    assert_eq!(got.len(), 1, "the delayed message");
    assert!(took >= Duration::from_millis(500) && took < Duration::from_secs(5), "took {took:?}");
}
