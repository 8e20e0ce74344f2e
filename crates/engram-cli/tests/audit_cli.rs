//! `engram audit` against a running server: checkpoints published to a
//! file through the server, receipts checked offline, and a history cut
//! short while the server was down detected by someone with only the
//! published checkpoints, the public key and an API key.

mod common;

use common::{cli, serve_with_admin};
use serde_json::json;

const ADMIN: &str = "audit-cli-test-admin-key-0123456789";

fn put(base: &str, id: &str) {
    let agent = common::agent(std::time::Duration::from_secs(30));
    let r = agent
        .put(format!("{base}/v1/spaces/acme/collections/n/docs/{id}"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .send_json(json!({"id": id}))
        .expect("put");
    assert!(r.status().is_success(), "put {id}: {}", r.status());
}

#[test]
fn published_checkpoints_catch_a_history_cut_short_without_database_access() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let published = dir.path().join("published.jsonl");
    let (p, receipt_file) = (published.to_str().expect("path"), dir.path().join("receipt.json"));
    let srv = serve_with_admin(&data, None, ADMIN, &[]);
    let base = srv.base.clone();
    let remote = |args: &[&str]| {
        let mut all = vec!["--server", base.as_str(), "--key", ADMIN];
        all.extend_from_slice(args);
        cli(&data, &all)
    };
    remote(&["space", "create", "acme"]).json("space");
    for i in 0..20 {
        put(&base, &format!("d{i}"));
    }
    let public = remote(&["audit", "public-key"]);
    // The key file is the data directory's: readable here as on the server.
    let public = public.json("public key")["public_key"].as_str().expect("hex").to_owned();
    let checkpoint = remote(&["audit", "checkpoint", "acme", "--append", p]).json("checkpoint");
    let size = checkpoint["tree_size"].as_u64().expect("size");
    assert_eq!(size, 22, "space, collection and 20 documents");
    let receipt = remote(&["audit", "receipt", "acme", "5"]).json("receipt");
    std::fs::write(&receipt_file, receipt.to_string()).expect("write receipt");
    for i in 20..25 {
        put(&base, &format!("d{i}"));
    }
    let ok = remote(&["audit", "verify", "--public-key", &public, "--checkpoints", p]).json("consistent");
    assert_eq!(
        (ok["consistent"][0]["tree_size"].as_u64(), ok["consistent"][0]["now"].as_u64()),
        (Some(size), Some(27))
    );
    let offline = cli(
        &data,
        &["audit", "verify", "--offline", "--public-key", &public, "--receipt", receipt_file.to_str().expect("path")],
    );
    offline.json("the receipt verifies offline");
    drop(srv);

    // While the server is down, someone with the database removes the
    // last 10 entries (the newest writes and part of the published history).
    let conn = rusqlite::Connection::open(data.join("engram.db")).expect("open");
    let space: i64 = conn.query_row("SELECT id FROM spaces WHERE name = 'acme'", [], |r| r.get(0)).expect("space");
    conn.execute("DELETE FROM changes WHERE space_id = ?1 AND position > 16", [space]).expect("cut");
    conn.execute("DELETE FROM docs WHERE id IN ('d15','d16','d17','d18','d19','d20','d21','d22','d23','d24')", [])
        .expect("and the rows");
    drop(conn);
    let srv = serve_with_admin(&data, None, ADMIN, &[]);
    let base = srv.base.clone();
    let bad = cli(
        &data,
        &["--server", &base, "--key", ADMIN, "audit", "verify", "--public-key", &public, "--checkpoints", p],
    );
    assert!(!bad.success(), "a history cut short passes: {}", bad.stdout);
    assert!(bad.stderr.contains("change 22"), "names the checkpoint's position: {}", bad.stderr);
    // A forged checkpoint line fails its signature.
    let line = std::fs::read_to_string(&published).expect("read");
    let forged = line.replace("\"tree_size\":22", "\"tree_size\":16");
    assert_ne!(forged, line);
    std::fs::write(&published, forged).expect("write");
    let bad = cli(
        &data,
        &["--server", &base, "--key", ADMIN, "audit", "verify", "--public-key", &public, "--checkpoints", p],
    );
    assert!(!bad.success() && bad.stderr.contains("bad signature"), "{}", bad.stderr);
}
