//! Keys, roles and spaces on every route, tenant isolation, and the limits:
//! request rate, failed authentications, load shedding, timeouts; request
//! ids, readiness, metrics and the API reference page.

mod common;

use common::{Reply, TestServer};
use engram_server::limits::Limits;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Creates a key through the API; returns (id, key).
fn key(srv: &TestServer, space: Option<&str>, role: &str, expires: Option<u64>) -> (String, String) {
    let mut body = json!({"name": format!("{role} key"), "role": role});
    if let Some(s) = space {
        body["space"] = json!(s);
    }
    if let Some(e) = expires {
        body["expires_in_seconds"] = json!(e);
    }
    let r = srv.post("/v1/keys", &body);
    r.expect_status(201, "create key");
    (r.json["id"].as_str().expect("id").to_owned(), r.json["key"].as_str().expect("key").to_owned())
}

fn as_key(srv: &TestServer, key: &str, method: &str, path: &str, body: Option<&Value>) -> Reply {
    let auth = format!("Bearer {key}");
    let bytes = body.map(|b| serde_json::to_vec(b).expect("json"));
    srv.request(method, path, &[("authorization", &auth)], bytes)
}

/// Concrete values for a templated path; `space` fills `{space}`.
fn fill(template: &str, space: &str) -> String {
    template
        .replace("{space}", space)
        .replace("{collection}", "notes")
        .replace("{id}", "d1")
        .replace("{edge}", "0123456789abcdef0123456789abcdef")
        .replace("{fact}", "01890a5d-ac96-774b-bcce-b302099a8057")
        .replace("{stream}", "s1")
        .replace("{key}", "000000000000")
}

fn seeded(srv: &TestServer) {
    for space in ["acme", "other"] {
        srv.create_space(space);
        srv.put(&format!("/v1/spaces/{space}/collections/notes/docs/d1"), &json!({"owner": space}))
            .expect_status(201, "seed document");
    }
}

#[test]
fn route_credential_matrix_has_no_unexpected_success() {
    // Every case below fails authentication or authorization on purpose.
    let srv = TestServer::start_with(Limits { auth_failures_per_window: u32::MAX, ..Limits::default() });
    seeded(&srv);
    let (_, reader) = key(&srv, Some("acme"), "read", None);
    let (_, other_admin) = key(&srv, Some("other"), "admin", None);
    let (revoked_id, revoked) = key(&srv, None, "admin", None);
    srv.delete(&format!("/v1/keys/{revoked_id}")).expect_status(200, "revoke");
    let (_, expired) = key(&srv, None, "admin", Some(1));
    std::thread::sleep(Duration::from_millis(1_100));
    let doc = srv.get("/openapi.json").json;
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let secured = op.get("security").is_some();
            let path = fill(template, "acme");
            let m = method.to_uppercase();
            let body = Some(json!({}));
            let body = if m == "GET" || m == "DELETE" { None } else { body.as_ref() };
            let policy = engram_server::auth::policy(&m.parse().expect("method"), template);
            let all_spaces = matches!(policy, engram_server::auth::Access::Key { all_spaces: true, .. });
            let mut cases: Vec<(&str, Reply, u16)> = vec![
                (
                    "no key",
                    srv.request(&m, &path, &[("authorization", "")], body.map(|b| b.to_string().into_bytes())),
                    401,
                ),
                ("revoked key", as_key(&srv, &revoked, &m, &path, body), 401),
                ("expired key", as_key(&srv, &expired, &m, &path, body), 401),
                ("garbage key", as_key(&srv, "egk_nothing_here", &m, &path, body), 401),
            ];
            if template.contains("{space}") || all_spaces {
                cases.push(("another space's admin key", as_key(&srv, &other_admin, &m, &path, body), 403));
            }
            for (what, r, want) in cases {
                if !secured {
                    assert!(r.status < 500, "{m} {template} ({what}): public route failed: {}", r.text);
                    continue;
                }
                assert!(!(200..300).contains(&r.status), "{m} {template} with {what}: unexpected success {}", r.status);
                assert_eq!(r.status, want, "{m} {template} with {what}: {}", r.text);
                checked += 1;
            }
            // A read-only key for this space may not write.
            let needs_more_than_read = matches!(policy, engram_server::auth::Access::Key { role, all_spaces }
                if role > engram_server::auth::Role::Read || all_spaces);
            if needs_more_than_read {
                let r = as_key(&srv, &reader, &m, &path, body);
                assert_eq!(r.status, 403, "{m} {template} with a read-only key: {}", r.text);
                checked += 1;
            }
        }
    }
    assert!(checked > 200, "the matrix covered {checked} cases");
    // Nothing above changed data.
    let d = srv.get("/v1/spaces/acme/collections/notes/docs/d1");
    assert_eq!(d.json["body"], json!({"owner": "acme"}));
}

