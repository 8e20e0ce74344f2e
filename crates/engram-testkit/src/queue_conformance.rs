//! Conformance cases for queues: leases and their expiry, acknowledgement,
//! retries with backoff, dead letters and redrive, groups in order, dedup
//! keys, delays, priorities, enqueue inside transactions, and concurrent
//! consumers.

use crate::conformance::{Make, kind, setup};
use engram::{ErrorKind, Message, MessageInput, NackRequest, Op, QueueConfig, ReceiveRequest, Space, WriteOptions};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex};

fn msg(n: u64) -> MessageInput {
    MessageInput::new(json!({ "n": n }))
}

fn enqueue(space: &Space, queue: &str, m: MessageInput) -> String {
    space.enqueue(queue, vec![m]).expect("enqueue").remove(0).id
}

fn receive(space: &Space, queue: &str, n: usize) -> Vec<Message> {
    let req = ReceiveRequest { max_messages: Some(n), ..ReceiveRequest::default() };
    space.receive_now(queue, req).expect("receive").messages
}

fn numbers(ms: &[Message]) -> Vec<u64> {
    ms.iter().map(|m| m.body["n"].as_u64().expect("n")).collect()
}

fn ack(space: &Space, queue: &str, m: &Message) -> bool {
    space.ack(queue, vec![m.receipt.clone()]).expect("ack")[0].acked
}

pub fn queues_lease_ack_and_expire(make: &Make) {
    let (fx, space) = setup(make);
    let config = QueueConfig { visibility_timeout_seconds: 10, ..QueueConfig::default() };
    space.configure_queue("jobs", config).expect("configure");
    for n in 1..=3 {
        enqueue(&space, "jobs", msg(n));
    }
    let first = receive(&space, "jobs", 2);
    assert_eq!(numbers(&first), [1, 2], "oldest first");
    assert!(first.iter().all(|m| m.attempts == 1));
    assert_eq!(numbers(&receive(&space, "jobs", 5)), [3]);
    assert!(receive(&space, "jobs", 5).is_empty(), "every message is leased");
    let stats = space.queue_stats("jobs").expect("stats");
    assert_eq!((stats.ready, stats.in_flight, stats.dead), (0, 3, 0));
    assert!(ack(&space, "jobs", &first[0]));
    assert!(!ack(&space, "jobs", &first[0]), "a second ack of one delivery removes nothing");
    // Leases end after the visibility timeout: the messages come back,
    // counted as a second attempt, and the old receipts are dead.
    fx.clock.advance_ms(10_001);
    let again = receive(&space, "jobs", 5);
    assert_eq!(numbers(&again), [2, 3]);
    assert!(again.iter().all(|m| m.attempts == 2));
    let stale = space.ack("jobs", vec![first[1].receipt.clone()]).expect("ack");
    assert!(!stale[0].acked && stale[0].error.is_some());
    assert_eq!(kind(space.extend_lease("jobs", &first[1].receipt, 30)), ErrorKind::Conflict);
    // A heartbeat keeps a lease past its first expiry.
    let until = space.extend_lease("jobs", &again[0].receipt, 60).expect("extend");
    assert!(until > again[0].lease_expires_at_ms);
    fx.clock.advance_ms(10_001);
    assert_eq!(numbers(&receive(&space, "jobs", 5)), [3], "the extended lease holds; the other expired");
    assert!(ack(&space, "jobs", &again[0]));
    // Receipts name their queue; another queue refuses them.
    let other = space.ack("other", vec![again[1].receipt.clone()]).expect("ack");
    assert!(!other[0].acked);
    // Another space never sees this queue.
    fx.engine.create_space("s2").expect("s2");
    let s2 = fx.engine.space("s2").expect("s2");
    assert!(receive(&s2, "jobs", 5).is_empty());
    assert_eq!(kind(s2.queue_stats("jobs")), ErrorKind::NotFound);
    assert!(!s2.ack("jobs", vec![again[1].receipt.clone()]).expect("ack")[0].acked);
}

