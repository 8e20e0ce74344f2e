//! Three `engram serve` processes over one PostgreSQL database, as a
//! platform runs stateless workers: randomized writes (documents, edges,
//! events) through all three, and every search, traversal, read and event
//! read through any of them equals what an oracle computed from the
//! acknowledged writes; a schema change through one is enforced by the
//! others at once; a key revoked through one is refused by the others.
//! Skipped with a message when no PostgreSQL is reachable (outside CI).

mod common;

use common::{DatabaseServer as Served, agent, serve_on_database};
use engram_testkit::{TestDatabase, postgres_available};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

const ADMIN: &str = "shared-servers-admin-key-0123456789";
const WORDS: [&str; 6] = ["amber", "birch", "cedar", "delta", "ember", "fjord"];

fn serve(dir: &Path, url: &str) -> Served {
    serve_with(dir, url, &["--rate-limit-per-key", "0"])
}

fn serve_with(dir: &Path, url: &str, extra: &[&str]) -> Served {
    serve_on_database(dir, url, ADMIN, extra)
}

/// (status, JSON body) of one request with `key`.
fn call(base: &str, key: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json");
    let res = match body {
        Some(b) => {
            agent(Duration::from_secs(30)).run(req.body(serde_json::to_vec(&b).expect("json")).expect("request"))
        }
        None => agent(Duration::from_secs(30)).run(req.body(()).expect("request")),
    }
    .expect("the server answers");
    let status = res.status().as_u16();
    let text = res.into_body().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn ok(base: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, v) = call(base, ADMIN, method, path, body);
    assert!((200..300).contains(&status), "{method} {path} through {base}: {status} {v}");
    v
}

/// What the acknowledged writes say the servers must answer.
#[derive(Default)]
struct Oracle {
    docs: BTreeMap<String, String>,
    edges: BTreeSet<(String, String)>,
    events: Vec<Value>,
}

impl Oracle {
    fn matching(&self, word: &str) -> BTreeSet<String> {
        self.docs.iter().filter(|(_, t)| t.split(' ').any(|w| w == word)).map(|(id, _)| id.clone()).collect()
    }
    fn out_of(&self, from: &str) -> BTreeSet<String> {
        self.edges.iter().filter(|(f, _)| f == from).map(|(_, t)| t.clone()).collect()
    }
}

fn write_one(rng: &mut StdRng, base: &str, o: &mut Oracle, step: usize) {
    let id = format!("d{}", rng.random_range(0..24));
    match rng.random_range(0..10) {
        0..=4 => {
            let text = format!("{} {}", WORDS[rng.random_range(0..6)], WORDS[rng.random_range(0..6)]);
            ok(base, "PUT", &format!("/v1/spaces/acme/collections/notes/docs/{id}"), Some(json!({"text": text})));
            o.docs.insert(id, text);
        }
        5 if o.docs.contains_key(&id) => {
            ok(base, "DELETE", &format!("/v1/spaces/acme/collections/notes/docs/{id}"), None);
            o.docs.remove(&id);
            o.edges.retain(|(f, t)| *f != id && *t != id);
        }
        6 | 7 => {
            let to = format!("d{}", rng.random_range(0..24));
            if o.docs.contains_key(&id) && o.docs.contains_key(&to) && id != to {
                let edge = json!({"from": {"collection": "notes", "id": id}, "type": "links",
                    "to": {"collection": "notes", "id": to}});
                ok(base, "POST", "/v1/spaces/acme/graph/edges", Some(edge));
                o.edges.insert((id, to));
            }
        }
        _ => {
            let event = json!({"type": "step", "data": {"n": step}});
            ok(base, "POST", "/v1/spaces/acme/streams/log/events", Some(json!({"events": [event]})));
            o.events.push(json!(step));
        }
    }
}

