//! Conformance cases for the change feed, the outbox and durable consumers.

use crate::conformance::{Make, kind, setup};
use engram::{
    ConsumerStart, ErrorKind, Expect, FeedFilter, FeedOp, FeedSource, MessageInput, NewConsumer, Op, Space,
    WriteOptions,
};
use serde_json::json;
use std::time::{Duration, Instant};

fn put(space: &Space, coll: &str, id: &str, n: u64) -> u64 {
    space.put(coll, id, json!({ "n": n }), WriteOptions::default()).expect("put").position
}

fn outbox() -> FeedFilter {
    FeedFilter { source: FeedSource::Outbox, ..FeedFilter::default() }
}

pub fn feed_selects_entries_in_order_with_documents(make: &Make) {
    let (_fx, space) = setup(make);
    put(&space, "a", "x", 1);
    put(&space, "b", "y", 2);
    space.patch("a", "x", json!({"n": 3}), WriteOptions::default()).expect("patch");
    space.enqueue("jobs", vec![MessageInput::new(json!(1))]).expect("enqueue: reserved, never in the feed");
    space.delete("b", "y", WriteOptions::default()).expect("delete");
    let all = space.feed(0, &FeedFilter::default(), 100).expect("feed");
    let got: Vec<(String, FeedOp)> =
        all.entries.iter().map(|e| (format!("{}/{}", e.collection.as_deref().unwrap_or(""), e.id), e.op)).collect();
    assert_eq!(
        got,
        [
            ("a/x".into(), FeedOp::Put),
            ("b/y".into(), FeedOp::Put),
            ("a/x".into(), FeedOp::Patch),
            ("b/y".into(), FeedOp::Delete)
        ]
    );
    assert!(all.entries.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(all.next_after, all.head, "a page that reaches the head says so");
    // Filters by collection and operation; documents when still current.
    let only_a = FeedFilter { collections: vec!["a".into()], include_documents: true, ..FeedFilter::default() };
    let page = space.feed(0, &only_a, 100).expect("feed a");
    assert_eq!(page.entries.len(), 2);
    assert!(page.entries[0].superseded && page.entries[0].document.is_none(), "x changed since its put");
    assert_eq!(page.entries[1].document, Some(json!({"n": 3})));
    let deletes = FeedFilter { ops: vec![FeedOp::Delete], ..FeedFilter::default() };
    assert_eq!(space.feed(0, &deletes, 100).expect("deletes").entries.len(), 1);
    // Pages: next_after continues without repeating or skipping.
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let page = space.feed(after, &FeedFilter::default(), 1).expect("page");
        if page.entries.is_empty() {
            break;
        }
        seen.extend(page.entries.iter().map(|e| e.position));
        after = page.next_after;
    }
    assert_eq!(seen, all.entries.iter().map(|e| e.position).collect::<Vec<_>>());
    // A long poll returns at once with entries, and is woken by a commit.
    let head = space.feed(0, &FeedFilter::default(), 1).expect("head").head;
    let writer = {
        let space = space.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            put(&space, "a", "late", 9)
        })
    };
    let t = Instant::now();
    let page = space.feed_wait(head, &FeedFilter::default(), 10, Duration::from_secs(10)).expect("wait");
    let position = writer.join().expect("writer");
    assert_eq!(page.entries.iter().map(|e| e.position).collect::<Vec<_>>(), [position]);
    assert!(t.elapsed() < Duration::from_secs(5), "woken by the commit");
    // Bad filters are refused by name.
    let mixed = FeedFilter { topics: vec!["t".into()], ..FeedFilter::default() };
    assert_eq!(kind(space.feed(0, &mixed, 10)), ErrorKind::InvalidInput);
    let reserved = FeedFilter { collections: vec!["_messages".into()], ..FeedFilter::default() };
    assert_eq!(kind(space.feed(0, &reserved, 10)), ErrorKind::InvalidInput);
    assert_eq!(kind(space.feed(0, &FeedFilter::default(), 0)), ErrorKind::InvalidInput);
    assert_eq!(kind(space.feed(0, &FeedFilter::default(), 1001)), ErrorKind::InvalidInput);
}