pub fn queues_retry_with_backoff_then_dead_letter(make: &Make) {
    let (fx, space) = setup(make);
    let config = QueueConfig { max_attempts: 3, retry_base_ms: 1_000, retry_max_ms: 8_000, ..QueueConfig::default() };
    space.configure_queue("q", config).expect("configure");
    let id = enqueue(&space, "q", msg(1));
    for attempt in 1..=3u32 {
        let got = receive(&space, "q", 1);
        assert_eq!(got.len(), 1, "attempt {attempt}");
        assert_eq!((got[0].id.as_str(), got[0].attempts), (id.as_str(), attempt));
        let req = NackRequest { error: Some(format!("boom {attempt}")), ..NackRequest::default() };
        let out = space.nack("q", &got[0].receipt, req).expect("nack");
        if attempt < 3 {
            assert!(!out.dead_lettered);
            assert!(receive(&space, "q", 1).is_empty(), "backoff hides it");
            // Backoff: base · 2^(attempt-1), jittered into its upper half.
            let full = 1_000u64 << (attempt - 1);
            fx.clock.advance_ms(full + 1);
        } else {
            assert!(out.dead_lettered && out.visible_at_ms.is_none());
        }
    }
    fx.clock.advance_ms(60_000);
    assert!(receive(&space, "q", 1).is_empty(), "dead letters are not delivered");
    let dead = space.dead_letters("q", 10).expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, id);
    assert!(dead[0].reason.contains("boom 3"), "{}", dead[0].reason);
    assert_eq!(space.queue_stats("q").expect("stats").dead, 1);
    // Redrive: back with fresh attempts.
    assert_eq!(space.redrive("q", 10).expect("redrive"), 1);
    let back = receive(&space, "q", 1);
    assert_eq!((back[0].id.as_str(), back[0].attempts), (id.as_str(), 1));
    // An explicit delay overrides the backoff.
    let out = space.nack("q", &back[0].receipt, NackRequest { delay_seconds: Some(0), error: None }).expect("nack");
    assert!(out.visible_at_ms.is_some());
    // A lease that expires on the last attempt dead-letters the message.
    for _ in 0..2 {
        assert_eq!(receive(&space, "q", 1).len(), 1);
        fx.clock.advance_ms(30_001);
    }
    assert!(receive(&space, "q", 1).is_empty());
    let dead = space.dead_letters("q", 10).expect("dead letters");
    assert!(dead[0].reason.contains("lease expired"), "{}", dead[0].reason);
    assert_eq!(space.purge_queue("q", true).expect("purge"), 1);
    assert!(space.dead_letters("q", 10).expect("dead letters").is_empty());
}

pub fn queues_groups_deliver_in_order_one_at_a_time(make: &Make) {
    let (fx, space) = setup(make);
    let grouped = |n: u64, g: &str| MessageInput { group: Some(g.to_owned()), ..msg(n) };
    for (n, g) in [(1, "a"), (2, "a"), (3, "a"), (10, "b"), (11, "b")] {
        enqueue(&space, "q", grouped(n, g));
    }
    enqueue(&space, "q", msg(100));
    let first = receive(&space, "q", 10);
    assert_eq!(numbers(&first), [1, 10, 100], "one message per group at a time");
    assert!(ack(&space, "q", &first[2]));
    assert!(receive(&space, "q", 10).is_empty());
    assert_eq!(space.queue_stats("q").expect("stats").waiting, 3);
    // A retried head keeps its group waiting behind it.
    let out = space.nack("q", &first[0].receipt, NackRequest { delay_seconds: Some(5), error: None }).expect("nack");
    assert!(!out.dead_lettered);
    assert!(receive(&space, "q", 10).is_empty(), "2 waits for 1");
    fx.clock.advance_ms(5_001);
    let retried = receive(&space, "q", 10);
    assert_eq!(numbers(&retried), [1]);
    assert!(ack(&space, "q", &retried[0]));
    assert!(ack(&space, "q", &first[1]));
    assert_eq!(numbers(&receive(&space, "q", 10)), [2, 11]);
    // A group that emptied starts again with its next message.
    fx.clock.advance_ms(60_000);
    let order: Vec<u64> = (0..3)
        .flat_map(|_| {
            let got = receive(&space, "q", 10);
            for m in &got {
                assert!(ack(&space, "q", m));
            }
            numbers(&got)
        })
        .collect();
    assert_eq!(order, [2, 11, 3], "expired leases come back first, in their group's order");
    enqueue(&space, "q", grouped(4, "a"));
    assert_eq!(numbers(&receive(&space, "q", 10)), [4]);
}

