//! Objects over HTTP: raw bodies streamed in and out, metadata headers,
//! byte ranges, conditional requests, listing, copy, staging bytes for a
//! transaction with documents, space isolation, and bad input answered
//! with problem+json. JSON responses are checked against the OpenAPI
//! document.

mod common;

use common::{TestServer, enc};
use serde_json::json;

const SPACE: &str = "files";

fn started() -> TestServer {
    let srv = TestServer::start();
    srv.create_space(SPACE);
    srv
}

fn obj(key: &str) -> String {
    format!("/v1/spaces/{SPACE}/objects/{}", enc(key))
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed)).collect()
}

#[test]
fn object_lifecycle_over_http() {
    let srv = started();
    let data = bytes(70_000, 1);
    let headers = [("content-type", "image/png"), ("x-engram-meta-source", "camera-2")];
    let r = srv.raw("PUT", &obj("photos/2026/a.png"), &headers, Some(data.clone()));
    r.expect_status(201, "put");
    let written = r.json();
    let digest = written["digest"].as_str().expect("digest").to_owned();
    assert_eq!(digest, blake3::hash(&data).to_hex().to_string());
    assert_eq!(r.header("etag"), Some(format!("\"{digest}\"").as_str()));

    let r = srv.raw("GET", &obj("photos/2026/a.png"), &[], None);
    r.expect_status(200, "get");
    assert_eq!(r.body, data);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.header("x-engram-meta-source"), Some("camera-2"));
    assert_eq!(r.header("content-length"), Some("70000"));
    // Literal slashes in the path address the same key.
    let r = srv.raw("GET", &format!("/v1/spaces/{SPACE}/objects/photos/2026/a.png"), &[], None);
    r.expect_status(200, "get by a slashed path");
    assert_eq!(r.body, data);

    let r = srv.raw("HEAD", &obj("photos/2026/a.png"), &[], None);
    r.expect_status(200, "head");
    assert_eq!(r.header("content-length"), Some("70000"));
    assert_eq!(r.header("x-engram-version"), Some("1"));

    let r = srv.raw("GET", &obj("photos/2026/a.png"), &[("range", "bytes=100-199")], None);
    r.expect_status(206, "range");
    assert_eq!(r.body, &data[100..200]);
    assert_eq!(r.header("content-range"), Some("bytes 100-199/70000"));
    let r = srv.raw("GET", &obj("photos/2026/a.png"), &[("range", "bytes=-10")], None);
    assert_eq!(r.body, &data[70_000 - 10..]);
    let r = srv.raw("GET", &obj("photos/2026/a.png"), &[("range", "bytes=70000-")], None);
    r.expect_status(416, "outside");
    assert_eq!(r.header("content-range"), Some("bytes */70000"));

    let tag = format!("\"{digest}\"");
    let r = srv.raw("GET", &obj("photos/2026/a.png"), &[("if-none-match", &tag)], None);
    r.expect_status(304, "not modified");
    assert!(r.body.is_empty());

    // Listing with a delimiter, copy, delete.
    srv.raw("PUT", &obj("photos/b.png"), &[], Some(b"b".to_vec())).expect_status(201, "put b");
    srv.raw("PUT", &obj("readme"), &[], Some(b"r".to_vec())).expect_status(201, "put readme");
    let r = srv.get(&format!("/v1/spaces/{SPACE}/objects?delimiter=/"));
    r.expect_status(200, "list");
    assert_eq!(r.json["prefixes"], json!(["photos/"]));
    assert_eq!(r.json["objects"][0]["key"], "readme");
    let r = srv.get(&format!("/v1/spaces/{SPACE}/objects?prefix=photos/&limit=1"));
    assert_eq!(r.json["objects"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.json["next_after"], "photos/2026/a.png");

    let r = srv
        .post(&format!("/v1/spaces/{SPACE}/object-copy"), &json!({"from": "photos/2026/a.png", "to": "backup/a.png"}));
    r.expect_status(200, "copy");
    assert_eq!(r.json["digest"], digest.as_str());
    let r = srv.raw("GET", &obj("backup/a.png"), &[], None);
    assert_eq!(r.body, data);
    assert_eq!(r.header("content-type"), Some("image/png"));

    srv.raw("DELETE", &obj("photos/2026/a.png"), &[], None).expect_status(200, "delete");
    let r = srv.get(&obj("photos/2026/a.png"));
    r.expect_problem(404, "not-found", "deleted");
    // The copy still reads: its bytes are shared, not gone.
    assert_eq!(srv.raw("GET", &obj("backup/a.png"), &[], None).body, data);
    // Objects are in the change log.
    let r = srv.get(&format!("/v1/spaces/{SPACE}/changes?limit=100"));
    let entries = r.json["entries"].as_array().expect("entries");
    assert!(entries.iter().any(|e| e["collection"] == "_objects" && e["op"] == "delete"));
}