fn check_all(base: &str, o: &Oracle) {
    for word in WORDS {
        let r = ok(base, "POST", "/v1/spaces/acme/collections/notes/search", Some(json!({"text": word, "k": 100})));
        let got: BTreeSet<String> =
            r["hits"].as_array().expect("hits").iter().map(|h| h["id"].as_str().expect("id").to_owned()).collect();
        assert_eq!(got, o.matching(word), "search {word:?} through {base}");
    }
    for from in o.docs.keys() {
        let req = json!({"from": {"collection": "notes", "id": from}, "limit": 1000});
        let r = ok(base, "POST", "/v1/spaces/acme/graph/neighbors", Some(req));
        let got: BTreeSet<String> = r["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["node"]["id"].as_str().expect("id").to_owned())
            .collect();
        assert_eq!(got, o.out_of(from), "neighbors of {from} through {base}");
    }
    let page = ok(base, "POST", "/v1/spaces/acme/collections/notes/query", Some(json!({"limit": 1000})));
    let got: BTreeMap<String, String> = page["documents"]
        .as_array()
        .expect("documents")
        .iter()
        .map(|d| (d["id"].as_str().expect("id").to_owned(), d["body"]["text"].as_str().expect("text").to_owned()))
        .collect();
    assert_eq!(got, o.docs, "documents through {base}");
    if !o.events.is_empty() {
        let r = ok(base, "GET", "/v1/spaces/acme/streams/log/events?limit=1000", None);
        let got: Vec<Value> = r["events"].as_array().expect("events").iter().map(|e| e["data"]["n"].clone()).collect();
        assert_eq!(got, o.events, "events through {base}");
    }
}

#[test]
fn three_servers_over_one_database_agree_with_the_acknowledged_writes() {
    if !postgres_available() {
        return;
    }
    let db = TestDatabase::create();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let servers: Vec<Served> = dirs.iter().map(|d| serve(d.path(), db.url())).collect();
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    ok(&bases[0], "POST", "/v1/spaces", Some(json!({"name": "acme"})));
    let spec = json!({"search": {"text": [{"path": "text"}]}});
    ok(&bases[1], "PUT", "/v1/spaces/acme/collections/notes", Some(spec));
    let mut rng = StdRng::seed_from_u64(20261205);
    let mut oracle = Oracle::default();
    for step in 0..240 {
        let through = &bases[rng.random_range(0..3)];
        write_one(&mut rng, through, &mut oracle, step);
        if step % 40 == 39 {
            for base in &bases {
                check_all(base, &oracle);
            }
        }
    }

    // A schema change through one server binds the others at once.
    let strict = json!({"schema": {"type": "object", "required": ["text"]}, "search": {"text": [{"path": "text"}]}});
    ok(&bases[0], "PUT", "/v1/spaces/acme/collections/notes", Some(strict));
    for base in &bases[1..] {
        let (status, body) =
            call(base, ADMIN, "PUT", "/v1/spaces/acme/collections/notes/docs/bad", Some(json!({"other": 1})));
        assert_eq!(status, 422, "the new schema is enforced through {base}: {body}");
    }

    // A key created through one server works through the others, and once
    // revoked through a second, is refused by all.
    let created = ok(&bases[0], "POST", "/v1/keys", Some(json!({"name": "agent", "space": "acme", "role": "read"})));
    let key = created["key"].as_str().expect("key").to_owned();
    let id = created["id"].as_str().expect("id").to_owned();
    for base in &bases {
        let (status, _) = call(base, &key, "GET", "/v1/spaces/acme", None);
        assert_eq!(status, 200, "the new key works through {base}");
    }
    ok(&bases[1], "DELETE", &format!("/v1/keys/{id}"), None);
    for base in &bases {
        let (status, _) = call(base, &key, "GET", "/v1/spaces/acme", None);
        assert_eq!(status, 401, "the revoked key is refused through {base}");
    }
    drop(servers);
}

/// With `--redis`, a key's request rate is counted across servers: a burst
/// of twice the rate in all, not per server.
#[test]
fn servers_with_redis_share_a_key_s_rate() {
    if !postgres_available() {
        return;
    }
    if std::process::Command::new("redis-cli").arg("ping").output().map_or(true, |o| !o.stdout.starts_with(b"PONG")) {
        assert!(std::env::var_os("CI").is_none(), "no Redis on 127.0.0.1:6379 under CI");
        eprintln!("skipped: no Redis on 127.0.0.1:6379");
        return;
    }
    let db = TestDatabase::create();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
    let extra = ["--rate-limit-per-key", "5", "--redis", "redis://127.0.0.1:6379"];
    let servers: Vec<Served> = dirs.iter().map(|d| serve_with(d.path(), db.url(), &extra)).collect();
    let created = ok(&servers[0].base, "POST", "/v1/keys", Some(json!({"name": "agent", "role": "read"})));
    let key = created["key"].as_str().expect("key").to_owned();
    let statuses: Vec<u16> = (0..20).map(|i| call(&servers[i % 2].base, &key, "GET", "/v1/spaces", None).0).collect();
    let passed = statuses.iter().filter(|s| **s == 200).count();
    assert!((10..=11).contains(&passed), "passed {passed} of 20 through two servers: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 429), "{statuses:?}");
}