pub fn queues_dedup_delay_and_priority(make: &Make) {
    let (fx, space) = setup(make);
    let keyed = |n: u64| MessageInput { dedup_key: Some("order-7".into()), ..msg(n) };
    let first = space.enqueue("q", vec![keyed(1)]).expect("enqueue").remove(0);
    let again = space.enqueue("q", vec![keyed(2)]).expect("enqueue").remove(0);
    assert!(!first.deduplicated && again.deduplicated);
    assert_eq!(first.id, again.id);
    assert_eq!(again.position, 0, "a deduplicated enqueue writes nothing");
    let got = receive(&space, "q", 10);
    assert_eq!(numbers(&got), [1]);
    assert_eq!(got[0].dedup_key.as_deref(), Some("order-7"));
    assert!(ack(&space, "q", &got[0]));
    // Once acknowledged, the key is free again.
    assert!(!space.enqueue("q", vec![keyed(3)]).expect("enqueue")[0].deduplicated);
    let got = receive(&space, "q", 10);
    assert_eq!(numbers(&got), [3]);
    ack(&space, "q", &got[0]);
    // Delays and priorities.
    enqueue(&space, "q", MessageInput { delay_seconds: Some(60), ..msg(10) });
    enqueue(&space, "q", MessageInput { priority: Some(0), ..msg(20) });
    enqueue(&space, "q", MessageInput { priority: Some(9), ..msg(30) });
    enqueue(&space, "q", MessageInput { priority: Some(5), ..msg(40) });
    let stats = space.queue_stats("q").expect("stats");
    assert_eq!((stats.ready, stats.delayed), (3, 1));
    let got = receive(&space, "q", 10);
    assert_eq!(numbers(&got), [30, 40, 20], "highest priority first");
    for m in &got {
        assert!(ack(&space, "q", m));
    }
    let waited = space.receive_now("q", ReceiveRequest::default()).expect("receive");
    assert!(waited.messages.is_empty());
    assert!(waited.next_due_in.is_some(), "a receiver learns when the delayed message comes due");
    fx.clock.advance_ms(60_001);
    let got = receive(&space, "q", 10);
    assert_eq!(numbers(&got), [10]);
    ack(&space, "q", &got[0]);
    // Delayed messages of high priority do not hide due ones below them.
    for (n, p, delay) in [(50, 9, Some(30)), (51, 9, None), (52, 5, Some(30)), (53, 2, None), (54, 0, None)] {
        enqueue(&space, "q", MessageInput { priority: Some(p), delay_seconds: delay, ..msg(n) });
    }
    let got = receive(&space, "q", 10);
    assert_eq!(numbers(&got), [51, 53, 54]);
    for m in &got {
        assert!(ack(&space, "q", m));
    }
    fx.clock.advance_ms(30_001);
    assert_eq!(numbers(&receive(&space, "q", 10)), [50, 52]);
}