#[test]
fn conditional_writes_over_http() {
    let srv = started();
    let create = [("if-none-match", "*")];
    srv.raw("PUT", &obj("k"), &create, Some(b"one".to_vec())).expect_status(201, "create");
    let r = srv.raw("PUT", &obj("k"), &create, Some(b"two".to_vec()));
    r.expect_status(412, "create again");
    let wrong = format!("\"{}\"", blake3::hash(b"zzz").to_hex());
    let r = srv.raw("PUT", &obj("k"), &[("if-match", &wrong)], Some(b"two".to_vec()));
    r.expect_status(412, "stale if-match");
    assert_eq!(r.json()["type"], "urn:engram:problem:precondition-failed");
    let right = format!("\"{}\"", blake3::hash(b"one").to_hex());
    let r = srv.raw("PUT", &obj("k"), &[("if-match", &right)], Some(b"two".to_vec()));
    r.expect_status(200, "matching if-match");
    assert_eq!(r.json()["version"], 2);
    let r = srv.raw("DELETE", &obj("k"), &[("if-match", &right)], None);
    r.expect_status(412, "delete with a stale tag");
    srv.raw("PUT", &obj("k"), &[("if-match", "v2")], Some(b"x".to_vec())).expect_status(400, "not a tag");
}

#[test]
fn staged_bytes_commit_with_documents() {
    let srv = started();
    let r = srv.raw("POST", &format!("/v1/spaces/{SPACE}/blobs"), &[], Some(b"transcript bytes".to_vec()));
    r.expect_status(201, "stage");
    let blob = r.json();
    let tx = json!({"ops": [
        {"op": "put", "collection": "sessions", "id": "s1", "body": {"transcript": "sessions/s1.txt"}},
        {"op": "put_object", "key": "sessions/s1.txt", "object": {"blob": blob, "content_type": "text/plain"}},
    ]});
    srv.post(&format!("/v1/spaces/{SPACE}/transactions"), &tx).expect_status(200, "commit");
    let r = srv.raw("GET", &obj("sessions/s1.txt"), &[], None);
    r.expect_status(200, "get");
    assert_eq!(r.body, b"transcript bytes");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    // Bytes never staged cannot be referred to.
    let ghost = json!({"digest": blake3::hash(b"ghost").to_hex().to_string(), "size": 5});
    let tx = json!({"ops": [{"op": "put_object", "key": "g", "object": {"blob": ghost}}]});
    srv.post(&format!("/v1/spaces/{SPACE}/transactions"), &tx).expect_problem(409, "conflict", "ghost");
}

#[test]
fn large_objects_stream_through() {
    let srv = started();
    let data = bytes(engram_objects::SMALL_OBJECT_BYTES + 4 * 1024 * 1024 + 3, 5);
    srv.raw("PUT", &obj("big"), &[], Some(data.clone())).expect_status(201, "put");
    let r = srv.raw("GET", &obj("big"), &[], None);
    r.expect_status(200, "get");
    assert!(r.body == data, "the bytes read back differ");
    let r = srv.raw("GET", &obj("big"), &[("range", "bytes=4194300-4194310")], None);
    assert_eq!(r.body, &data[4_194_300..=4_194_310]);
}