#[test]
fn another_space_gets_the_same_answer_for_existing_and_missing() {
    let srv = TestServer::start();
    seeded(&srv);
    let (_, acme) = key(&srv, Some("acme"), "admin", None);
    let existing = as_key(&srv, &acme, "GET", "/v1/spaces/other/collections/notes/docs/d1", None);
    let missing = as_key(&srv, &acme, "GET", "/v1/spaces/other/collections/notes/docs/nope", None);
    let no_space = as_key(&srv, &acme, "GET", "/v1/spaces/ghost/collections/notes/docs/d1", None);
    for r in [&existing, &missing, &no_space] {
        assert_eq!(r.status, 403);
        assert_eq!(r.json["type"], existing.json["type"]);
    }
    assert_eq!(
        existing.json["detail"].as_str().map(|d| d.replace("other", "X")),
        no_space.json["detail"].as_str().map(|d| d.replace("ghost", "X"))
    );
    // Listing spaces shows a scoped key its own space only.
    let listed = as_key(&srv, &acme, "GET", "/v1/spaces", None);
    let names: Vec<&str> =
        listed.json["spaces"].as_array().expect("spaces").iter().map(|s| s["name"].as_str().unwrap_or("")).collect();
    assert_eq!(names, ["acme"]);
    // Its own space works; key management does not.
    as_key(&srv, &acme, "GET", "/v1/spaces/acme/collections/notes/docs/d1", None).expect_status(200, "own space");
    as_key(&srv, &acme, "GET", "/v1/keys", None).expect_problem(403, "forbidden", "scoped admin lists keys");
}

/// Random operations of several tenants, each with its own space key,
/// interleaved, with guessed and swapped ids and spaces: a request for
/// another space is always refused, and nothing read ever belongs to
/// another tenant.
#[test]
fn tenants_never_see_or_change_each_other() {
    const TENANTS: [&str; 3] = ["t0", "t1", "t2"];
    let srv = TestServer::start();
    let mut keys = BTreeMap::new();
    for t in TENANTS {
        srv.create_space(t);
        keys.insert(t, key(&srv, Some(t), "write", None).1);
    }
    for seed in 0..4u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..150 {
            let me = TENANTS[rng.random_range(0..TENANTS.len())];
            let target = if rng.random_bool(0.3) { TENANTS[rng.random_range(0..TENANTS.len())] } else { me };
            let id = format!("d{}", rng.random_range(0..8));
            let doc = format!("/v1/spaces/{target}/collections/notes/docs/{id}");
            let k = &keys[me];
            let r = match rng.random_range(0..4) {
                0 => as_key(&srv, k, "PUT", &doc, Some(&json!({"tenant": me}))),
                1 => as_key(&srv, k, "GET", &doc, None),
                2 => as_key(&srv, k, "DELETE", &doc, None),
                _ => as_key(&srv, k, "POST", &format!("/v1/spaces/{target}/collections/notes/query"), Some(&json!({}))),
            };
            if target != me {
                assert_eq!(r.status, 403, "{me} reached {target}: {}", r.text);
                continue;
            }
            assert!(r.status < 500, "{}", r.text);
            let bodies: Vec<&Value> = match r.json.get("documents") {
                Some(Value::Array(docs)) => docs.iter().map(|d| &d["body"]).collect(),
                _ => r.json.get("body").into_iter().collect(),
            };
            for b in bodies {
                assert_eq!(b["tenant"], json!(me), "{me} read another tenant's document: {b}");
            }
        }
    }
    // Every stored document belongs to its space's tenant.
    for t in TENANTS {
        let r = srv.post(&format!("/v1/spaces/{t}/collections/notes/query"), &json!({"limit": 1000}));
        for d in r.json["documents"].as_array().into_iter().flatten() {
            assert_eq!(d["body"]["tenant"], json!(t));
        }
    }
}