pub fn queues_enqueue_commits_and_rolls_back_with_its_transaction(make: &Make) {
    let (_fx, space) = setup(make);
    space.put("orders", "existing", json!({}), WriteOptions::default()).expect("put");
    let failed = space.commit(
        vec![
            Op::Put {
                collection: "orders".into(),
                id: "o1".into(),
                body: json!({"total": 5}),
                expect: Default::default(),
                ttl_seconds: None,
            },
            Op::Enqueue { queue: "mail".into(), message: msg(1) },
            Op::Put {
                collection: "orders".into(),
                id: "existing".into(),
                body: json!({}),
                expect: engram::Expect::Absent,
                ttl_seconds: None,
            },
        ],
        None,
    );
    assert_eq!(kind(failed), ErrorKind::Conflict);
    assert!(receive(&space, "mail", 10).is_empty(), "nothing is enqueued by a rolled-back transaction");
    assert_eq!(kind(space.get("orders", "o1")), ErrorKind::NotFound);
    let done = space
        .transaction(|b| {
            b.put("orders", "o2", json!({"total": 7}));
            b.enqueue("mail", msg(2));
            Ok(())
        })
        .expect("commit");
    assert_eq!(done.results.len(), 2);
    assert_eq!(done.position, done.results[1].position);
    let got = receive(&space, "mail", 10);
    assert_eq!(numbers(&got), [2]);
    assert_eq!(got[0].id, done.results[1].id);
    assert!(space.get("orders", "o2").is_ok());
    // Bad input is refused, by name.
    assert_eq!(kind(space.enqueue("bad@name", vec![msg(1)])), ErrorKind::InvalidInput);
    assert_eq!(kind(space.enqueue("q", vec![MessageInput { priority: Some(10), ..msg(1) }])), ErrorKind::InvalidInput);
    assert_eq!(kind(space.enqueue("q", Vec::new())), ErrorKind::InvalidInput);
    let huge = MessageInput::new(json!({ "x": "y".repeat(300 * 1024) }));
    assert_eq!(kind(space.enqueue("q", vec![huge])), ErrorKind::TooLarge);
    assert_eq!(kind(space.ack("q", vec!["not-a-receipt".into()])), ErrorKind::InvalidInput);
    let bad_config = QueueConfig { max_attempts: 0, ..QueueConfig::default() };
    assert_eq!(kind(space.configure_queue("q", bad_config)), ErrorKind::InvalidInput);
    let many = ReceiveRequest { max_messages: Some(101), ..ReceiveRequest::default() };
    assert_eq!(kind(space.receive_now("q", many)), ErrorKind::InvalidInput);
    // Queues list; deleting one removes its messages and settings.
    let names: Vec<String> = space.queues().expect("queues").into_iter().map(|q| q.queue).collect();
    assert_eq!(names, ["mail"]);
    enqueue(&space, "mail", msg(3));
    assert_eq!(space.delete_queue("mail").expect("delete"), 2);
    assert_eq!(kind(space.queue_stats("mail")), ErrorKind::NotFound);
    assert!(space.queues().expect("queues").is_empty());
}

