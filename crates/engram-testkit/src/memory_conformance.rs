//! Conformance cases for the memory model: graph edges, bitemporal facts
//! and event streams, alone and in the same transactions as documents.

use engram::{
    AppendRequest, DecayRequest, Direction, EdgeInput, ErrorKind, EventInput, Expect, ExpectedVersion, FactInput,
    FactQuery, NeighborsRequest, NodeRef, Op, PathRequest, ReadDirection, Space, Term, WriteOptions,
};
use serde_json::{Value, json};
use std::sync::{Arc, Barrier};

use crate::conformance::{Make, kind, setup};

fn node(id: &str) -> NodeRef {
    NodeRef::new("people", id)
}

fn put(space: &Space, coll: &str, id: &str, body: Value) {
    space.put(coll, id, body, WriteOptions::default()).expect("put");
}

fn link(space: &Space, from: &str, ty: &str, to: &str, w: f64) {
    space.link(EdgeInput::new(node(from), ty, node(to)).weight(w)).expect("link");
}

fn ids(n: &engram::Neighbors) -> Vec<String> {
    let mut v: Vec<String> = n.nodes.iter().map(|x| x.node.id.clone()).collect();
    v.sort();
    v
}

/// People a..f: a→b→c→d (knows), a→e (likes), e→d (knows), d→a (knows:
/// a cycle), f isolated.
fn people(space: &Space) {
    for (id, age) in [("a", 30), ("b", 40), ("c", 50), ("d", 60), ("e", 20), ("f", 70)] {
        put(space, "people", id, json!({"age": age}));
    }
    link(space, "a", "knows", "b", 1.0);
    link(space, "b", "knows", "c", 1.0);
    link(space, "c", "knows", "d", 1.0);
    link(space, "a", "likes", "e", 5.0);
    link(space, "e", "knows", "d", 5.0);
    link(space, "d", "knows", "a", 1.0);
}