pub fn outbox_delivers_only_what_committed(make: &Make) {
    let (_fx, space) = setup(make);
    space.put("orders", "o0", json!({}), WriteOptions::default()).expect("put");
    let failed = space.commit(
        vec![
            Op::Publish { topic: "order.created".into(), payload: json!({"id": "o1"}) },
            Op::Put {
                collection: "orders".into(),
                id: "o0".into(),
                body: json!({}),
                expect: Expect::Absent,
                ttl_seconds: None,
            },
        ],
        None,
    );
    assert_eq!(kind(failed), ErrorKind::Conflict);
    assert!(space.feed(0, &outbox(), 100).expect("outbox").entries.is_empty(), "a rolled-back message never appears");
    let done = space
        .transaction(|b| {
            b.put("orders", "o2", json!({"total": 2}));
            b.publish("order.created", json!({"id": "o2"}));
            b.publish("order.paid", json!({"id": "o2"}));
            Ok(())
        })
        .expect("commit");
    space.publish("order.created", json!({"id": "o3"})).expect("publish");
    let page = space.feed(0, &outbox(), 100).expect("outbox");
    let got: Vec<(String, serde_json::Value)> =
        page.entries.iter().map(|e| (e.topic.clone().expect("topic"), e.payload.clone().expect("payload"))).collect();
    assert_eq!(
        got,
        [
            ("order.created".into(), json!({"id": "o2"})),
            ("order.paid".into(), json!({"id": "o2"})),
            ("order.created".into(), json!({"id": "o3"}))
        ]
    );
    assert_eq!(page.entries[0].position, done.results[1].position);
    let created = FeedFilter { topics: vec!["order.created".into()], ..outbox() };
    assert_eq!(space.feed(0, &created, 100).expect("topic").entries.len(), 2);
    // Outbox messages are not document changes.
    assert!(space.feed(0, &FeedFilter::default(), 100).expect("docs").entries.iter().all(|e| e.topic.is_none()));
    assert_eq!(kind(space.publish("bad topic", json!(1))), ErrorKind::InvalidInput);
    let big = json!({"x": "y".repeat(300 * 1024)});
    assert_eq!(kind(space.publish("t", big)), ErrorKind::TooLarge);
}

pub fn consumers_resume_from_their_acknowledged_position(make: &Make) {
    let (fx, space) = setup(make);
    put(&space, "a", "1", 1);
    let filter = FeedFilter { collections: vec!["a".into()], ..FeedFilter::default() };
    let c = space.create_consumer("indexer", NewConsumer { filter: filter.clone(), start: ConsumerStart::Beginning });
    assert_eq!(c.expect("create").position, 0);
    let late = NewConsumer { filter: filter.clone(), start: ConsumerStart::End };
    let tail = space.create_consumer("tail", late.clone()).expect("create at end");
    assert_eq!(kind(space.create_consumer("tail", late)), ErrorKind::Conflict);
    put(&space, "a", "2", 2);
    put(&space, "b", "skipped", 3);
    let page = space.consumer_poll("indexer", 1, Duration::ZERO).expect("poll");
    assert_eq!(page.entries[0].id, "1");
    let again = space.consumer_poll("indexer", 1, Duration::ZERO).expect("poll again");
    assert_eq!(again.entries[0].id, "1", "polling does not move the position");
    let info = space.consumer_ack("indexer", page.next_after).expect("ack");
    assert!(info.lag > 0);
    let page = space.consumer_poll("indexer", 10, Duration::ZERO).expect("poll");
    assert_eq!(page.entries.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["2"]);
    let info = space.consumer_ack("indexer", page.next_after).expect("ack to the end");
    assert_eq!(info.lag, 0, "caught up, its own acknowledgement and skipped entries included: {info:?}");
    assert_eq!(space.consumer_ack("indexer", 1).expect("old ack").position, info.position, "never backwards");
    assert_eq!(kind(space.consumer_ack("indexer", info.head + 10)), ErrorKind::InvalidInput);
    let tail_page = space.consumer_poll("tail", 10, Duration::ZERO).expect("tail");
    assert_eq!(tail_page.entries.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["2"]);
    assert!(tail.position > 0);
    let names: Vec<String> = space.consumers().expect("list").into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["indexer", "tail"]);
    // The position survives a reopen (durable backends).
    let position = space.consumer("indexer").expect("info").position;
    if let Some(fx) = fx.reopen() {
        let space = fx.engine.space("s1").expect("space");
        assert_eq!(space.consumer("indexer").expect("after reopen").position, position);
        space.delete_consumer("indexer").expect("delete");
        assert_eq!(kind(space.consumer("indexer")), ErrorKind::NotFound);
        assert_eq!(kind(space.delete_consumer("indexer")), ErrorKind::NotFound);
    }
}

