//! Audit conformance cases: the actor each entry records, the Merkle tree
//! over the log (heads, inclusion and consistency proofs equal to a direct
//! computation and verifying under RFC 9162's algorithms), and the full
//! audit of stored rows against the log finding no fault in honest data of
//! every kind.

use crate::conformance::{Make, kind, setup};
use engram::{
    Actor, AppendRequest, CollectionSpec, EdgeInput, ErrorKind, EventInput, FactInput, MessageInput, NodeRef, Term,
    WriteOptions, with_actor,
};
use engram_core::merkle::{MemoryLeaves, Tree, leaf_hash, root_of, verify_consistency, verify_inclusion};
use serde_json::json;

/// Writes of every kind: documents (put, patch, delete, TTL), edges, facts,
/// events, queue messages and outbox messages.
fn write_every_kind(space: &engram::Space) {
    space
        .transaction(|b| {
            b.put("people", "ann", json!({"name": "Ann"}));
            b.put("people", "bob", json!({"name": "Bob"}));
            b.link(EdgeInput::new(NodeRef::new("people", "ann"), "knows", NodeRef::new("people", "bob")));
            b.assert_fact(FactInput::new(Term::node("people", "ann"), "met", Term::node("people", "bob")));
            b.append("ann/episodes", AppendRequest::new(vec![EventInput::new("met", json!({"n": 1}))]));
            b.enqueue("jobs", MessageInput::new(json!({"task": "index"})));
            b.publish("people.changed", json!({"id": "ann"}));
            Ok(())
        })
        .expect("commit");
    space.patch("people", "ann", json!({"age": 40}), WriteOptions::default()).expect("patch");
    space.delete("people", "bob", WriteOptions::default()).expect("delete");
    let ttl = WriteOptions { ttl_seconds: Some(3_600), ..WriteOptions::default() };
    space.put("people", "tmp", json!({"t": true}), ttl).expect("ttl put");
    space.create_collection("scratch", CollectionSpec::default()).expect("collection");
    space.put("scratch", "x", json!({}), WriteOptions::default()).expect("put");
    space.drop_collection("scratch").expect("drop");
    let docs = (0..600).map(|i| (format!("d{i:04}"), json!({"i": i}))).collect();
    space.bulk_put("bulk", docs, None).expect("bulk");
}

pub fn audit_entries_record_their_actor(make: &Make) {
    let (_fx, space) = setup(make);
    space.put("c", "local", json!({}), WriteOptions::default()).expect("put");
    let actor = Actor::new("key:k1", "req-7").expect("actor");
    with_actor(actor, || space.put("c", "keyed", json!({}), WriteOptions::default())).expect("put");
    let entries = space.changes(0, 100).expect("changes");
    let of = |id: &str| entries.iter().find(|e| e.doc_id == id).expect("entry").clone();
    assert_eq!((of("local").actor.as_str(), of("local").request_id.as_str()), ("local", ""));
    assert_eq!((of("keyed").actor.as_str(), of("keyed").request_id.as_str()), ("key:k1", "req-7"));
    assert_eq!(entries[0].actor, "local", "the space's creation names its actor too");
    assert_eq!(Actor::new("two words", "").expect_err("bad").kind(), ErrorKind::InvalidInput);
    space.verify_changes().expect("the chain covers actors");
}

pub fn audit_tree_proves_every_entry(make: &Make) {
    let (_fx, space) = setup(make);
    write_every_kind(&space);
    let entries = space.changes(0, 10_000).expect("changes");
    let n = entries.len() as u64;
    assert!(n > 600, "the log spans several chunks: {n}");
    let leaves: Vec<_> = entries.iter().map(|e| leaf_hash(&e.hash)).collect();
    let head = space.audit_head(None).expect("head");
    assert_eq!((head.tree_size, head.root, head.head_hash), (n, root_of(&leaves), entries[n as usize - 1].hash));
    let reference = MemoryLeaves(leaves.clone());
    for size in [1, 255, 256, 257, 300, 512, n] {
        let at = space.audit_head(Some(size)).expect("head at a size");
        assert_eq!(at.root, root_of(&leaves[..size as usize]), "root of {size}");
        for pos in [1, size / 2 + 1, size] {
            let (entry, th, proof) = space.audit_inclusion(pos, Some(size)).expect("inclusion");
            assert_eq!(entry, entries[pos as usize - 1]);
            assert_eq!(proof, Tree::new(&reference, size).inclusion_proof(pos - 1).expect("reference proof"));
            verify_inclusion(&leaf_hash(&entry.hash), pos - 1, size, &proof, &th.root).expect("proof verifies");
        }
        let (new_head, proof) = space.audit_consistency(size, None).expect("consistency");
        verify_consistency(size, &at.root, n, &new_head.root, &proof).expect("prefix");
    }
    assert_eq!(kind(space.audit_inclusion(0, None)), ErrorKind::NotFound);
    assert_eq!(kind(space.audit_inclusion(n + 1, None)), ErrorKind::NotFound);
    assert_eq!(kind(space.audit_head(Some(n + 1))), ErrorKind::InvalidInput);
    assert_eq!(kind(space.audit_consistency(n + 1, None)), ErrorKind::InvalidInput);
    // The tree grows with the log; old heads stay provable prefixes.
    space.put("people", "late", json!({}), WriteOptions::default()).expect("put");
    let grown = space.audit_head(None).expect("head");
    assert_eq!(grown.tree_size, n + 1);
    let (_, proof) = space.audit_consistency(n, None).expect("consistency");
    verify_consistency(n, &head.root, n + 1, &grown.root, &proof).expect("the old head is a prefix");
}

pub fn audit_rows_agree_with_the_log(make: &Make) {
    let (fx, space) = setup(make);
    write_every_kind(&space);
    let report = space.audit_rows().expect("honest data passes the audit");
    let head = space.verify_changes().expect("chain");
    assert_eq!(report.head_position, head.head_position);
    assert_eq!(report.entries, head.entries);
    // 600 bulk documents, ann, tmp, and the reserved collections' rows.
    assert!(report.documents >= 602, "{report:?}");
    fx.clock.advance_ms(3_601_000);
    fx.engine.purge_expired().expect("purge");
    assert!(space.audit_rows().expect("after a purge").documents < report.documents);
    if let Some(fx) = fx.reopen() {
        fx.engine.space("s1").expect("space").audit_rows().expect("after reopening");
    }
}

/// A full audit while another thread writes (puts, patches, deletes,
/// collection drops) finds no fault: documents written after it read the
/// log are checked against their newer changes.
pub fn audit_rows_tolerate_concurrent_writes(make: &Make) {
    let (_fx, space) = setup(make);
    let docs = (0..300).map(|i| (format!("d{i:03}"), json!({"i": i}))).collect();
    space.bulk_put("busy", docs, None).expect("bulk");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (space, stop) = (space.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = format!("d{:03}", n % 300);
                match n % 4 {
                    0 => drop(space.put("busy", &id, json!({"n": n}), WriteOptions::default()).expect("put")),
                    1 => drop(space.patch("busy", &id, json!({"m": n}), WriteOptions::default())),
                    2 => drop(space.delete("busy", &id, WriteOptions::default())),
                    _ => {
                        space.put("scratch", "x", json!({}), WriteOptions::default()).expect("put");
                        space.drop_collection("scratch").expect("drop");
                    }
                }
                n += 1;
            }
            n
        })
    };
    for _ in 0..10 {
        space.audit_rows().expect("concurrent writes are not faults");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.join().expect("writer") > 0);
    space.audit_rows().expect("after the writes");
}