#[test]
fn keys_are_shown_once_and_revocable() {
    let srv = TestServer::start();
    srv.create_space("acme");
    let (id, k) = key(&srv, Some("acme"), "read", None);
    assert!(k.starts_with("egk_"));
    let listed = srv.get("/v1/keys");
    let text = listed.text.clone();
    assert!(!text.contains(&k[k.len() - 20..]), "the list never shows a secret");
    assert!(!text.contains("hash"), "the list never shows hashes");
    as_key(&srv, &k, "GET", "/v1/spaces/acme", None).expect_status(200, "fresh key");
    as_key(&srv, &k, "PUT", "/v1/spaces/acme/collections/n/docs/x", Some(&json!({}))).expect_problem(
        403,
        "forbidden",
        "read key writes",
    );
    srv.delete(&format!("/v1/keys/{id}")).expect_status(200, "revoke");
    as_key(&srv, &k, "GET", "/v1/spaces/acme", None).expect_problem(401, "unauthorized", "revoked");
    srv.post("/v1/keys", &json!({"name": "x", "role": "owner"})).expect_status(400, "unknown role");
    srv.post("/v1/keys", &json!({"name": "x", "role": "read", "space": "bad space"})).expect_problem(
        400,
        "invalid-input",
        "bad space",
    );
    srv.post("/v1/keys", &json!({"name": "x", "role": "read", "expires_in_seconds": 0})).expect_problem(
        400,
        "invalid-input",
        "zero expiry",
    );
    srv.delete("/v1/keys/nope").expect_problem(404, "not-found", "unknown key");
}

#[test]
fn rate_limits_and_failed_authentication() {
    let srv = TestServer::start_with(Limits { rate_per_key: 5.0, ..Limits::default() });
    srv.create_space("acme");
    let (_, k) = key(&srv, Some("acme"), "read", None);
    let statuses: Vec<u16> = (0..12).map(|_| as_key(&srv, &k, "GET", "/v1/spaces/acme", None).status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10, "a burst of twice the rate: {statuses:?}");
    let r = as_key(&srv, &k, "GET", "/v1/spaces/acme", None);
    r.expect_problem(429, "rate-limited", "over the rate");
    assert!(r.header("retry-after").is_some_and(|v| v.parse::<u64>().is_ok_and(|s| s >= 1)));
    // Requests without a key are refused but are not guesses: not counted.
    for _ in 0..30 {
        srv.request("GET", "/v1/spaces/acme", &[("authorization", "")], None).expect_status(401, "no key");
    }
    srv.get("/v1/spaces/acme").expect_status(200, "the admin still gets in");
    // Wrong keys from one address are limited.
    let bad: Vec<u16> = (0..25).map(|_| as_key(&srv, "egk_bad_key", "GET", "/v1/spaces/acme", None).status).collect();
    assert_eq!(&bad[..20], &[401; 20]);
    assert!(bad[20..].iter().all(|s| *s == 429), "{bad:?}");
    // Valid keys from that same address still get in: behind a proxy or
    // NAT, one client's bad keys must not lock everyone out.
    srv.get("/v1/spaces/acme").expect_status(200, "the admin key after 25 bad keys from its address");
    let (_, fresh) = key(&srv, Some("acme"), "read", None);
    as_key(&srv, &fresh, "GET", "/v1/spaces/acme", None).expect_status(200, "a space key after 25 bad keys");
}