/// A blob of `bytes` as the object layer describes it (one chunk).
fn blob_of(bytes: &[u8]) -> engram::BlobInput {
    engram::BlobInput { digest: blake3::hash(bytes).to_hex().to_string(), size: bytes.len() as u64, chunks: vec![] }
}

/// Objects' metadata on every backend: staging, references counted across
/// puts, copies, overwrites and deletes, transactions with documents, and
/// an objects feed that follows puts and deletes in log order.
pub fn objects_metadata_follows_the_log(make: &Make) {
    let (_fx, space) = setup(make);
    let (a, b) = (blob_of(b"alpha"), blob_of(b"beta"));
    let unstaged = space.put_object("k", engram::ObjectPut::new(a.clone()));
    assert_eq!(kind(unstaged), ErrorKind::Conflict, "bytes must be staged before a key refers to them");
    assert_eq!(space.stage_blob(a.clone()).expect("stage"), engram::Staged::Pending);
    let early = space.put_object("docs/k", engram::ObjectPut::new(a.clone()));
    assert_eq!(kind(early), ErrorKind::Conflict, "staged bytes not yet reported stored cannot be referred to");
    space.confirm_blob(a.clone()).expect("the bytes are stored");
    let first = space.put_object("docs/k", engram::ObjectPut::new(a.clone())).expect("put");
    assert_eq!(first.version, 1);
    assert_eq!(space.stage_blob(a.clone()).expect("stage again"), engram::Staged::Referenced);
    space.copy_object("docs/k", "docs/copy", Expect::Absent).expect("copy");
    assert_eq!(space.blob(&a.digest).expect("blob").expect("record").refs, 2);
    space.stage_blob(b.clone()).expect("stage b");
    space.confirm_blob(b.clone()).expect("b's bytes are stored");
    let tx = space.commit(
        vec![
            Op::Put {
                collection: "notes".into(),
                id: "n".into(),
                body: json!({}),
                expect: Expect::Absent,
                ttl_seconds: None,
            },
            Op::PutObject { key: "docs/k".into(), object: engram::ObjectPut::new(b.clone()) },
        ],
        None,
    );
    tx.expect("a document and an object in one transaction");
    assert_eq!(space.blob(&a.digest).expect("blob").expect("record").refs, 1, "the overwrite dropped a reference");
    assert_eq!(space.object("docs/k").expect("head").expect("live").digest, b.digest);
    space.delete_object("docs/copy", Expect::Any, None).expect("delete");
    let a_rec = space.blob(&a.digest).expect("blob").expect("record");
    assert_eq!((a_rec.refs, a_rec.unreferenced_since_ms.is_some()), (0, true));
    let list = space
        .list_objects(&engram::ListObjects { prefix: "docs/".into(), limit: 10, ..engram::ListObjects::default() })
        .expect("list");
    assert_eq!(list.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), ["docs/k"]);
    let objects = FeedFilter { source: FeedSource::Objects, include_documents: true, ..FeedFilter::default() };
    let page = space.feed(0, &objects, 100).expect("objects feed");
    let seen: Vec<(FeedOp, &str)> = page.entries.iter().map(|e| (e.op, e.id.as_str())).collect();
    assert_eq!(
        seen,
        [(FeedOp::Put, "docs/k"), (FeedOp::Put, "docs/copy"), (FeedOp::Put, "docs/k"), (FeedOp::Delete, "docs/copy")]
    );
    assert_eq!(page.entries[2].document.as_ref().expect("metadata")["digest"], b.digest.as_str());
    assert!(page.entries[0].superseded, "the first version of docs/k was overwritten");
    let mixed = FeedFilter { source: FeedSource::Objects, collections: vec!["notes".into()], ..FeedFilter::default() };
    assert_eq!(kind(space.feed(0, &mixed, 10)), ErrorKind::InvalidInput);
    // The collector's steps: a referenced blob is never taken.
    let now = u64::MAX / 2;
    assert!(!space.begin_collect(&b.digest, now).expect("begin"), "referenced");
    assert!(space.begin_collect(&a.digest, now).expect("begin"), "unreferenced");
    assert_eq!(kind(space.put_object("again", engram::ObjectPut::new(a.clone()))), ErrorKind::Conflict);
    assert!(space.end_collect(&a.digest).expect("end"));
    assert!(space.blob(&a.digest).expect("blob").is_none());
}
