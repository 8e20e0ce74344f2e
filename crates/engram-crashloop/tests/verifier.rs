//! The verifier can fail: fed a ledger that a store contradicts (an
//! acknowledged write missing, a transaction visible in part, a change-log
//! entry that is not where the response said, a document nobody wrote), it
//! reports exactly that; fed a ledger the store agrees with, nothing.

use engram::{CollectionSpec, Engine, EngineConfig, WriteOptions};
use engram_crashloop::http::Request;
use engram_crashloop::ledger::{
    DOCS, Doc, Key, Ledger, LogAck, OpKind, Planned, PlannedOp, SPACE, TX_A, TX_B, Unknown, collection_specs, doc_id,
    pair_id,
};
use engram_crashloop::verify::{verify, verify_dir};
use serde_json::{Value, json};

/// A data directory set up as the crash loop's first start does.
fn store() -> (tempfile::TempDir, Engine) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(EngineConfig::dir(tmp.path().join("data"))).expect("open a fresh data directory");
    engine.create_space(SPACE).expect("create the space");
    let space = engine.space(SPACE).expect("the space");
    for (coll, spec) in collection_specs() {
        let spec: CollectionSpec = serde_json::from_value(spec).expect("the specs are valid");
        space.create_collection(coll, spec).expect("create a collection");
    }
    (tmp, engine)
}

/// Writes `body` (a new document) and returns its state and log position.
fn put(engine: &Engine, key: &Key, body: Value) -> (Doc, u64) {
    let space = engine.space(SPACE).expect("the space");
    let r = space.put(&key.0, &key.1, body.clone(), WriteOptions::default()).expect("put");
    (Doc { version: r.version, body }, r.position)
}

fn docs_key(i: usize) -> Key {
    (DOCS.to_owned(), doc_id(0, i))
}

fn body(n: u64) -> Value {
    json!({"k": n, "w": 0, "seq": format!("s{n}")})
}

#[test]
fn an_acknowledged_write_missing_from_the_store_is_one_loss() {
    let (_tmp, engine) = store();
    let mut ledger = Ledger::new(1);
    let (doc, _) = put(&engine, &docs_key(0), body(1));
    ledger.owned.insert(docs_key(0), Some(doc));
    ledger.owned.insert(docs_key(1), Some(Doc { version: 1, body: body(2) })); // acknowledged, never stored
    let v = verify(&engine, &ledger);
    assert_eq!(v.lost.len(), 1, "{:?}", v.lost);
    assert!(v.lost[0].contains(&doc_id(0, 1)) && v.lost[0].contains("stored absent"), "{}", v.lost[0]);
    assert!(v.divergences.is_empty() && v.partial.is_empty(), "{v:?}");
}

#[test]
fn a_store_that_holds_every_acknowledged_write_passes() {
    let (tmp, engine) = store();
    let mut ledger = Ledger::new(1);
    let (doc, position) = put(&engine, &docs_key(3), body(7));
    ledger.owned.insert(docs_key(3), Some(doc.clone()));
    ledger.log.push(LogAck {
        position,
        key: docs_key(3),
        kind: OpKind::Put,
        after: Some(doc),
        label: "c0-w000-1".into(),
    });
    assert!(verify(&engine, &ledger).clean());
    engine.close();
    let v = verify_dir(&tmp.path().join("data"), &ledger).expect("the directory reopens");
    assert!(v.clean(), "{v:?}");
    assert!(v.entries > 0 && v.documents == 1, "{v:?}");
}

#[test]
fn an_older_version_than_acknowledged_is_a_loss() {
    let (_tmp, engine) = store();
    let mut ledger = Ledger::new(1);
    let (doc, _) = put(&engine, &docs_key(2), body(1));
    ledger.owned.insert(docs_key(2), Some(Doc { version: doc.version + 1, body: body(9) }));
    let v = verify(&engine, &ledger);
    assert_eq!(v.lost.len(), 1, "{:?}", v.lost);
}