pub fn graph_traverses_with_bounds_and_filters(make: &Make) {
    let (_fx, space) = setup(make);
    people(&space);
    let n1 = space.neighbors(&NeighborsRequest::new(node("a"), 1)).expect("depth 1");
    assert_eq!(ids(&n1), ["b", "e"]);
    assert!(n1.nodes.iter().all(|n| n.depth == 1));
    let n2 = space.neighbors(&NeighborsRequest::new(node("a"), 2)).expect("depth 2");
    assert_eq!(ids(&n2), ["b", "c", "d", "e"]);
    // The cycle d→a ends: a full-depth walk returns each node once.
    let all = space.neighbors(&NeighborsRequest::new(node("a"), 32)).expect("depth 32");
    assert_eq!(ids(&all), ["b", "c", "d", "e"]);
    let knows = NeighborsRequest { types: vec!["knows".into()], ..NeighborsRequest::new(node("a"), 2) };
    assert_eq!(ids(&space.neighbors(&knows).expect("typed")), ["b", "c"]);
    let inward = NeighborsRequest { direction: Direction::In, ..NeighborsRequest::new(node("d"), 1) };
    assert_eq!(ids(&space.neighbors(&inward).expect("in")), ["c", "e"]);
    let both = NeighborsRequest { direction: Direction::Both, ..NeighborsRequest::new(node("d"), 1) };
    assert_eq!(ids(&space.neighbors(&both).expect("both")), ["a", "c", "e"]);
    let old = NeighborsRequest {
        filter: Some(json!({"age": {"$gte": 50}})),
        include_documents: true,
        ..NeighborsRequest::new(node("a"), 3)
    };
    let r = space.neighbors(&old).expect("filtered");
    assert_eq!(ids(&r), ["c", "d"]);
    assert!(r.nodes.iter().all(|n| n.document.as_ref().is_some_and(|d| d["age"].as_i64() >= Some(50))));
    let limited = NeighborsRequest { limit: Some(2), ..NeighborsRequest::new(node("a"), 3) };
    let r = space.neighbors(&limited).expect("limited");
    assert_eq!(r.nodes.len(), 2);
    assert!(r.truncated);
    assert!(!space.neighbors(&NeighborsRequest::new(node("a"), 3)).expect("all").truncated);
    let isolated = space.neighbors(&NeighborsRequest::new(node("f"), 2)).expect("isolated");
    assert!(isolated.nodes.is_empty());
    // Paths: by hops a→e→d (2), by weight a→b→c→d (3).
    let hops = space.shortest_path(&PathRequest::new(node("a"), node("d"))).expect("path");
    assert!(hops.found);
    assert_eq!(hops.nodes.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["a", "e", "d"]);
    assert_eq!(hops.cost, 2.0);
    let weighted = PathRequest { weighted: true, ..PathRequest::new(node("a"), node("d")) };
    let w = space.shortest_path(&weighted).expect("weighted");
    assert_eq!(w.nodes.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["a", "b", "c", "d"]);
    assert_eq!(w.cost, 3.0);
    assert_eq!(w.hops.len(), 3);
    assert_eq!(w.hops[0].edge_type, "knows");
    // The hop bound wins over weight: within 2 hops only a→e→d exists.
    let bounded = PathRequest { weighted: true, max_depth: 2, ..PathRequest::new(node("a"), node("d")) };
    assert_eq!(space.shortest_path(&bounded).expect("bounded").cost, 10.0);
    let short = PathRequest { max_depth: 1, ..PathRequest::new(node("a"), node("d")) };
    assert!(!space.shortest_path(&short).expect("too short").found);
    assert!(!space.shortest_path(&PathRequest::new(node("a"), node("f"))).expect("unreachable").found);
    let same = space.shortest_path(&PathRequest::new(node("a"), node("a"))).expect("same");
    assert!(same.found && same.hops.is_empty());
    // Bad input names the problem.
    assert_eq!(kind(space.neighbors(&NeighborsRequest::new(node("a"), 33))), ErrorKind::InvalidInput);
    assert_eq!(kind(space.neighbors(&NeighborsRequest::new(node("a"), 0))), ErrorKind::InvalidInput);
    assert_eq!(kind(space.neighbors(&NeighborsRequest::new(node("nobody"), 1))), ErrorKind::NotFound);
    let big = NeighborsRequest { limit: Some(1_000_000), ..NeighborsRequest::new(node("a"), 1) };
    assert_eq!(kind(space.neighbors(&big)), ErrorKind::InvalidInput);
    let bad_type = NeighborsRequest { types: vec!["x' OR 1=1".into()], ..NeighborsRequest::new(node("a"), 1) };
    assert_eq!(kind(space.neighbors(&bad_type)), ErrorKind::InvalidInput);
    let reserved = NeighborsRequest::new(NodeRef::new("_edges", "x"), 1);
    assert_eq!(kind(space.neighbors(&reserved)), ErrorKind::InvalidInput);
}

pub fn graph_rejects_bad_edges(make: &Make) {
    let (_fx, space) = setup(make);
    put(&space, "people", "a", json!({}));
    put(&space, "people", "b", json!({}));
    let e = |ty: &str| EdgeInput::new(node("a"), ty, node("b"));
    assert_eq!(kind(space.link(EdgeInput::new(node("a"), "knows", node("ghost")))), ErrorKind::NotFound);
    assert_eq!(kind(space.link(EdgeInput::new(NodeRef::new("nowhere", "a"), "knows", node("b")))), ErrorKind::NotFound);
    for bad in ["", "1st", "a b", "a\"b", "drop;table", &"t".repeat(65)] {
        assert_eq!(kind(space.link(e(bad))), ErrorKind::InvalidInput, "type {bad:?}");
    }
    for w in [-1.0, f64::NAN, f64::INFINITY, 1e13] {
        assert_eq!(kind(space.link(e("knows").weight(w))), ErrorKind::InvalidInput, "weight {w}");
    }
    let bad_props = EdgeInput { props: Some(json!({"bad key": 1})), ..e("knows") };
    assert_eq!(kind(space.link(bad_props)), ErrorKind::InvalidInput);
    let not_object = EdgeInput { props: Some(json!([1])), ..e("knows") };
    assert_eq!(kind(space.link(not_object)), ErrorKind::InvalidInput);
    assert_eq!(kind(space.edge("not-an-id")), ErrorKind::InvalidInput);
    assert_eq!(kind(space.unlink(&node("a"), "knows", &node("b"))), ErrorKind::NotFound);
    // Nothing above wrote an edge.
    assert!(space.neighbors(&NeighborsRequest::new(node("a"), 1)).expect("n").nodes.is_empty());
    // Relinking replaces: one edge per (from, type, to).
    let first = space.link(e("knows").weight(2.0)).expect("link");
    let again =
        space.link(EdgeInput { props: Some(json!({"since": 2020})), ..e("knows").weight(3.0) }).expect("relink");
    assert_eq!(first.id, again.id);
    assert_eq!(again.version, 2);
    assert_eq!(again.created_at_ms, first.created_at_ms);
    let stored = space.edge(&first.id).expect("edge");
    assert_eq!((stored.weight, stored.props.clone()), (3.0, json!({"since": 2020})));
    assert_eq!(space.neighbors(&NeighborsRequest::new(node("a"), 1)).expect("n").nodes[0].via.weight, 3.0);
}

