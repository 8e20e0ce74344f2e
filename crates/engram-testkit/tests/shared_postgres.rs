//! Two engines over one PostgreSQL database, as two servers: one gapless
//! log per space with rising timestamps whichever engine writes, derived
//! indexes and name caches that see the other engine's writes at once, and
//! idempotency keys honoured across engines. Skipped with a message when no
//! server is reachable (outside CI).

use engram::{CollectionSpec, Engine, ErrorKind, IndexSpec, Query, SearchRequest, WriteOptions};
use engram_testkit::postgres_available;
use engram_testkit::shared::SharedEngines;
use serde_json::{Value, json};

const T0: u64 = 1_900_000_000_000;

fn pair() -> Option<SharedEngines> {
    // B's clock runs a minute behind A's, as a badly synced server's would.
    postgres_available().then(|| SharedEngines::open(&[T0, T0 - 60_000]))
}

fn put(e: &Engine, coll: &str, id: &str, body: Value) {
    e.space("s").expect("space").put(coll, id, body, WriteOptions::default()).expect("put");
}

/// Space `s` with a text-searchable `notes` collection written through A
/// (one note, "red apple"), found by B's search for "apple": B's handle on
/// the space and that search.
fn searchable_through_b(a: &Engine, b: &Engine) -> (engram::Space, SearchRequest) {
    a.create_space("s").expect("space");
    let spec: CollectionSpec = serde_json::from_value(json!({"search": {"text": [{"path": "title"}]}})).expect("spec");
    a.space("s").expect("space").create_collection("notes", spec).expect("collection");
    put(a, "notes", "n1", json!({"title": "red apple"}));
    let text: SearchRequest = serde_json::from_value(json!({"text": "apple"})).expect("request");
    let sb = b.space("s").expect("space");
    assert_eq!(ids(&sb.search("notes", &text).expect("search").hits), ["n1"]);
    (sb, text)
}

fn ids(v: &[engram::SearchHit]) -> Vec<String> {
    v.iter().map(|h| h.id.clone()).collect()
}

#[test]
fn writes_through_either_engine_form_one_chain_with_rising_timestamps() {
    let Some(fx) = pair() else { return };
    let (a, b) = (&fx.engines[0], &fx.engines[1]);
    a.create_space("s").expect("space");
    std::thread::scope(|scope| {
        for (t, e) in [a, b, a, b].into_iter().enumerate() {
            scope.spawn(move || {
                for i in 0..40 {
                    put(e, "c", &format!("t{t}-{i}"), json!({"i": i}));
                    put(e, "hot", "counter", json!({"by": t, "i": i}));
                }
            });
        }
    });
    let space = b.space("s").expect("space");
    let report = space.verify_changes().expect("the chain verifies");
    assert_eq!(report.head_position, 1 + 2 + 4 * 40 * 2, "space, two collections, every write once");
    let entries = space.changes(0, 10_000).expect("changes");
    for w in entries.windows(2) {
        assert!(w[1].hlc > w[0].hlc, "timestamps rise along the log: {} then {}", w[0].hlc, w[1].hlc);
    }
    let counter = a.space("s").expect("space").get("hot", "counter").expect("counter");
    assert_eq!(counter.version, 160, "every update of the hot document counted once");
}