#[test]
fn a_transaction_of_unknown_outcome_visible_in_part_is_reported() {
    let (_tmp, engine) = store();
    let mut ledger = Ledger::new(1);
    let (ka, kb) = ((TX_A.to_owned(), pair_id(0, 0)), (TX_B.to_owned(), pair_id(0, 0)));
    let (a, _) = put(&engine, &ka, json!({"tx": "t1", "side": "a"})); // only one side reached the disk
    let b = Doc { version: 1, body: json!({"tx": "t1", "side": "b"}) };
    let op = |key: Key, after: Doc| PlannedOp {
        key,
        kind: OpKind::Put,
        before: None,
        after: Some(after),
        hot: false,
        effective: true,
    };
    let planned = Planned {
        label: "c0-w000-1".into(),
        request: Request::new("POST", "/v1/spaces/crashloop/transactions".into(), Some(json!({}))),
        ops: vec![op(ka, a), op(kb, b)],
        refusal: false,
        contended: false,
        transaction: true,
    };
    ledger.unknown.push(Unknown { writer: 0, planned, applied: None });
    let v = verify(&engine, &ledger);
    assert!(v.lost.is_empty(), "each side alone is a state its request allows: {:?}", v.lost);
    assert_eq!(v.partial.len(), 2, "the split pair and the partial request: {:?}", v.partial);
    assert!(v.partial.iter().any(|p| p.contains("applied in part")), "{:?}", v.partial);
    assert_eq!(v.applied, vec![None]);
}

#[test]
fn a_change_log_entry_elsewhere_than_acknowledged_is_a_loss() {
    let (_tmp, engine) = store();
    let mut ledger = Ledger::new(1);
    let (doc, position) = put(&engine, &docs_key(4), body(4));
    ledger.owned.insert(docs_key(4), Some(doc.clone()));
    // The response said the write is at `position - 1`: the collection's creation.
    ledger.log.push(LogAck {
        position: position - 1,
        key: docs_key(4),
        kind: OpKind::Put,
        after: Some(doc),
        label: "c0-w000-2".into(),
    });
    let v = verify(&engine, &ledger);
    assert_eq!(v.lost.len(), 1, "{:?}", v.lost);
    assert!(v.lost[0].contains("change-log position"), "{}", v.lost[0]);
}

#[test]
fn a_document_nobody_wrote_is_reported() {
    let (_tmp, engine) = store();
    let ledger = Ledger::new(1);
    put(&engine, &(DOCS.to_owned(), "intruder".to_owned()), body(1));
    let v = verify(&engine, &ledger);
    assert_eq!(v.lost.len(), 1, "{:?}", v.lost);
    assert!(v.lost[0].contains("never written"), "{}", v.lost[0]);
}

#[test]
fn an_index_that_lost_its_entries_is_a_divergence() {
    let (tmp, engine) = store();
    let mut ledger = Ledger::new(1);
    for i in 0..3 {
        let (doc, _) = put(&engine, &docs_key(i), body(i as u64 % 2));
        ledger.owned.insert(docs_key(i), Some(doc));
    }
    let spec = engine.space(SPACE).and_then(|s| s.collection(DOCS)).expect("the collection").spec;
    let compound = spec.indexes.iter().find(|ix| ix.paths.len() == 2).expect("a compound index").id;
    engine.close();
    let data = tmp.path().join("data");
    assert!(verify_dir(&data, &ledger).expect("opens").clean(), "intact before the damage");
    let db = rusqlite::Connection::open(data.join("engram.db")).expect("open the database file");
    let gone = db.execute("DELETE FROM index_entries WHERE idx = ?1", [compound]).expect("delete index entries");
    assert_eq!(gone, 3);
    drop(db);
    let v = verify_dir(&data, &ledger).expect("opens");
    assert!(!v.divergences.is_empty(), "{v:?}");
    assert!(v.lost.is_empty() && v.partial.is_empty(), "{v:?}");
}