pub fn graph_edges_go_with_their_documents(make: &Make) {
    let (fx, space) = setup(make);
    people(&space);
    let ab = engram::edge_id(&node("a"), "knows", &node("b"));
    space.delete("people", "b", WriteOptions::default()).expect("delete b");
    assert_eq!(kind(space.edge(&ab)), ErrorKind::NotFound);
    let n = space.neighbors(&NeighborsRequest::new(node("a"), 3)).expect("n");
    assert_eq!(ids(&n), ["d", "e"], "b's edges left with it; c is no longer reachable");
    // The change log records the edge deletes in the same transaction,
    // before the document's own entry.
    let log = space.changes(0, 1000).expect("changes");
    let doc_del = log.iter().rposition(|e| e.collection == "people" && e.doc_id == "b").expect("b logged");
    let edge_dels = log.iter().filter(|e| e.collection == "_edges" && e.op == engram::ChangeOp::Delete).count();
    assert_eq!(edge_dels, 2, "a→b and b→c");
    assert!(log[doc_del - 1].collection == "_edges");
    // Expiry takes edges too, once purged; the purge is one transaction.
    let opts = WriteOptions { ttl_seconds: Some(5), ..WriteOptions::default() };
    space.put("people", "tmp", json!({}), opts).expect("put tmp");
    link(&space, "a", "knows", "tmp", 1.0);
    fx.clock.advance_ms(6_000);
    fx.engine.purge_expired().expect("purge");
    let n = space.neighbors(&NeighborsRequest::new(node("a"), 1)).expect("n");
    assert_eq!(ids(&n), ["e"]);
    // Dropping a collection takes the edges to its documents.
    put(&space, "places", "p1", json!({}));
    space.link(EdgeInput::new(node("a"), "visited", NodeRef::new("places", "p1"))).expect("link place");
    assert_eq!(space.neighbors(&NeighborsRequest::new(node("a"), 1)).expect("n").nodes.len(), 2);
    space.drop_collection("places").expect("drop");
    assert_eq!(ids(&space.neighbors(&NeighborsRequest::new(node("a"), 1)).expect("n")), ["e"]);
    // Reserved collections are not the caller's.
    assert!(space.collections().expect("list").iter().all(|c| !c.name.starts_with('_')));
    assert_eq!(kind(space.get("_edges", &ab)), ErrorKind::InvalidInput);
    assert_eq!(kind(space.put("_edges", "x", json!({}), WriteOptions::default())), ErrorKind::InvalidInput);
    // Not even after the engine has looked them up (and cached them).
    space.append("log", AppendRequest::new(vec![ev("x", 1)])).expect("append");
    space.read_stream("log", None, ReadDirection::Forward, 10).expect("read");
    assert_eq!(kind(space.get("_events", "log@00000000000000000001")), ErrorKind::InvalidInput);
    assert_eq!(kind(space.count("_events", &json!({}))), ErrorKind::InvalidInput);
}

