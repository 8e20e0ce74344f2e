//! Audit over HTTP: the public key, signed checkpoints, receipts and
//! consistency proofs that verify offline, the full audit (admin only),
//! and bad input answered with problem+json.

mod common;

use common::TestServer;
use engram_core::audit::{Checkpoint, ConsistencyProof, PublicKey, Receipt};
use serde_json::json;

const SPACE: &str = "au";

fn public_key(srv: &TestServer) -> PublicKey {
    // Public: anyone may hold the key that checks receipts.
    let r = srv.request("GET", "/v1/audit/public-key", &[("authorization", "")], None);
    r.expect_status(200, "public key");
    assert_eq!(r.json["algorithm"], "ed25519");
    PublicKey::from_hex(r.json["public_key"].as_str().expect("hex")).expect("a public key")
}

#[test]
fn checkpoints_receipts_and_consistency_verify_offline() {
    let srv = TestServer::start();
    srv.create_space(SPACE);
    let key = public_key(&srv);
    let docs: Vec<_> = (0..300).map(|i| json!({"id": format!("d{i:03}"), "body": {"i": i}})).collect();
    srv.post(&format!("/v1/spaces/{SPACE}/collections/n/bulk/put"), &json!({"documents": docs}))
        .expect_status(200, "bulk");
    let head = srv.head(SPACE);
    assert!(head > 300, "{head}");

    let r = srv.get(&format!("/v1/spaces/{SPACE}/audit/checkpoint"));
    r.expect_status(200, "checkpoint");
    let latest: Checkpoint = serde_json::from_value(r.json.clone()).expect("a checkpoint");
    latest.verify(&key).expect("signed by the server's key");
    assert_eq!((latest.space.as_str(), latest.tree_size), (SPACE, head));

    for pos in [1, 150, 257, head] {
        let r = srv.get(&format!("/v1/spaces/{SPACE}/changes/{pos}/receipt"));
        r.expect_status(200, "receipt");
        let receipt: Receipt = serde_json::from_value(r.json.clone()).expect("a receipt");
        receipt.verify(&key).expect("the receipt verifies offline");
        assert_eq!(receipt.entry.position, pos);
        let mut forged = receipt.clone();
        forged.entry.version += 1;
        assert!(forged.verify(&key).is_err(), "an edited entry fails");
    }

    let r = srv.get(&format!("/v1/spaces/{SPACE}/audit/checkpoint?size=100"));
    r.expect_status(200, "an older checkpoint");
    let old: Checkpoint = serde_json::from_value(r.json.clone()).expect("a checkpoint");
    let r = srv.get(&format!("/v1/spaces/{SPACE}/audit/consistency?old=100"));
    r.expect_status(200, "consistency");
    let proof: ConsistencyProof = serde_json::from_value(r.json.clone()).expect("a proof");
    let new: Checkpoint = serde_json::from_value(r.json["checkpoint"].clone()).expect("a checkpoint");
    proof.verify(&key, &old, &new).expect("the old log is a prefix of the new");

    let r = srv.post(&format!("/v1/spaces/{SPACE}/audit/verify"), &json!({}));
    r.expect_status(200, "full audit");
    assert_eq!(r.json["head_position"], head);
    assert!(r.json["documents"].as_u64().expect("documents") >= 300);
}

#[test]
fn bad_audit_requests_are_problems() {
    let srv = TestServer::start();
    srv.create_space(SPACE);
    let base = format!("/v1/spaces/{SPACE}");
    srv.get(&format!("{base}/changes/0/receipt")).expect_problem(404, "not-found", "position 0");
    srv.get(&format!("{base}/changes/99/receipt")).expect_problem(404, "not-found", "beyond the head");
    srv.get(&format!("{base}/changes/x/receipt")).expect_status(400, "not a number");
    srv.get(&format!("{base}/audit/checkpoint?size=99")).expect_problem(400, "invalid-input", "size beyond the head");
    srv.get(&format!("{base}/audit/checkpoint?size=-1")).expect_status(400, "negative size");
    srv.get(&format!("{base}/audit/checkpoint?sise=1")).expect_status(400, "unknown parameter");
    srv.get(&format!("{base}/audit/consistency")).expect_status(400, "old is required");
    srv.get(&format!("{base}/audit/consistency?old=5&new=1")).expect_problem(400, "invalid-input", "old beyond new");
    srv.get("/v1/spaces/missing/audit/checkpoint").expect_problem(404, "not-found", "no such space");
    // The full audit reads everything: admin keys only.
    let r = srv.post("/v1/keys", &json!({"name": "reader", "role": "read", "space": SPACE}));
    r.expect_status(201, "key");
    let auth = format!("Bearer {}", r.json["key"].as_str().expect("key"));
    let r = srv.request("POST", &format!("{base}/audit/verify"), &[("authorization", &auth)], Some(b"{}".to_vec()));
    r.expect_problem(403, "forbidden", "a read key cannot run the full audit");
    let r = srv.request("GET", &format!("{base}/audit/checkpoint"), &[("authorization", &auth)], None);
    r.expect_status(200, "a read key gets checkpoints");
}