#[test]
fn search_and_graph_through_one_engine_see_the_others_writes() {
    let Some(fx) = pair() else { return };
    let (a, b) = (&fx.engines[0], &fx.engines[1]);
    let (sb, text) = searchable_through_b(a, b);
    // Writes through A, each followed at once by a search through B.
    put(a, "notes", "n2", json!({"title": "green apple"}));
    let mut seen = ids(&sb.search("notes", &text).expect("search").hits);
    seen.sort();
    assert_eq!(seen, ["n1", "n2"], "B's index caught up with A's write");
    a.space("s").expect("space").delete("notes", "n1", WriteOptions::default()).expect("delete");
    assert_eq!(ids(&sb.search("notes", &text).expect("search").hits), ["n2"], "A's delete is seen by B");

    put(a, "people", "ann", json!({}));
    put(a, "people", "bob", json!({}));
    put(a, "people", "cat", json!({}));
    let link = |from: &str, to: &str| {
        let edge = serde_json::from_value(json!({
            "from": {"collection": "people", "id": from}, "type": "knows", "to": {"collection": "people", "id": to}
        }))
        .expect("edge");
        a.space("s").expect("space").link(edge).expect("link");
    };
    let neighbors = |e: &Engine| -> Vec<String> {
        let req = serde_json::from_value(json!({"from": {"collection": "people", "id": "ann"}})).expect("request");
        let mut v: Vec<String> = e
            .space("s")
            .expect("space")
            .neighbors(&req)
            .expect("neighbors")
            .nodes
            .into_iter()
            .map(|n| n.node.id)
            .collect();
        v.sort();
        v
    };
    link("ann", "bob");
    assert_eq!(neighbors(b), ["bob"]);
    link("ann", "cat");
    assert_eq!(neighbors(b), ["bob", "cat"], "B's graph caught up with A's edge");
}

#[test]
fn spec_and_space_changes_through_one_engine_bind_the_other_at_once() {
    let Some(fx) = pair() else { return };
    let (a, b) = (&fx.engines[0], &fx.engines[1]);
    a.create_space("s").expect("space");
    put(b, "items", "x", json!({"n": 1}));
    assert_eq!(b.space("s").expect("space").collection("items").expect("cached by B").generation, 1);
    let strict: CollectionSpec = serde_json::from_value(json!({
        "schema": {"type": "object", "required": ["n"]},
        "indexes": [{"name": "by_n", "paths": ["n"]}]
    }))
    .expect("spec");
    a.space("s").expect("space").update_collection("items", strict).expect("update through A");
    let refused = b.space("s").expect("space").put("items", "y", json!({"m": 1}), WriteOptions::default());
    assert_eq!(refused.expect_err("schema enforced by B").kind(), ErrorKind::SchemaViolation);
    let info = b.space("s").expect("space").collection("items").expect("collection");
    assert_eq!(info.spec.indexes.len(), 1, "B reads the new spec: {info:?}");
    // The space deleted and created again through A: B reaches the new one.
    a.delete_space("s").expect("delete");
    assert_eq!(b.space("s").map(drop).expect_err("gone for B too").kind(), ErrorKind::NotFound);
    a.create_space("s").expect("again");
    put(a, "items", "z", json!({"n": 3}));
    let page = b.space("s").expect("space").query("items", &Query::default()).expect("query");
    let found: Vec<String> = page.documents.into_iter().map(|d| d.id).collect();
    assert_eq!(found, ["z"], "B reads the new space, not the deleted one");
    let by_n: CollectionSpec = CollectionSpec {
        indexes: vec![IndexSpec { id: 0, name: "n".into(), paths: vec!["n".into()] }],
        ..Default::default()
    };
    a.space("s").expect("space").update_collection("items", by_n).expect("index through A");
    let q = Query { filter: json!({"n": 3}), ..Query::default() };
    assert_eq!(b.space("s").expect("space").query("items", &q).expect("indexed query").documents.len(), 1);
}

