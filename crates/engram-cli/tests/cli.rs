//! The `engram` command as users run it: commands on a data directory,
//! exit codes and JSON output, the single-owner lock with a server running,
//! and how fast `engram serve` becomes ready.

mod common;

use common::{READY_TIMEOUT, ServerProcess, cli, engram};
use serde_json::{Value, json};
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn commands_on_a_data_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");

    let space = cli(&dir, &["space", "create", "acme"]).json("space create");
    assert_eq!(space["name"], "acme");
    assert!(space["created_at_ms"].as_u64().is_some_and(|t| t > 0), "created_at_ms: {space}");
    let dup = cli(&dir, &["space", "create", "acme"]);
    assert!(!dup.success(), "creating a space twice fails");
    assert!(dup.stderr.starts_with("error:") && dup.stderr.contains("already exists"), "stderr: {}", dup.stderr);
    let spaces = cli(&dir, &["space", "list"]).json("space list");
    assert_eq!(spaces["spaces"][0]["name"], "acme");

    let put = cli(&dir, &["put", "acme", "notes", "n1", r#"{"text":"hello","n":1}"#]).json("put");
    assert_eq!(
        (put["collection"].as_str(), put["id"].as_str(), put["version"].as_u64()),
        (Some("notes"), Some("n1"), Some(1))
    );
    assert!(put["position"].as_u64().is_some(), "put reports its change-log position: {put}");
    assert_eq!(put["replayed"], false);
    let put2 = cli(&dir, &["put", "acme", "notes", "n1", r#"{"text":"hello again","n":2}"#]).json("second put");
    assert_eq!(put2["version"], 2);
    let stale = cli(&dir, &["put", "acme", "notes", "n1", "--if-version", "1", r#"{"text":"stale"}"#]);
    assert!(!stale.success() && stale.stderr.contains("error:"), "a stale --if-version fails: {stale:?}");
    let create_only = cli(&dir, &["put", "acme", "notes", "n1", "--create", "{}"]);
    assert!(
        !create_only.success() && create_only.stderr.contains("error:"),
        "--create on an existing document fails: {create_only:?}"
    );

    // Integers beyond 64 bits are refused with their place (issue 12).
    let wide = cli(&dir, &["put", "acme", "notes", "wide", r#"{"n":18446744073709551616}"#]);
    assert!(
        !wide.success()
            && wide.stderr.contains(
                "the document: integer 18446744073709551616 at byte 5 is outside the 64-bit range; send it as a string or as a float"
            ),
        "stderr: {}",
        wide.stderr
    );
    let wide_filter = cli(&dir, &["query", "acme", "notes", "--filter", r#"{"n":-9223372036854775809}"#]);
    assert!(
        !wide_filter.success() && wide_filter.stderr.contains("--filter: integer -9223372036854775809"),
        "{wide_filter:?}"
    );

    // A document from standard input.
    let mut child = engram()
        .args(["--data-dir"])
        .arg(&dir)
        .args(["put", "acme", "notes", "n2", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn engram put");
    child.stdin.take().expect("piped stdin").write_all(br#"{"text":"from stdin","n":5}"#).expect("write stdin");
    let out: common::Run = child.wait_with_output().expect("engram put finishes").into();
    assert_eq!(out.json("put from stdin")["version"], 1);

    let got = cli(&dir, &["get", "acme", "notes", "n1"]).json("get");
    assert_eq!(got["id"], "n1");
    assert_eq!(got["version"], 2);
    assert_eq!(got["body"], json!({"text": "hello again", "n": 2}));

    let missing = cli(&dir, &["get", "acme", "notes", "nope"]);
    assert_ne!(missing.code, Some(0), "getting a missing document fails");
    assert!(missing.code.is_some(), "the process exits rather than being killed");
    assert!(missing.stderr.starts_with("error:"), "stderr: {}", missing.stderr);
    assert!(missing.stderr.contains("nope"), "the error names the document: {}", missing.stderr);
    assert!(missing.stdout.is_empty(), "nothing on stdout on failure: {}", missing.stdout);
    let no_space = cli(&dir, &["get", "nowhere", "notes", "n1"]);
    assert!(
        !no_space.success() && no_space.stderr.starts_with("error:") && no_space.stderr.contains("nowhere"),
        "{no_space:?}"
    );
    let bad_json = cli(&dir, &["put", "acme", "notes", "n3", "{not json"]);
    assert!(
        !bad_json.success() && bad_json.stderr.starts_with("error:") && bad_json.stderr.contains("JSON"),
        "{bad_json:?}"
    );

    let page = cli(&dir, &["query", "acme", "notes", "--filter", r#"{"n":{"$gte":2}}"#, "--sort=-n"]).json("query");
    let found: Vec<&str> =
        page["documents"].as_array().expect("documents").iter().filter_map(|d| d["id"].as_str()).collect();
    assert_eq!(found, vec!["n2", "n1"]);
    assert_eq!(page["next_cursor"], Value::Null);
    let count =
        cli(&dir, &["query", "acme", "notes", "--filter", r#"{"n":{"$gte":2}}"#, "--count"]).json("query --count");
    assert_eq!(count["count"], 2);
    let bad_filter = cli(&dir, &["query", "acme", "notes", "--filter", r#"{"n":{"$gt":{}}}"#]);
    assert!(!bad_filter.success() && bad_filter.stderr.contains("filter.n.$gt"), "{bad_filter:?}");

    let deleted = cli(&dir, &["delete", "acme", "notes", "n2"]).json("delete");
    assert_eq!(deleted["version"], 0);
    assert!(!cli(&dir, &["get", "acme", "notes", "n2"]).success(), "a deleted document is gone");

    let changes = cli(&dir, &["changes", "acme"]).json("changes");
    let entries = changes["entries"].as_array().expect("entries");
    let ops: Vec<&str> = entries.iter().filter_map(|e| e["op"].as_str()).collect();
    assert_eq!(ops, vec!["space_create", "collection_create", "put", "put", "put", "delete"]);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["position"].as_u64(), Some(i as u64 + 1), "positions count up");
        assert_eq!(e["hash"].as_str().map(str::len), Some(64), "hashes are 32-byte hex");
    }
    let after = cli(&dir, &["changes", "acme", "--after", "4", "--limit", "1"]).json("changes --after");
    assert_eq!(after["entries"].as_array().map(Vec::len), Some(1));
    assert_eq!(after["entries"][0]["position"], 5);

    let verify = cli(&dir, &["changes", "acme", "--verify"]).json("changes --verify");
    assert_eq!(verify["entries"].as_u64(), Some(entries.len() as u64));
    assert_eq!(verify["head_position"].as_u64(), Some(entries.len() as u64));
    assert_eq!(verify["head_hash"], entries.last().expect("entries")["hash"]);

    let usage = engram().args(["get", "only-one-arg"]).output().expect("engram runs");
    assert!(!usage.status.success(), "a usage error exits non-zero");
}

#[test]
fn server_holds_the_data_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    cli(&dir, &["space", "create", "acme"]).json("space create before serving");
    cli(&dir, &["put", "acme", "notes", "before", r#"{"v":1}"#]).json("put before serving");

    let server = ServerProcess::start(&dir, &tmp.path().join("serve.log"));

    // CLI commands on the same directory go to the server.
    let got = cli(&dir, &["get", "acme", "notes", "before"]);
    assert!(
        got.stderr.contains(&format!("using http://{}", server.addr)),
        "the CLI says it uses the server: {}",
        got.stderr
    );
    assert_eq!(got.json("get through the server")["body"], json!({"v": 1}));
    let put = cli(&dir, &["put", "acme", "notes", "during", r#"{"v":2}"#]);
    assert!(put.stderr.contains("using http://"), "stderr: {}", put.stderr);
    assert_eq!(put.json("put through the server")["version"], 1);
    let page =
        cli(&dir, &["query", "acme", "notes", "--filter", r#"{"v":{"$gte":1}}"#]).json("query through the server");
    assert_eq!(page["documents"].as_array().map(Vec::len), Some(2));
    let verify = cli(&dir, &["changes", "acme", "--verify"]).json("verify through the server");
    assert!(verify["head_position"].as_u64().is_some_and(|p| p >= 4), "{verify}");
    let missing = cli(&dir, &["get", "acme", "notes", "nope"]);
    assert!(!missing.success() && missing.stderr.contains("error:") && missing.stderr.contains("nope"), "{missing:?}");

    // The server sees the write the CLI sent it.
    let agent = common::agent(Duration::from_secs(10));
    let url = format!("{}/v1/spaces/acme/collections/notes/docs/during", server.base());
    assert_eq!(agent.get(&url).call().expect("server answers").status().as_u16(), 401, "no key, no data");
    // The key the server leaves for local commands.
    let key = std::fs::read_to_string(dir.join("cli.key")).expect("the server wrote cli.key");
    let mut res = agent.get(&url).header("authorization", format!("Bearer {key}")).call().expect("server answers");
    assert_eq!(res.status().as_u16(), 200);
    let doc: Value = res.body_mut().read_json().expect("document JSON");
    assert_eq!(doc["body"], json!({"v": 2}));

    // A second server on the same directory fails fast, naming the holder.
    let started = Instant::now();
    let mut second = engram()
        .arg("serve")
        .arg("--data-dir")
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a second server");
    let deadline = Duration::from_secs(5);
    let status = loop {
        if let Some(status) = second.try_wait().expect("poll the second server") {
            break Some(status);
        }
        if started.elapsed() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.is_none() {
        let _ = second.kill();
        let _ = second.wait();
        panic!("a second engram serve on a held data directory was still running after {deadline:?}");
    }
    let out: common::Run = second.wait_with_output().expect("second server output").into();
    println!("second engram serve exited after {:?}", started.elapsed());
    assert!(!out.success(), "the second server exits non-zero: {out:?}");
    assert!(out.stderr.contains("error:"), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains(&server.pid().to_string()),
        "the error names the holder's pid {}: {}",
        server.pid(),
        out.stderr
    );
    assert!(out.stderr.contains("engram serve"), "the error names the holder's command: {}", out.stderr);
    assert!(!out.stdout.contains("listening"), "the second server never listened: {}", out.stdout);

    // The first server is unaffected.
    let res = agent.get(format!("{}/healthz", server.base())).call().expect("first server still answers");
    assert_eq!(res.status().as_u16(), 200);
}

#[test]
fn serve_is_ready_in_under_a_second() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("fresh");
    std::fs::create_dir(&dir).expect("create an empty data directory");
    let server = ServerProcess::start(&dir, &tmp.path().join("serve.log"));
    println!("engram serve on a fresh directory was ready after {:?}", server.ready_after);
    assert!(server.ready_after < READY_TIMEOUT);
    assert!(
        server.ready_after < Duration::from_secs(1),
        "engram serve took {:?} to become ready (limit 1 s)",
        server.ready_after
    );
    let res = common::agent(Duration::from_secs(10))
        .get(format!("{}/healthz", server.base()))
        .call()
        .expect("server answers");
    assert_eq!(res.status().as_u16(), 200, "ready means serving");
    assert!(dir.join("engram.db").exists(), "the database was created");
}

#[test]
fn search_and_index_commands() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    cli(&dir, &["space", "create", "acme"]).json("space create");
    let spec = r#"{"search": {"text": [{"path": "title"}], "vectors": [{"name": "emb", "dims": 2, "metric": "l2", "model": {"name": "toy", "version": "1"}}]}}"#;
    cli(&dir, &["collection", "acme", "notes", "--spec", spec]).json("collection");
    cli(&dir, &["put", "acme", "notes", "a", r#"{"title": "red apples", "emb": [0, 0]}"#]).json("put a");
    cli(&dir, &["put", "acme", "notes", "b", r#"{"title": "green pears", "emb": [5, 5]}"#]).json("put b");

    let text = cli(&dir, &["search", "acme", "notes", "--text", "apples"]).json("text search");
    assert_eq!(text["hits"][0]["id"], "a", "{text}");
    assert_eq!(text["hits"].as_array().map(Vec::len), Some(1));
    let knn = cli(&dir, &["search", "acme", "notes", "--vector", "[4, 4]", "-k", "1"]).json("vector search");
    assert_eq!(knn["hits"][0]["id"], "b", "{knn}");
    let req = r#"{"text": "pears", "vector": [0, 0], "k": 2}"#;
    let hybrid = cli(&dir, &["search", "acme", "notes", "--request", req]).json("hybrid search");
    assert_eq!(hybrid["hits"].as_array().map(Vec::len), Some(2), "{hybrid}");
    let bad = cli(&dir, &["search", "acme", "notes", "--vector", "[1, 2, 3]"]);
    assert!(!bad.success() && bad.stderr.contains("dimensions"), "wrong dimensions: {bad:?}");

    let status = cli(&dir, &["index", "status", "acme", "notes"]).json("index status");
    assert_eq!(status["documents"], 2);
    let check = cli(&dir, &["index", "check", "acme"]).json("index check");
    assert_eq!(check["ok"], true, "{check}");
    let embeddings = cli(&dir, &["embeddings", "acme", "notes"]).json("embeddings status");
    assert_eq!(embeddings, json!({"collection": "notes", "fields": []}), "no embedded field here");
    let rebuilt = cli(&dir, &["index", "rebuild", "acme"]).json("index rebuild");
    assert_eq!(rebuilt["collections"], 1);
    // The saved index is reloaded by the next command, and stays right.
    assert!(dir.join("search").read_dir().expect("search dir").count() >= 1, "an index file is saved");
    cli(&dir, &["delete", "acme", "notes", "a"]).json("delete");
    let after = cli(&dir, &["search", "acme", "notes", "--text", "apples"]).json("search after delete");
    assert_eq!(after["hits"], json!([]), "a deleted document is never found");
    assert_eq!(cli(&dir, &["index", "check", "acme"]).json("check")["ok"], true);
}

/// Runs the graph, fact and stream commands; `server` says whether they go
/// through a running server (the same assertions hold either way).
fn memory_commands(dir: &std::path::Path, tag: &str) {
    for id in ["a", "b", "c"] {
        cli(dir, &["put", "acme", "people", &format!("{tag}{id}"), "{}"]).json("put node");
    }
    let n = |id: &str| format!("people/{tag}{id}");
    cli(dir, &["graph", "link", "acme", &n("a"), "knows", &n("b")]).json("link a b");
    cli(dir, &["graph", "link", "acme", &n("b"), "knows", &n("c"), "--weight", "2"]).json("link b c");
    let bad = cli(dir, &["graph", "link", "acme", &n("a"), "knows", "people/ghost"]);
    assert!(!bad.success() && bad.stderr.contains("does not exist"), "unknown endpoint: {bad:?}");
    let nb = cli(dir, &["graph", "neighbors", "acme", &n("a"), "--depth", "2"]).json("neighbors");
    assert_eq!(nb["nodes"].as_array().map(Vec::len), Some(2), "{nb}");
    let path = cli(dir, &["graph", "path", "acme", &n("a"), &n("c"), "--weighted"]).json("path");
    assert_eq!(path["cost"], 3.0, "{path}");
    cli(dir, &["graph", "unlink", "acme", &n("b"), "knows", &n("c")]).json("unlink");
    let nb = cli(dir, &["graph", "neighbors", "acme", &n("a"), "--depth", "2"]).json("neighbors after unlink");
    assert_eq!(nb["nodes"].as_array().map(Vec::len), Some(1), "{nb}");
    let fact = format!(
        r#"{{"subject": {{"collection": "people", "id": "{tag}a"}}, "predicate": "mood", "object": {{"value": "calm"}}, "functional": true}}"#
    );
    cli(dir, &["fact", "assert", "acme", &fact]).json("assert");
    let q = format!(r#"{{"subject": {{"collection": "people", "id": "{tag}a"}}}}"#);
    let facts = cli(dir, &["fact", "query", "acme", &q]).json("facts");
    assert_eq!(facts["facts"][0]["object"]["value"], "calm", "{facts}");
    let stream = format!("{tag}/episodes");
    let r = cli(
        dir,
        &["stream", "append", "acme", &stream, "said={\"n\":1}", "said={\"n\":2}", "--expected-version", "no_stream"],
    )
    .json("append");
    assert_eq!(r["version"], 2, "{r}");
    let conflict = cli(dir, &["stream", "append", "acme", &stream, "said={}", "--expected-version", "1"]);
    assert!(!conflict.success() && conflict.stderr.contains("expected version 1"), "conflict: {conflict:?}");
    let read = cli(dir, &["stream", "read", "acme", &stream, "--backward", "--limit", "1"]).json("read");
    assert_eq!(read["events"][0]["data"], json!({"n": 2}), "{read}");
}

#[test]
fn graph_fact_and_stream_commands() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    cli(&dir, &["space", "create", "acme"]).json("space create");
    memory_commands(&dir, "local");
    let _server = ServerProcess::start(&dir, &tmp.path().join("serve.log"));
    memory_commands(&dir, "remote");
}

fn queue_commands(dir: &std::path::Path, queue: &str) {
    cli(dir, &["queue", "configure", "acme", queue, r#"{"max_attempts": 1}"#]).json("configure");
    let r =
        cli(dir, &["queue", "enqueue", "acme", queue, r#"{"n":1}"#, r#"{"n":2}"#, "--priority", "3"]).json("enqueue");
    assert_eq!(r["messages"].as_array().map(Vec::len), Some(2), "{r}");
    let got = cli(dir, &["queue", "receive", "acme", queue, "--max-messages", "5"]).json("receive");
    let messages = got["messages"].as_array().expect("messages").clone();
    assert_eq!(messages.len(), 2, "{got}");
    let receipt = |i: usize| messages[i]["receipt"].as_str().expect("receipt").to_owned();
    let acked = cli(dir, &["queue", "ack", "acme", queue, &receipt(0)]).json("ack");
    assert_eq!(acked["results"][0]["acked"], true, "{acked}");
    let nacked = cli(dir, &["queue", "nack", "acme", queue, &receipt(1), "--error", "boom"]).json("nack");
    assert_eq!(nacked["dead_lettered"], true, "one attempt allowed: {nacked}");
    let dead = cli(dir, &["queue", "dead", "acme", queue]).json("dead letters");
    assert_eq!(dead["messages"][0]["body"], json!({"n": 2}), "{dead}");
    assert_eq!(cli(dir, &["queue", "redrive", "acme", queue]).json("redrive")["count"], 1);
    let stats = cli(dir, &["queue", "stats", "acme", queue]).json("stats");
    assert_eq!((stats["ready"].as_u64(), stats["dead"].as_u64()), (Some(1), Some(0)), "{stats}");
    let bad = cli(dir, &["queue", "ack", "acme", queue, "not-a-receipt"]);
    assert!(!bad.success() && bad.stderr.contains("invalid receipt"), "bad receipt: {bad:?}");
    let list = cli(dir, &["queue", "list", "acme"]).json("list");
    assert!(list["queues"].as_array().expect("queues").iter().any(|q| q["queue"] == queue), "{list}");
    assert_eq!(cli(dir, &["queue", "delete", "acme", queue]).json("delete")["count"], 1);
}

#[test]
fn queue_commands_locally_and_through_a_server() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    cli(&dir, &["space", "create", "acme"]).json("space create");
    queue_commands(&dir, "local/jobs");
    let _server = ServerProcess::start(&dir, &tmp.path().join("serve.log"));
    queue_commands(&dir, "remote/jobs");
}

fn feed_commands(dir: &std::path::Path, tag: &str) {
    let topic = format!("{tag}.created");
    cli(dir, &["feed", "publish", "acme", &topic, r#"{"n":1}"#]).json("publish");
    let page = cli(dir, &["feed", "read", "acme", "--outbox", "--topics", &topic]).json("read outbox");
    assert_eq!(page["entries"][0]["payload"], json!({"n": 1}), "{page}");
    let consumer = format!("{tag}-reader");
    let filter = format!(r#"{{"source": "outbox", "topics": ["{topic}"]}}"#);
    cli(dir, &["feed", "create-consumer", "acme", &consumer, &filter]).json("create consumer");
    let polled = cli(dir, &["feed", "poll", "acme", &consumer]).json("poll");
    assert_eq!(polled["entries"].as_array().map(Vec::len), Some(1), "{polled}");
    let next = polled["next_after"].as_u64().expect("next_after").to_string();
    let acked = cli(dir, &["feed", "ack", "acme", &consumer, &next]).json("ack");
    assert_eq!(acked["lag"], 0, "{acked}");
    let docs = cli(dir, &["feed", "read", "acme", "--ops", "put", "--include-documents"]).json("read documents");
    assert!(docs["entries"].as_array().is_some_and(|e| e.iter().all(|x| x["op"] == "put")), "{docs}");
    let bad = cli(dir, &["feed", "read", "acme", "--ops", "upsert"]);
    assert!(!bad.success() && bad.stderr.contains("unknown operation"), "{bad:?}");
    // (The test server, the crash loop's, allows private targets; the
    // SSRF refusal is tested in engram-server's webhooks_http.rs.)
    let created = cli(dir, &["webhook", "create", "acme", &format!("{tag}-hook"), "http://127.0.0.1:9/x"]);
    let created = created.json("create webhook");
    assert!(created["secret"].as_str().is_some_and(|s| s.starts_with("whsec_")), "{created}");
    let list = cli(dir, &["webhook", "list", "acme"]).json("list webhooks");
    assert!(
        list["webhooks"].as_array().is_some_and(|w| w.iter().any(|h| h["name"] == format!("{tag}-hook"))),
        "{list}"
    );
    let got = cli(dir, &["webhook", "get", "acme", &format!("{tag}-hook")]).json("get webhook");
    assert!(got.get("secret").is_none(), "the secret is shown once: {got}");
    cli(dir, &["webhook", "delete", "acme", &format!("{tag}-hook")]).json("delete webhook");
    let gone = cli(dir, &["webhook", "get", "acme", &format!("{tag}-hook")]);
    assert!(!gone.success() && gone.stderr.contains("does not exist"), "{gone:?}");
}

#[test]
fn feed_and_webhook_commands_locally_and_through_a_server() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    cli(&dir, &["space", "create", "acme"]).json("space create");
    cli(&dir, &["put", "acme", "notes", "n1", "{}"]).json("put");
    feed_commands(&dir, "local");
    let _server = ServerProcess::start(&dir, &tmp.path().join("serve.log"));
    feed_commands(&dir, "remote");
}