#[test]
fn a_space_key_dies_with_its_space() {
    let srv = TestServer::start();
    srv.create_space("tenant");
    srv.put("/v1/spaces/tenant/collections/notes/docs/a", &json!({"v": 1})).expect_status(201, "seed");
    let (_, k) = key(&srv, Some("tenant"), "write", None);
    as_key(&srv, &k, "GET", "/v1/spaces/tenant/collections/notes/docs/a", None).expect_status(200, "live key");
    srv.delete("/v1/spaces/tenant").expect_status(204, "delete space");
    srv.create_space("tenant");
    srv.put("/v1/spaces/tenant/collections/notes/docs/b", &json!({"secret": true})).expect_status(201, "new data");
    // The old key must reach neither the new tenant's data nor write into it.
    let read = as_key(&srv, &k, "GET", "/v1/spaces/tenant/collections/notes/docs/b", None);
    read.expect_problem(401, "unauthorized", "old key reads the new tenant");
    let write = as_key(&srv, &k, "PUT", "/v1/spaces/tenant/collections/notes/docs/c", Some(&json!({})));
    write.expect_problem(401, "unauthorized", "old key writes the new tenant");
    as_key(&srv, &k, "GET", "/v1/spaces", None).expect_problem(401, "unauthorized", "old key lists spaces");
    srv.get("/v1/spaces/tenant/collections/notes/docs/c").expect_status(404, "nothing was written");
    let listed = srv.get("/v1/keys");
    let revoked = listed.json["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .any(|r| r["space"] == json!("tenant") && r["revoked_at_ms"].is_u64());
    assert!(revoked, "deleting a space revokes its keys: {}", listed.text);
    // A new key for the new space works; a key for a missing space is a 404.
    let (_, k2) = key(&srv, Some("tenant"), "read", None);
    as_key(&srv, &k2, "GET", "/v1/spaces/tenant/collections/notes/docs/b", None).expect_status(200, "new key");
    srv.post("/v1/keys", &json!({"name": "x", "role": "read", "space": "ghost"})).expect_problem(
        404,
        "not-found",
        "key for a missing space",
    );
}

#[test]
fn request_ids_readiness_metrics_and_reference() {
    let srv = TestServer::start();
    srv.create_space("acme");
    let r = srv.request("GET", "/v1/spaces/acme", &[("x-request-id", "trace-42")], None);
    assert_eq!(r.header("x-request-id"), Some("trace-42"));
    let r = srv.request("GET", "/v1/spaces/acme", &[("x-request-id", "bad id with spaces")], None);
    let id = r.header("x-request-id").expect("a request id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "a new id replaces an invalid one: {id}");
    let e = srv.get("/v1/spaces/nope");
    assert!(e.header("x-request-id").is_some(), "errors carry the id too");
    srv.request("GET", "/readyz", &[("authorization", "")], None).expect_status(200, "readyz without a key");
    srv.request("GET", "/healthz", &[("authorization", "")], None).expect_status(200, "healthz without a key");
    srv.request("GET", "/metrics", &[("authorization", "")], None).expect_problem(
        401,
        "unauthorized",
        "metrics without a key",
    );
    // A traversal loads the space's graph: its lag behind the log is reported.
    for id in ["a", "b"] {
        srv.put(&format!("/v1/spaces/acme/collections/p/docs/{id}"), &json!({})).expect_status(201, "node");
    }
    let edge = json!({"from": {"collection": "p", "id": "a"}, "to": {"collection": "p", "id": "b"}, "type": "t"});
    srv.post("/v1/spaces/acme/graph/edges", &edge).expect_status(201, "edge");
    srv.post("/v1/spaces/acme/graph/neighbors", &json!({"from": {"collection": "p", "id": "a"}}))
        .expect_status(200, "n");
    let m = srv.get("/metrics");
    m.expect_status(200, "metrics");
    assert!(m.header("content-type").is_some_and(|c| c.starts_with("text/plain")));
    for needle in [
        "engram_http_requests_total{route=\"/v1/spaces/{space}\",method=\"GET\",status=\"200\"}",
        "engram_http_request_duration_seconds_bucket{route=\"/v1/spaces/{space}\",method=\"GET\",le=\"+Inf\"}",
        "engram_writes_total",
        "engram_collection_cache_hits_total",
        "engram_commit_batches_total",
        "engram_commit_batch_jobs_max",
        "engram_derived_index_lag_entries{space=\"acme\",index=\"graph\"} 0",
    ] {
        assert!(m.text.contains(needle), "metrics lack {needle}:\n{}", m.text);
    }
    let page = srv.request("GET", "/docs", &[("authorization", "")], None);
    page.expect_status(200, "docs page");
    assert!(page.text.contains("/openapi.json") && !page.text.contains("https://"), "self-contained page");
}

/// Every change-log entry names who wrote it: the key and request id of an
/// HTTP write (a document, an object, a transaction), `local` for a
/// library call on the same engine.
#[test]
fn the_change_log_records_each_writes_key_and_request() {
    let srv = TestServer::start();
    srv.create_space("acme");
    let (id, writer) = key(&srv, Some("acme"), "write", None);
    let auth = format!("Bearer {writer}");
    let headers = [("authorization", auth.as_str()), ("x-request-id", "req-doc-1")];
    srv.request("PUT", "/v1/spaces/acme/collections/n/docs/a", &headers, Some(b"{}".to_vec()))
        .expect_status(201, "put");
    let object = [("authorization", auth.as_str()), ("x-request-id", "req-obj-1"), ("content-type", "text/plain")];
    srv.request("PUT", "/v1/spaces/acme/objects/f.txt", &object, Some(b"hello".to_vec())).expect_status(201, "object");
    // No request id sent: the server's own (returned in the response) is recorded.
    let r = as_key(&srv, &writer, "DELETE", "/v1/spaces/acme/collections/n/docs/a", None);
    r.expect_status(200, "delete");
    let generated = r.header("x-request-id").expect("request id").to_owned();
    let changes = srv.get("/v1/spaces/acme/changes?limit=100");
    changes.expect_status(200, "changes");
    let entries = changes.json["entries"].as_array().expect("entries").clone();
    let by = |op: &str, coll: &str| {
        entries
            .iter()
            .find(|e| e["op"] == op && e["collection"] == coll)
            .unwrap_or_else(|| panic!("no {op} in {coll}: {entries:?}"))
            .clone()
    };
    let key_actor = format!("key:{id}");
    let put = by("put", "n");
    assert_eq!((put["actor"].as_str(), put["request_id"].as_str()), (Some(key_actor.as_str()), Some("req-doc-1")));
    let obj = by("put", "_objects");
    assert_eq!((obj["actor"].as_str(), obj["request_id"].as_str()), (Some(key_actor.as_str()), Some("req-obj-1")));
    let del = by("delete", "n");
    assert_eq!(
        (del["actor"].as_str(), del["request_id"].as_str()),
        (Some(key_actor.as_str()), Some(generated.as_str()))
    );
    // The admin key created the space.
    let create = by("space_create", "");
    assert!(create["actor"].as_str().is_some_and(|a| a.starts_with("key:") && a != key_actor), "{create}");
    srv.get("/v1/spaces/acme/changes/verify").expect_status(200, "the chain verifies with actors");
}