#[test]
fn gets_through_one_engine_follow_collections_dropped_and_created_through_the_other() {
    let Some(fx) = pair() else { return };
    let (a, b) = (&fx.engines[0], &fx.engines[1]);
    a.create_space("s").expect("space");
    put(a, "items", "x", json!({"n": 1}));
    let get = |id: &str| b.space("s").expect("space").get("items", id);
    assert_eq!(get("x").expect("B reads A's document").body, json!({"n": 1}));
    assert_eq!(get("y").map(drop).expect_err("absent").kind(), ErrorKind::NotFound);
    // Dropped through A: B's get finds no collection, not an old document.
    a.space("s").expect("space").drop_collection("items").expect("drop");
    let gone = get("x").map(drop).expect_err("collection gone");
    assert!(gone.message().contains("collection"), "{}", gone.message());
    // Created again under the same name (a new id): B reads the new one.
    put(a, "items", "x", json!({"n": 2}));
    let again = get("x").expect("the new collection's document");
    assert_eq!((again.body, again.version), (json!({"n": 2}), 1));
    a.space("s").expect("space").drop_collection("items").expect("drop");
    put(a, "items", "y", json!({"n": 3}));
    assert_eq!(get("x").map(drop).expect_err("not in the newest collection").kind(), ErrorKind::NotFound);
    assert_eq!(get("y").expect("found").body, json!({"n": 3}));
}

#[test]
fn idempotency_keys_hold_across_engines() {
    let Some(fx) = pair() else { return };
    let (a, b) = (&fx.engines[0], &fx.engines[1]);
    a.create_space("s").expect("space");
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = [a, b, a, b]
            .into_iter()
            .map(|e| {
                scope.spawn(move || {
                    let opts = WriteOptions::idempotent("order-17");
                    e.space("s").expect("space").put("orders", "o17", json!({"total": 5}), opts).expect("put")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    assert_eq!(results.iter().filter(|r| !r.replayed).count(), 1, "applied once: {results:?}");
    assert!(results.iter().all(|r| r.version == 1 && r.position == results[0].position));
    let doc = b.space("s").expect("space").get("orders", "o17").expect("doc");
    assert_eq!(doc.version, 1);
}

#[test]
fn a_space_deleted_through_one_engine_leaves_no_derived_state_in_the_other() {
    let Some(fx) = pair() else { return };
    let (a, b) = (&fx.engines[0], &fx.engines[1]);
    let (sb, _) = searchable_through_b(a, b);
    let id = sb.id();
    sb.save_search_index().expect("B saves its index file");
    let file = fx.search_dir(1).join(format!("space-{id}.idx"));
    assert!(file.exists(), "B's index file {}", file.display());
    a.delete_space("s").expect("deleted through A");
    b.index_now().expect("B's indexer pass");
    assert!(!file.exists(), "B dropped the deleted space's index file");
}

#[test]
fn long_polls_on_one_engine_wake_on_the_others_commits() {
    let Some(fx) = pair() else { return };
    let (a, b) = (&fx.engines[0], &fx.engines[1]);
    a.create_space("s").expect("space");
    let (sa, sb) = (a.space("s").expect("space"), b.space("s").expect("space"));
    let wait = |f: &dyn Fn() -> usize| {
        let t = std::time::Instant::now();
        let n = f();
        (n, t.elapsed())
    };
    // A queue receive on B, an enqueue through A.
    let producer = {
        let sa = sa.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            sa.enqueue("jobs", vec![engram::MessageInput::new(json!({"n": 1}))]).expect("enqueue");
        })
    };
    let req = engram::ReceiveRequest { wait_seconds: Some(15), ..Default::default() };
    let (n, took) = wait(&|| sb.receive("jobs", req).expect("receive").len());
    producer.join().expect("producer");
    assert_eq!(n, 1);
    assert!(took < std::time::Duration::from_secs(5), "woken by the other engine's announcement, took {took:?}");
    // A feed long poll on B, a put through A.
    let head = sb.feed(0, &engram::FeedFilter::default(), 1).expect("feed").head;
    let writer = {
        let sa = sa.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            sa.put("notes", "n1", json!({}), WriteOptions::default()).expect("put");
        })
    };
    let (n, took) = wait(&|| {
        let page = sb.feed_wait(head, &engram::FeedFilter::default(), 10, std::time::Duration::from_secs(15));
        page.expect("feed").entries.len()
    });
    writer.join().expect("writer");
    assert_eq!(n, 1);
    assert!(took < std::time::Duration::from_secs(5), "woken by the other engine's announcement, took {took:?}");
}