pub fn queues_concurrent_consumers_never_share_a_message(make: &Make) {
    let (_fx, space) = setup(make);
    const MESSAGES: u64 = 120;
    for chunk in (0..MESSAGES).collect::<Vec<_>>().chunks(40) {
        space.enqueue("work", chunk.iter().map(|n| msg(*n)).collect()).expect("enqueue");
    }
    let seen: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (space, seen, barrier) = (space.clone(), seen.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                loop {
                    let got = receive(&space, "work", 7);
                    if got.is_empty() {
                        return;
                    }
                    for m in &got {
                        *seen.lock().expect("seen").entry(m.id.clone()).or_default() += 1;
                    }
                    let receipts = got.iter().map(|m| m.receipt.clone()).collect();
                    assert!(space.ack("work", receipts).expect("ack").iter().all(|a| a.acked));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("consumer");
    }
    let seen = seen.lock().expect("seen");
    assert_eq!(seen.len() as u64, MESSAGES, "every message delivered");
    assert!(seen.values().all(|n| *n == 1), "no message held by two consumers");
    let stats = space.queue_stats("work").expect("stats");
    assert_eq!((stats.ready, stats.in_flight, stats.waiting, stats.dead), (0, 0, 0, 0));
}

pub fn queues_idle_long_poll_writes_nothing(make: &Make) {
    let (fx, space) = setup(make);
    enqueue(&space, "idle", msg(1));
    let got = receive(&space, "idle", 1);
    assert!(ack(&space, "idle", &got[0]));
    let before = fx.engine.stats().writes;
    let t = std::time::Instant::now();
    let req = ReceiveRequest { wait_seconds: Some(1), ..ReceiveRequest::default() };
    assert!(space.receive("idle", req).expect("receive").is_empty());
    assert!(t.elapsed() >= std::time::Duration::from_millis(900), "waited out its second");
    assert_eq!(fx.engine.stats().writes, before, "an idle long poll reads; it takes no write transaction");
}

/// Receive attempts made at once are served together (one write per
/// queue): receivers of two queues of one space and of a queue of another
/// space, with different lease times, each get only their queue's
/// messages, each message goes to one receiver, and each lease is the
/// receiver's own.
pub fn queues_combined_receives_keep_queues_spaces_and_leases_apart(make: &Make) {
    let (fx, s1) = setup(make);
    fx.engine.create_space("s2").expect("create space");
    let s2 = fx.engine.space("s2").expect("space handle");
    const PER_QUEUE: u64 = 60;
    let queues = [(s1.clone(), "a"), (s1.clone(), "b"), (s2.clone(), "a")];
    for (space, queue) in &queues {
        let tag = format!("{}/{queue}", space.name());
        let batch = (0..PER_QUEUE).map(|n| MessageInput::new(json!({ "n": n, "tag": tag }))).collect();
        space.enqueue(queue, batch).expect("enqueue");
    }
    let seen: Arc<Mutex<HashMap<(String, u64), u32>>> = Arc::default();
    let barrier = Arc::new(Barrier::new(queues.len() * 4));
    let mut handles = Vec::new();
    for (space, queue) in &queues {
        for i in 0..4u64 {
            let (space, queue, seen, barrier) = (space.clone(), queue.to_string(), seen.clone(), barrier.clone());
            handles.push(std::thread::spawn(move || {
                let tag = format!("{}/{queue}", space.name());
                let visibility = 10 * (1 + i % 2);
                let req = ReceiveRequest {
                    max_messages: Some(3 + i as usize),
                    visibility_timeout_seconds: Some(visibility),
                    wait_seconds: Some(1),
                };
                barrier.wait();
                loop {
                    let got = space.receive(&queue, req).expect("receive");
                    if got.is_empty() {
                        return;
                    }
                    assert!(got.len() <= 3 + i as usize, "no more than asked for");
                    for m in &got {
                        assert_eq!(m.body["tag"], json!(tag), "a message of this receiver's queue");
                        assert_eq!(m.lease_expires_at_ms - m.enqueued_at_ms, visibility * 1000, "its own lease");
                        let key = (tag.clone(), m.body["n"].as_u64().expect("n"));
                        *seen.lock().expect("seen").entry(key).or_default() += 1;
                    }
                    let receipts = got.iter().map(|m| m.receipt.clone()).collect();
                    assert!(space.ack(&queue, receipts).expect("ack").iter().all(|a| a.acked));
                }
            }));
        }
    }
    for h in handles {
        h.join().expect("consumer");
    }
    let seen = seen.lock().expect("seen");
    assert_eq!(seen.len() as u64, PER_QUEUE * queues.len() as u64, "every message delivered");
    assert!(seen.values().all(|n| *n == 1), "no message held by two receivers");
    for (space, queue) in &queues {
        let stats = space.queue_stats(queue).expect("stats");
        assert_eq!((stats.ready, stats.in_flight, stats.waiting, stats.dead), (0, 0, 0, 0));
    }
}

/// One acknowledgement of several receipts: each outcome as if acknowledged
/// one by one (a repeated receipt finds its message gone, a stale lease is
/// refused), grouped messages let their group go on, keys are freed.
pub fn queues_ack_of_many_receipts_reports_each(make: &Make) {
    let (_fx, space) = setup(make);
    let grouped = |n: u64| MessageInput { group: Some("g".into()), ..msg(n) };
    let keyed = MessageInput { dedup_key: Some("k".into()), ..msg(2) };
    space.enqueue("q", vec![grouped(0), grouped(1), keyed, msg(3)]).expect("enqueue");
    let got = receive(&space, "q", 10);
    assert_eq!(numbers(&got), [0, 2, 3], "the group's second message waits behind its head");
    let mut receipts: Vec<String> = got.iter().map(|m| m.receipt.clone()).collect();
    receipts.push(got[0].receipt.clone());
    let outcomes = space.ack("q", receipts).expect("ack");
    assert_eq!(outcomes.iter().map(|o| o.acked).collect::<Vec<_>>(), [true, true, true, false]);
    assert!(outcomes[3].error.as_deref().is_some_and(|e| e.contains("no longer exists")), "{outcomes:?}");
    let next = receive(&space, "q", 10);
    assert_eq!(numbers(&next), [1], "acknowledging the head let the group go on");
    let again = space.enqueue("q", vec![MessageInput { dedup_key: Some("k".into()), ..msg(4) }]).expect("enqueue");
    assert!(!again[0].deduplicated, "the acknowledged message's key was freed");
}