pub fn graph_strengthens_and_decays(make: &Make) {
    let (_fx, space) = setup(make);
    people(&space);
    let ab = engram::edge_id(&node("a"), "knows", &node("b"));
    assert_eq!(space.strengthen(&ab, 0.5).expect("strengthen").weight, 1.5);
    assert_eq!(space.strengthen(&ab, -10.0).expect("weaken").weight, 0.0, "clamped at 0");
    assert_eq!(kind(space.strengthen(&ab, f64::NAN)), ErrorKind::InvalidInput);
    space.strengthen(&ab, 1.0).expect("back to 1");
    let report = space.decay(DecayRequest { factor: 0.5, floor: 0.8, types: vec!["likes".into()] }).expect("decay");
    assert_eq!(report.edges, 1);
    let ae = engram::edge_id(&node("a"), "likes", &node("e"));
    assert_eq!(space.edge(&ae).expect("edge").weight, 2.5);
    space.decay(DecayRequest { factor: 0.5, floor: 0.8, types: Vec::new() }).expect("decay all");
    assert_eq!(space.edge(&ab).expect("edge").weight, 0.8, "floor holds");
    assert_eq!(space.edge(&ae).expect("edge").weight, 1.25);
    let again = space.decay(DecayRequest { factor: 0.5, floor: 0.8, types: vec!["knows".into()] }).expect("decay");
    assert_eq!(again.edges, 1, "only e→d is above the floor");
    assert_eq!(space.edge(&engram::edge_id(&node("e"), "knows", &node("d"))).expect("edge").weight, 1.25);
    for bad in [0.0, 1.5, -0.5, f64::NAN] {
        assert_eq!(
            kind(space.decay(DecayRequest { factor: bad, floor: 0.0, types: Vec::new() })),
            ErrorKind::InvalidInput
        );
    }
    // The traversal sees the new weights at once.
    let w = PathRequest { weighted: true, ..PathRequest::new(node("a"), node("d")) };
    let cost = space.shortest_path(&w).expect("path").cost;
    assert!((cost - 2.4).abs() < 1e-9, "a→b→c→d at the floor costs 2.4, got {cost}");
}

pub fn graph_fan_out_is_bounded(make: &Make) {
    let (_fx, space) = setup(make);
    const SPOKES: usize = 2_000;
    space
        .transaction(|b| {
            b.put("people", "hub", json!({}));
            for i in 0..SPOKES {
                b.put("people", &format!("s{i}"), json!({}));
            }
            Ok(())
        })
        .expect("nodes");
    space
        .transaction(|b| {
            for i in 0..SPOKES {
                b.link(EdgeInput::new(node("hub"), "has", node(&format!("s{i}"))));
                b.link(EdgeInput::new(node(&format!("s{i}")), "in", node("hub")));
            }
            Ok(())
        })
        .expect("edges");
    let r = space.neighbors(&NeighborsRequest { limit: Some(10), ..NeighborsRequest::new(node("s0"), 2) }).expect("n");
    assert_eq!(r.nodes.len(), 10);
    assert!(r.truncated);
    let all = NeighborsRequest { limit: Some(10_000), ..NeighborsRequest::new(node("s0"), 32) };
    let r = space.neighbors(&all).expect("n");
    assert_eq!(r.nodes.len(), SPOKES, "hub and every other spoke, each once");
    assert!(!r.truncated);
    let path = space.shortest_path(&PathRequest::new(node("s0"), node("s1999"))).expect("path");
    assert_eq!(path.cost, 2.0);
}