#[test]
fn bad_object_requests_are_problems() {
    let srv = started();
    let bad = |path: &str, headers: &[(&str, &str)], status: u16, what: &str| {
        let r = srv.raw("PUT", path, headers, Some(b"x".to_vec()));
        r.expect_status(status, what);
        assert_eq!(r.header("content-type"), Some("application/problem+json"), "{what}");
    };
    bad(&obj("a/../b"), &[], 400, "dot-dot segment");
    bad(&obj(&"k".repeat(300)), &[], 400, "key too long");
    bad(&obj("k"), &[("x-engram-meta-a.b", "v")], 400, "metadata name");
    bad(&obj("k"), &[("content-type", "")], 400, "empty content type");
    srv.raw("PUT", &obj("k?"), &[], Some(b"x".to_vec())).expect_status(201, "a percent-encoded ? is a key character");
    bad(&format!("/v1/spaces/nope/objects/{}", enc("k")), &[], 404, "unknown space");
    // Several ranges and other units are ignored (RFC 9110 §14.2): the whole object.
    for range in ["bytes=0-0,0-0", "items=0-1"] {
        let r = srv.raw("GET", &obj("k?"), &[("range", range)], None);
        r.expect_status(200, range);
        assert_eq!(r.body, b"x".to_vec(), "{range}");
    }
    let r = srv.raw("GET", &obj("k?"), &[("range", "bytes=a-b")], None);
    r.expect_status(416, "a malformed byte range");
    let r = srv.get(&format!("/v1/spaces/{SPACE}/objects?limit=0"));
    r.expect_problem(400, "invalid-input", "limit 0");
    let r = srv.get(&format!("/v1/spaces/{SPACE}/object-urls/{}", enc("k?")));
    r.expect_problem(400, "invalid-input", "the filesystem store cannot sign URLs");
    let r = srv.post(&format!("/v1/spaces/{SPACE}/object-copy"), &json!({"from": "none", "to": "x"}));
    r.expect_problem(404, "not-found", "copy of a missing object");
    let r = srv.post(&format!("/v1/spaces/{SPACE}/object-copy"), &json!({"from": "k?", "to": "x", "bogus": 1}));
    r.expect_problem(400, "invalid-input", "unknown field");
}

#[test]
fn objects_stay_in_their_space() {
    let srv = started();
    srv.create_space("other");
    srv.raw("PUT", &obj("secret"), &[], Some(b"tenant a".to_vec())).expect_status(201, "put");
    let r = srv.post("/v1/keys", &json!({"name": "other-reader", "space": "other", "role": "write"}));
    r.expect_status(201, "key");
    let token = r.json["key"].as_str().expect("key").to_owned();
    let auth = format!("Bearer {token}");
    let r = srv.raw("GET", &obj("secret"), &[("authorization", &auth)], None);
    r.expect_status(403, "another space's object");
    let r = srv.raw("PUT", &obj("secret"), &[("authorization", &auth)], Some(b"overwrite".to_vec()));
    r.expect_status(403, "writing another space");
    // The same key in its own space is a different object.
    let own = format!("/v1/spaces/other/objects/{}", enc("secret"));
    srv.raw("GET", &own, &[("authorization", &auth)], None).expect_status(404, "not in this space");
    assert_eq!(srv.raw("GET", &obj("secret"), &[], None).body, b"tenant a");
}

#[test]
fn readiness_names_the_object_store() {
    let srv = started();
    let r = srv.get("/readyz");
    r.expect_status(200, "ready");
    assert_eq!(r.json["objects"], "memory");
    let r = srv.raw("GET", "/metrics", &[], None);
    r.expect_status(200, "metrics");
    let text = String::from_utf8_lossy(&r.body);
    assert!(text.contains("engram_object_store_suspended{store=\"memory\"} 0"), "{text}");
    assert!(text.contains("engram_objects_collector_blobs_deleted_total "), "{text}");
}