#[test]
fn consumers_on_two_engines_never_hold_one_message_at_once() {
    let Some(fx) = pair() else { return };
    let (a, b) = (&fx.engines[0], &fx.engines[1]);
    a.create_space("s").expect("space");
    const MESSAGES: u64 = 200;
    let sa = a.space("s").expect("space");
    for chunk in (0..MESSAGES).collect::<Vec<_>>().chunks(50) {
        let batch = chunk.iter().map(|n| engram::MessageInput::new(json!({ "n": n }))).collect();
        sa.enqueue("jobs", batch).expect("enqueue");
    }
    // Three consumers per engine, receiving and acknowledging in batches.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::<String, u32>::new()));
    let consumers: Vec<_> = [a, b]
        .iter()
        .flat_map(|e| (0..3).map(move |_| e.space("s").expect("space")))
        .map(|space| {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let req = engram::ReceiveRequest { max_messages: Some(5), ..Default::default() };
                loop {
                    let got = space.receive_now("jobs", req).expect("receive").messages;
                    if got.is_empty() {
                        return;
                    }
                    for m in &got {
                        *seen.lock().expect("seen").entry(m.id.clone()).or_default() += 1;
                    }
                    let receipts = got.iter().map(|m| m.receipt.clone()).collect();
                    assert!(space.ack("jobs", receipts).expect("ack").iter().all(|r| r.acked), "every lease held");
                }
            })
        })
        .collect();
    for c in consumers {
        c.join().expect("consumer");
    }
    let seen = seen.lock().expect("seen");
    assert_eq!(seen.len() as u64, MESSAGES, "every message delivered");
    assert!(seen.values().all(|n| *n == 1), "no message handed to two consumers");
    let stats = b.space("s").expect("space").queue_stats("jobs").expect("stats");
    assert_eq!((stats.ready, stats.in_flight), (0, 0));
}

#[test]
fn a_consumer_resumes_on_another_engine_and_webhook_state_is_shared() {
    let Some(fx) = pair() else { return };
    let (a, b) = (&fx.engines[0], &fx.engines[1]);
    a.create_space("s").expect("space");
    let (sa, sb) = (a.space("s").expect("space"), b.space("s").expect("space"));
    let filter = engram::FeedFilter { source: engram::FeedSource::Outbox, ..Default::default() };
    sa.create_consumer("mailer", engram::NewConsumer { filter, start: engram::ConsumerStart::Beginning })
        .expect("consumer through A");
    for i in 0..3 {
        sa.publish("mail.send", json!({ "n": i })).expect("publish through A");
    }
    let first = sa.consumer_poll("mailer", 2, std::time::Duration::ZERO).expect("poll through A");
    assert_eq!(first.entries.len(), 2);
    sa.consumer_ack("mailer", first.next_after).expect("ack through A");
    // B resumes where A acknowledged.
    let rest = sb.consumer_poll("mailer", 10, std::time::Duration::ZERO).expect("poll through B");
    let payloads: Vec<_> = rest.entries.iter().map(|e| e.payload.clone().expect("payload")).collect();
    assert_eq!(payloads, [json!({"n": 2})]);
    let info = sb.consumer_ack("mailer", rest.next_after).expect("ack through B");
    assert_eq!(info.lag, 0);
    assert_eq!(sa.consumer("mailer").expect("seen by A").position, info.position);
    // A webhook endpoint created through A is B's to deliver from.
    let req = engram::NewWebhook { url: "http://127.0.0.1:9/hook".into(), topics: vec![], secret: None };
    sa.create_webhook("hook", req).expect("endpoint through A");
    sa.publish("mail.send", json!({ "n": 3 })).expect("publish");
    let (_, due) = sb.webhook_due("hook").expect("due through B").expect("a message is due");
    assert_eq!(due.payload, json!({ "n": 3 }));
}