pub fn facts_are_bitemporal(make: &Make) {
    let (fx, space) = setup(make);
    put(&space, "people", "ann", json!({}));
    put(&space, "orgs", "acme", json!({}));
    put(&space, "orgs", "globex", json!({}));
    let ann = Term::node("people", "ann");
    let t0 = 1_000_000_000_000i64;
    let works = |org: &str, from: i64| {
        FactInput::new(ann.clone(), "works_at", Term::node("orgs", org)).functional().valid_from(from)
    };
    let first = space.assert_fact(works("acme", t0)).expect("assert");
    let known_before_change = fx.engine.space("s1").map(|_| ()).and(Ok(()));
    known_before_change.expect("space");
    fx.clock.advance_ms(1_000);
    let tx1_ms = 1_700_000_000_000u64 + 500;
    fx.clock.advance_ms(1_000);
    let second = space.assert_fact(works("globex", t0 + 10_000)).expect("assert again");
    let current = space.facts(&FactQuery::about(ann.clone())).expect("current");
    assert_eq!(current.facts.len(), 1);
    assert_eq!(current.facts[0].object, Term::node("orgs", "globex"));
    assert_eq!(current.facts[0].id, second.id);
    // As of a valid time before the change: acme, closed at the change.
    let then =
        space.facts(&FactQuery { valid_at_ms: Some(t0 + 5_000), ..FactQuery::about(ann.clone()) }).expect("then");
    assert_eq!(then.facts.len(), 1);
    assert_eq!(then.facts[0].object, Term::node("orgs", "acme"));
    assert_eq!(then.facts[0].valid_until_ms, Some(t0 + 10_000));
    // As the store knew it before the second assert: acme, open-ended.
    let known =
        FactQuery { known_at_ms: Some(tx1_ms), valid_at_ms: Some(t0 + 20_000), ..FactQuery::about(ann.clone()) };
    let old_belief = space.facts(&known).expect("known at");
    assert_eq!(old_belief.facts.len(), 1);
    assert_eq!(old_belief.facts[0].id, first.id);
    assert_eq!(old_belief.facts[0].valid_until_ms, None);
    // Before anything was recorded, nothing was known.
    let nothing = FactQuery { known_at_ms: Some(1_600_000_000_000), ..FactQuery::about(ann.clone()) };
    assert!(space.facts(&nothing).expect("nothing").facts.is_empty());
    // The whole history in valid time, as currently known.
    let history = space.facts(&FactQuery { all_valid_times: true, ..FactQuery::about(ann.clone()) }).expect("history");
    let objects: Vec<_> = history.facts.iter().map(|f| f.object.clone()).collect();
    assert_eq!(objects, [Term::node("orgs", "acme"), Term::node("orgs", "globex")]);
    // Repeating the current value changes nothing.
    let repeat = space.assert_fact(works("globex", t0 + 10_000)).expect("repeat");
    assert_eq!(repeat.id, second.id);
    // Non-functional predicates keep several values; value objects work.
    fx.clock.advance_ms(1_000);
    for skill in ["rust", "sql"] {
        space.assert_fact(FactInput::new(ann.clone(), "skill", Term::value(skill)).valid_from(t0)).expect("skill");
    }
    let skills = FactQuery { predicate: Some("skill".into()), ..FactQuery::about(ann.clone()) };
    assert_eq!(space.facts(&skills).expect("skills").facts.len(), 2);
    // Retracting ends belief; retracting with a time ends validity.
    let sql =
        space.facts(&skills).expect("skills").facts.into_iter().find(|f| f.object == Term::value("sql")).expect("sql");
    fx.clock.advance_ms(1_000);
    space.retract_fact(&sql.id, None).expect("retract");
    assert_eq!(space.facts(&skills).expect("skills").facts.len(), 1);
    assert_eq!(kind(space.retract_fact(&sql.id, None)), ErrorKind::Conflict);
    let closed = space.retract_fact(&second.id, Some(t0 + 20_000)).expect("close");
    assert_eq!(closed.valid_until_ms, Some(t0 + 20_000));
    let works_now = FactQuery { predicate: Some("works_at".into()), ..FactQuery::about(ann.clone()) };
    assert!(space.facts(&works_now).expect("now").facts.is_empty());
    // Values as subjects.
    space.assert_fact(FactInput::new(Term::value("paris"), "capital_of", Term::value("france"))).expect("values");
    assert_eq!(space.facts(&FactQuery::about(Term::value("paris"))).expect("paris").facts.len(), 1);
    // Bad input.
    assert_eq!(
        kind(space.assert_fact(FactInput::new(Term::node("people", "bob"), "p", Term::value(1)))),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(space.assert_fact(FactInput::new(ann.clone(), "bad predicate", Term::value(1)))),
        ErrorKind::InvalidInput
    );
    let backwards =
        FactInput { valid_until_ms: Some(t0 - 1), ..FactInput::new(ann.clone(), "p", Term::value(1)).valid_from(t0) };
    assert_eq!(kind(space.assert_fact(backwards)), ErrorKind::InvalidInput);
    assert_eq!(kind(space.facts(&FactQuery::default())), ErrorKind::InvalidInput);
    assert_eq!(kind(space.retract_fact("nope", None)), ErrorKind::InvalidInput);
}

pub fn facts_functional_concurrent_asserts_leave_one_value(make: &Make) {
    let (_fx, space) = setup(make);
    put(&space, "people", "ann", json!({}));
    let ann = Term::node("people", "ann");
    for round in 0..10 {
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let (space, barrier, ann) = (space.clone(), barrier.clone(), ann.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let fact = FactInput::new(ann, "mood", Term::value(format!("r{round}t{t}"))).functional();
                    space.assert_fact(fact).expect("assert");
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
        let q = FactQuery { predicate: Some("mood".into()), ..FactQuery::about(ann.clone()) };
        let current = space.facts(&q).expect("current");
        assert_eq!(current.facts.len(), 1, "round {round}: {:?}", current.facts);
        assert!(
            matches!(&current.facts[0].object, Term::Value { value } if value.as_str().is_some_and(|s| s.starts_with(&format!("r{round}t"))))
        );
    }
}

fn ev(ty: &str, n: i64) -> EventInput {
    EventInput::new(ty, json!({"n": n}))
}

pub fn streams_append_read_and_snapshot(make: &Make) {
    let (fx, space) = setup(make);
    let first = space
        .append("chat/1", AppendRequest::new(vec![ev("said", 1), ev("said", 2)]).expect(ExpectedVersion::NoStream))
        .expect("append");
    assert_eq!(first.version, 2);
    assert_eq!(first.events.iter().map(|e| e.version).collect::<Vec<_>>(), [1, 2]);
    assert!(first.events[0].position < first.events[1].position);
    // The global position is the event's change-log entry.
    let entry = &space.changes(first.events[1].position - 1, 1).expect("changes")[0];
    assert_eq!((entry.collection.as_str(), entry.doc_id.as_str()), ("_events", "chat/1@00000000000000000002"));
    assert_eq!(
        kind(space.append("chat/1", AppendRequest::new(vec![ev("said", 3)]).expect(ExpectedVersion::NoStream))),
        ErrorKind::Conflict
    );
    assert_eq!(
        kind(space.append("chat/1", AppendRequest::new(vec![ev("said", 3)]).expect(ExpectedVersion::Exact(1)))),
        ErrorKind::Conflict
    );
    assert_eq!(
        kind(space.append("other", AppendRequest::new(vec![ev("said", 3)]).expect(ExpectedVersion::Exists))),
        ErrorKind::Conflict
    );
    fx.clock.advance_ms(10_000);
    let t_mid = 1_700_000_000_000 + 10_000;
    for n in 3..=10 {
        space
            .append("chat/1", AppendRequest::new(vec![ev("said", n)]).expect(ExpectedVersion::Exact(n as u64 - 1)))
            .expect("append");
        fx.clock.advance_ms(1_000);
    }
    // Another stream whose name extends this one's stays apart.
    space.append("chat/10", AppendRequest::new(vec![ev("said", 99)])).expect("other stream");
    let info = space.stream("chat/1").expect("info");
    assert_eq!(info.version, 10);
    let fwd = space.read_stream("chat/1", None, ReadDirection::Forward, 4).expect("forward");
    assert_eq!(fwd.events.iter().map(|e| e.version).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(fwd.next_version, Some(5));
    let rest = space.read_stream("chat/1", Some(5), ReadDirection::Forward, 100).expect("rest");
    assert_eq!(rest.events.len(), 6);
    assert_eq!(rest.next_version, None);
    assert!(rest.events.iter().all(|e| e.stream == "chat/1"));
    let back = space.read_stream("chat/1", None, ReadDirection::Backward, 3).expect("backward");
    assert_eq!(back.events.iter().map(|e| e.version).collect::<Vec<_>>(), [10, 9, 8]);
    assert_eq!(back.next_version, Some(7));
    let back2 = space.read_stream("chat/1", Some(2), ReadDirection::Backward, 10).expect("backward");
    assert_eq!(back2.events.iter().map(|e| e.version).collect::<Vec<_>>(), [2, 1]);
    // By time: versions 3.. were appended 1 s apart from t_mid.
    let window = space.read_stream_time("chat/1", t_mid + 2_000, t_mid + 5_000, 100).expect("time");
    assert_eq!(window.events.iter().map(|e| e.version).collect::<Vec<_>>(), [5, 6, 7]);
    assert!(space.read_stream_time("chat/1", t_mid + 100_000, t_mid + 200_000, 10).expect("late").events.is_empty());
    assert_eq!(space.read_stream_time("chat/1", 0, t_mid, 100).expect("early").events.len(), 2);
    // Snapshots.
    space.save_snapshot("chat/1", 4, json!({"sum": 10})).expect("snapshot 4");
    space.save_snapshot("chat/1", 8, json!({"sum": 36})).expect("snapshot 8");
    assert_eq!(space.snapshot("chat/1", None).expect("latest").version, 8);
    assert_eq!(space.snapshot("chat/1", Some(7)).expect("at 7").state, json!({"sum": 10}));
    assert_eq!(kind(space.snapshot("chat/1", Some(3))), ErrorKind::NotFound);
    assert_eq!(kind(space.snapshot("chat/10", None)), ErrorKind::NotFound);
    assert_eq!(kind(space.save_snapshot("chat/1", 11, json!({}))), ErrorKind::InvalidInput);
    assert_eq!(kind(space.save_snapshot("nope", 1, json!({}))), ErrorKind::NotFound);
    // Bad input.
    assert_eq!(kind(space.append("a@b", AppendRequest::new(vec![ev("x", 1)]))), ErrorKind::InvalidInput);
    assert_eq!(kind(space.append("a", AppendRequest::new(Vec::new()))), ErrorKind::InvalidInput);
    assert_eq!(kind(space.append("a", AppendRequest::new(vec![ev("bad type", 1)]))), ErrorKind::InvalidInput);
    let many = AppendRequest::new((0..1_001).map(|n| ev("x", n)).collect());
    assert_eq!(kind(space.append("a", many)), ErrorKind::TooLarge);
    assert_eq!(kind(space.read_stream("chat/1", None, ReadDirection::Forward, 0)), ErrorKind::InvalidInput);
    assert_eq!(kind(space.read_stream("nope", None, ReadDirection::Forward, 10)), ErrorKind::NotFound);
    assert_eq!(kind(space.stream("a")), ErrorKind::NotFound, "failed appends created nothing");
}

pub fn streams_deduplicate_retried_appends(make: &Make) {
    let (fx, space) = setup(make);
    let req =
        |n: i64| AppendRequest { dedup_window_seconds: Some(60), ..AppendRequest::new(vec![ev("remembered", n)]) };
    let first = space.append("mem", req(1)).expect("first");
    let retry =
        space.append("mem", AppendRequest { expected_version: ExpectedVersion::Exact(0), ..req(1) }).expect("retry");
    assert_eq!(retry.version, 1);
    assert!(retry.events[0].deduplicated);
    assert_eq!(retry.events[0].position, first.events[0].position);
    // Mixed: one new, one repeat, one repeat within the request.
    let mixed = AppendRequest {
        dedup_window_seconds: Some(60),
        ..AppendRequest::new(vec![ev("remembered", 2), ev("remembered", 1), ev("remembered", 2)])
    };
    let r = space.append("mem", mixed).expect("mixed");
    assert_eq!(r.version, 2);
    assert_eq!(
        r.events.iter().map(|e| (e.version, e.deduplicated)).collect::<Vec<_>>(),
        [(2, false), (1, true), (2, true)]
    );
    // Without a window, equal events are appended.
    assert_eq!(space.append("mem", AppendRequest::new(vec![ev("remembered", 1)])).expect("plain").version, 3);
    // After the window the same content is new again.
    fx.clock.advance_ms(61_000);
    assert_eq!(space.append("mem", req(1)).expect("later").version, 4);
    fx.engine.purge_expired().expect("purge marks");
    assert_eq!(space.read_stream("mem", None, ReadDirection::Forward, 100).expect("read").events.len(), 4);
    let bad = AppendRequest { dedup_window_seconds: Some(0), ..req(5) };
    assert_eq!(kind(space.append("mem", bad)), ErrorKind::InvalidInput);
}

pub fn streams_concurrent_expected_version_one_wins(make: &Make) {
    let (_fx, space) = setup(make);
    for round in 0..20u64 {
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let (space, barrier) = (space.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let req = AppendRequest::new(vec![ev("step", t)]).expect(ExpectedVersion::Exact(round));
                    space.append("race", req).map(|_| ()).map_err(|e| e.kind())
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "round {round}: {results:?}");
        assert!(results.contains(&Err(ErrorKind::Conflict)));
        assert_eq!(space.stream("race").expect("info").version, round + 1);
    }
}

pub fn memory_ops_commit_with_documents(make: &Make) {
    let (_fx, space) = setup(make);
    let ann = Term::node("people", "ann");
    space
        .transaction(|b| {
            b.put("people", "ann", json!({"name": "Ann"}));
            b.put("people", "bob", json!({"name": "Bob"}));
            b.link(EdgeInput::new(node("ann"), "knows", node("bob")));
            b.assert_fact(FactInput::new(ann.clone(), "met", Term::node("people", "bob")));
            b.append("ann/episodes", AppendRequest::new(vec![ev("met_bob", 1)]));
            Ok(())
        })
        .expect("commit");
    assert_eq!(ids(&space.neighbors(&NeighborsRequest::new(node("ann"), 1)).expect("n")), ["bob"]);
    assert_eq!(space.facts(&FactQuery::about(ann.clone())).expect("facts").facts.len(), 1);
    assert_eq!(space.stream("ann/episodes").expect("stream").version, 1);
    // A failing operation rolls every kind back together.
    let failed = space.transaction(|b| {
        b.put("people", "cat", json!({}));
        b.link(EdgeInput::new(node("ann"), "knows", node("cat")));
        b.assert_fact(FactInput::new(ann.clone(), "met", Term::node("people", "cat")));
        b.append("ann/episodes", AppendRequest::new(vec![ev("met_cat", 2)]));
        b.put_if("people", "bob", json!({}), Expect::Absent);
        Ok(())
    });
    assert_eq!(kind(failed), ErrorKind::Conflict);
    assert_eq!(kind(space.get("people", "cat")), ErrorKind::NotFound);
    assert_eq!(ids(&space.neighbors(&NeighborsRequest::new(node("ann"), 1)).expect("n")), ["bob"]);
    assert_eq!(space.facts(&FactQuery::about(ann.clone())).expect("facts").facts.len(), 1);
    assert_eq!(space.stream("ann/episodes").expect("stream").version, 1);
    // An append's expected-version conflict rolls back the documents too.
    let conflict = space.commit(
        vec![
            Op::Put {
                collection: "people".into(),
                id: "dan".into(),
                body: json!({}),
                expect: Expect::Any,
                ttl_seconds: None,
            },
            Op::Append {
                stream: "ann/episodes".into(),
                request: AppendRequest::new(vec![ev("x", 1)]).expect(ExpectedVersion::Exact(5)),
            },
        ],
        None,
    );
    assert_eq!(kind(conflict), ErrorKind::Conflict);
    assert_eq!(kind(space.get("people", "dan")), ErrorKind::NotFound);
    // Operations serialize as JSON with an "op" tag (the HTTP body).
    let op: Op = serde_json::from_value(json!({"op": "link", "edge": {"from": {"collection": "people", "id": "bob"}, "to": {"collection": "people", "id": "ann"}, "type": "knows"}})).expect("op json");
    let r = space.commit(vec![op], Some("k1")).expect("commit json op");
    assert_eq!(r.results[0].collection, "_edges");
    assert_eq!(r.results[0].id, engram::edge_id(&node("bob"), "knows", &node("ann")));
}

pub fn memory_model_is_isolated_and_survives_reopen(make: &Make) {
    let (fx, space) = setup(make);
    people(&space);
    space.assert_fact(FactInput::new(Term::node("people", "a"), "likes", Term::value("tea"))).expect("fact");
    space.append("log", AppendRequest::new(vec![ev("x", 1), ev("x", 2)])).expect("append");
    fx.engine.create_space("s2").expect("s2");
    let other = fx.engine.space("s2").expect("s2 handle");
    put(&other, "people", "a", json!({}));
    assert!(other.neighbors(&NeighborsRequest::new(node("a"), 2)).expect("n").nodes.is_empty());
    assert!(other.facts(&FactQuery::about(Term::node("people", "a"))).expect("facts").facts.is_empty());
    assert_eq!(kind(other.stream("log")), ErrorKind::NotFound);
    let ab = engram::edge_id(&node("a"), "knows", &node("b"));
    assert_eq!(kind(other.edge(&ab)), ErrorKind::NotFound);
    assert_eq!(kind(other.unlink_edge(&ab)), ErrorKind::NotFound);
    assert!(space.edge(&ab).is_ok(), "the other space's failed unlink left it");
    let Some(fx) = fx.reopen() else { return };
    let space = fx.engine.space("s1").expect("space");
    assert_eq!(ids(&space.neighbors(&NeighborsRequest::new(node("a"), 2)).expect("n")), ["b", "c", "d", "e"]);
    assert_eq!(space.facts(&FactQuery::about(Term::node("people", "a"))).expect("facts").facts.len(), 1);
    assert_eq!(space.read_stream("log", None, ReadDirection::Forward, 10).expect("read").events.len(), 2);
    assert_eq!(
        space
            .append("log", AppendRequest::new(vec![ev("x", 3)]).expect(ExpectedVersion::Exact(2)))
            .expect("append")
            .version,
        3
    );
    assert_eq!(space.verify_changes().expect("chain").entries, space.changes(0, 10_000).expect("log").len() as u64);
}
