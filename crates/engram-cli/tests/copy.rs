//! `engram copy` with the real binary: a space with indexed documents,
//! edges, facts and events goes SQLite → PostgreSQL → SQLite unchanged
//! (same log, hashes, documents and query answers); a copy killed with
//! SIGKILL, then run again after more source writes, completes and
//! verifies; a target space with another history is refused; idempotency
//! keys used before a copy are remembered after it.
//! PostgreSQL cases are skipped with a message when none is reachable.

mod common;

use common::{Run, engram};
use engram::{
    AppendRequest, CollectionSpec, EdgeInput, Engine, EngineConfig, EventInput, FactInput, FactQuery, NodeRef,
    ReadDirection, Space, SystemClock, Term, WriteOptions,
};
use engram_testkit::{TestDatabase, postgres_available};
use serde_json::{Value, json};
use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SPACE: &str = "acme";
/// Notes in the round trip: more than one chunk.
const ROUND_TRIP_DOCUMENTS: usize = 1_200;
/// Documents a copy writes before the kill: several chunks into `notes`.
const KILL_AFTER_DOCUMENTS: u64 = 3_000;

/// Opens an engine on a data directory or a `postgres://` URL.
fn open(location: &str) -> Engine {
    if location.starts_with("postgres://") {
        let pg = engram_postgres::PostgresBackend::open(engram_postgres::PostgresOptions::new(location))
            .expect("PostgreSQL opens");
        return Engine::with_backend(Arc::new(pg), Arc::new(SystemClock), EngineConfig::memory())
            .expect("an engine on PostgreSQL");
    }
    Engine::open(EngineConfig::dir(location)).expect("the data directory opens")
}

/// A space with `docs` notes in an indexed collection (whose spec changed
/// once, generation 2), a few patched and deleted, edges, facts, events.
fn seed(dir: &str, docs: usize) {
    let engine = open(dir);
    engine.create_space(SPACE).expect("create space");
    let space = engine.space(SPACE).expect("space");
    let spec =
        |indexes: Value| -> CollectionSpec { serde_json::from_value(json!({ "indexes": indexes })).expect("spec") };
    space.create_collection("notes", spec(json!([{"name": "by_tag", "paths": ["tag"]}]))).expect("collection");
    for start in (0..docs).step_by(500) {
        let batch = (start..docs.min(start + 500))
            .map(|i| (format!("n{i:06}"), json!({"tag": format!("t{}", i % 7), "n": i, "text": "x".repeat(i % 50)})))
            .collect();
        space.bulk_put("notes", batch, None).expect("bulk put");
    }
    let both = json!([{"name": "by_tag", "paths": ["tag"]}, {"name": "by_n", "paths": ["n"]}]);
    space.update_collection("notes", spec(both)).expect("spec change");
    space.patch("notes", "n000003", json!({"tag": "patched"}), WriteOptions::default()).expect("patch");
    space.delete("notes", "n000004", WriteOptions::default()).expect("delete");
    for i in 5..10 {
        let edge = EdgeInput {
            from: NodeRef { collection: "notes".into(), id: format!("n{i:06}") },
            to: NodeRef { collection: "notes".into(), id: format!("n{:06}", i + 10) },
            edge_type: "cites".into(),
            weight: None,
            props: None,
        };
        space.link(edge).expect("link");
    }
    let fact = FactInput::new(Term::node("notes", "n000001"), "status", Term::value("open")).functional();
    space.assert_fact(fact).expect("fact");
    let fact = FactInput::new(Term::node("notes", "n000001"), "status", Term::value("closed")).functional();
    space.assert_fact(fact).expect("fact");
    let events = (0..3).map(|i| EventInput::new("seen", json!({"i": i}))).collect();
    space.append("agent-1", AppendRequest::new(events)).expect("append");
    idempotent_put(&space);
}

/// The same idempotent write each time: runs once, then replays.
fn idempotent_put(space: &Space) -> engram::WriteResult {
    let body = json!({"tag": "idem", "n": -2});
    space.put("notes", "idem", body, WriteOptions::idempotent("request-1")).expect("idempotent put")
}

/// A key used in the source is remembered in a copy: the repeat is
/// answered with the first result and writes nothing.
fn assert_replays(location: &str, source: &Value) {
    let engine = open(location);
    let space = engine.space(SPACE).expect("space");
    let again = idempotent_put(&space);
    assert!(again.replayed, "{location}: the idempotent write ran again: {again:?}");
    let head = space.verify_changes().expect("chain").head_position;
    assert_eq!(serde_json::json!(head), source["chain"]["head_position"], "{location}: a replay wrote");
}

/// What a reader of the space sees: the whole log, documents through both
/// indexes and an id scan, a traversal, facts, a stream.
fn observe(location: &str) -> Value {
    let engine = open(location);
    let space = engine.space(SPACE).expect("space");
    let chain = space.verify_changes().expect("the chain verifies");
    json!({
        "chain": chain,
        "collections": space.collections().expect("collections"),
        "log": whole_log(&space),
        "by_tag": query(&space, json!({"filter": {"tag": "t3"}, "limit": 1000})),
        "by_n": query(&space, json!({"filter": {"n": {"$gte": 2}}, "sort": [{"field": "n", "order": "desc"}], "limit": 50})),
        "scan": query(&space, json!({"limit": 1000})),
        "patched": space.get("notes", "n000003").map(|d| serde_json::to_value(d).expect("doc")).ok(),
        "deleted": space.get("notes", "n000004").is_ok(),
        "neighbors": space
            .neighbors(&serde_json::from_value(json!({"from": {"collection": "notes", "id": "n000005"}, "depth": 2}))
                .expect("request"))
            .expect("neighbors"),
        "facts": space.facts(&FactQuery::about(Term::node("notes", "n000001"))).expect("facts"),
        "events": space.read_stream("agent-1", None, ReadDirection::Forward, 100).expect("events"),
    })
}

/// Each observation equal, named when not (they are long).
fn assert_same(copied: &Value, source: &Value, what: &str) {
    for (key, want) in source.as_object().expect("an observation") {
        assert!(&copied[key] == want, "{what}: {key} differs from the source:\n{}\nsource:\n{want}", copied[key]);
    }
}

fn whole_log(space: &Space) -> Vec<engram::ChangeEntry> {
    let mut log = Vec::new();
    loop {
        let page = space.changes(log.len() as u64, 10_000).expect("changes");
        if page.is_empty() {
            return log;
        }
        log.extend(page);
    }
}

fn query(space: &Space, q: Value) -> Value {
    let q = serde_json::from_value(q).expect("query");
    let page = space.query("notes", &q).expect("query runs");
    // A cursor names its collection by internal id, which differs between
    // storages: only whether there is one is compared.
    json!({"documents": page.documents, "more": page.next_cursor.is_some()})
}

fn copy(from: &str, to: &str) -> Run {
    engram().args(["copy", from, to, "--space", SPACE]).output().expect("the engram binary runs").into()
}

fn dir(root: &Path, name: &str) -> String {
    root.join(name).to_str().expect("UTF-8 path").to_owned()
}

#[test]
fn sqlite_to_postgres_and_back_keeps_log_hashes_documents_and_answers() {
    if !postgres_available() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, c) = (dir(tmp.path(), "a"), dir(tmp.path(), "c"));
    let db = TestDatabase::create();
    seed(&a, ROUND_TRIP_DOCUMENTS);
    let before = observe(&a);
    let started = Instant::now();
    let there = copy(&a, db.url()).json("copy to PostgreSQL");
    let halfway = started.elapsed();
    let back = copy(db.url(), &c).json("copy back to SQLite");
    println!("copied to PostgreSQL in {halfway:?}, back in {:?}: {there}", started.elapsed() - halfway);
    let head = &there["spaces"][0];
    assert_eq!(head["hash"], before["chain"]["head_hash"], "{there}");
    assert_eq!(head["position"], before["chain"]["head_position"]);
    assert_eq!(head["documents"], back["spaces"][0]["documents"]);
    assert_eq!((&head["hash"], &head["position"]), (&back["spaces"][0]["hash"], &back["spaces"][0]["position"]));
    assert_same(&observe(db.url()), &before, "PostgreSQL");
    assert_same(&observe(&c), &before, "the round trip");
    assert_eq!(there["spaces"][0]["idempotency_records"], 1, "{there}");
    assert_replays(db.url(), &before);
    assert_replays(&c, &before);
}

#[test]
fn a_copy_killed_mid_way_resumes_and_verifies_after_more_source_writes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir(tmp.path(), "a"), dir(tmp.path(), "b"));
    seed(&a, 20_000);
    killed_then_resumed(&a, &b);
}

#[test]
fn a_copy_to_postgres_killed_mid_way_resumes_and_verifies() {
    if !postgres_available() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = dir(tmp.path(), "a");
    let db = TestDatabase::create();
    seed(&a, 20_000);
    killed_then_resumed(&a, db.url());
}

/// Kills a copy once it has written documents, changes the source (a
/// copied document patched, one deleted, one added), copies again.
fn killed_then_resumed(from: &str, to: &str) {
    kill_after_documents(from, to);
    {
        let engine = open(from);
        let space = engine.space(SPACE).expect("space");
        space.patch("notes", "n000001", json!({"tag": "later"}), WriteOptions::default()).expect("patch");
        space.delete("notes", "n000002", WriteOptions::default()).expect("delete");
        space.put("notes", "n000002a", json!({"tag": "t3", "n": -1}), WriteOptions::default()).expect("put");
    }
    let done = copy(from, to).json("the resumed copy");
    let s = &done["spaces"][0];
    let total = s["documents"].as_u64().expect("documents");
    assert!(s["documents_written"].as_u64().expect("written") < total, "the copy started over: {done}");
    assert_same(&observe(to), &observe(from), "the resumed copy");
}

/// Spawns a copy and SIGKILLs it as soon as its progress line reports
/// [`KILL_AFTER_DOCUMENTS`] written: mid-way through `notes` (the reserved
/// collections, copied first, hold a few documents; `notes` 20 chunks).
fn kill_after_documents(from: &str, to: &str) {
    let mut child = engram()
        .args(["copy", from, to, "--space", SPACE])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the engram binary starts");
    let mut stderr = child.stderr.take().expect("stderr piped");
    let (mut seen, mut buf) = (String::new(), [0u8; 4096]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !documents_written(&seen) {
        assert!(Instant::now() < deadline, "no documents written in time: {seen}");
        let n = stderr.read(&mut buf).expect("read stderr");
        assert!(n > 0, "the copy ended before it was killed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert!(!status.success(), "the copy finished before the kill");
}

/// Whether a complete progress line (one followed by the next) reports
/// [`KILL_AFTER_DOCUMENTS`] written; the last line may still be arriving.
fn documents_written(progress: &str) -> bool {
    let mut lines: Vec<&str> = progress.split('\r').collect();
    lines.pop();
    lines.iter().any(|line| {
        let count = line.rsplit("documents written ").next().unwrap_or("").trim();
        line.contains("documents written ") && count.parse::<u64>().is_ok_and(|n| n >= KILL_AFTER_DOCUMENTS)
    })
}

#[test]
fn a_target_with_another_history_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b, c) = (dir(tmp.path(), "a"), dir(tmp.path(), "b"), dir(tmp.path(), "c"));
    seed(&a, 30);
    // A shorter log of its own (other timestamps, so other hashes): the
    // fact writes' entry count depends on timing, so equal sizes would not
    // reliably put the target's head behind the source's.
    seed(&c, 20);
    let run = copy(&a, &c);
    assert!(!run.success(), "{run:?}");
    assert!(run.stderr.contains("different history"), "{}", run.stderr);
    copy(&a, &b).json("first copy");
    open(&b).space(SPACE).expect("space").put("notes", "extra", json!({}), WriteOptions::default()).expect("put");
    let run = copy(&a, &b);
    assert!(!run.success(), "{run:?}");
    assert!(run.stderr.contains("ahead of the source"), "{}", run.stderr);
}

#[test]
fn a_space_holding_objects_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir(tmp.path(), "a"), dir(tmp.path(), "b"));
    seed(&a, 30);
    {
        let space = open(&a).space(SPACE).expect("space");
        let blob = engram::BlobInput { digest: blake3_hex(b"bytes"), size: 5, chunks: vec![] };
        space.stage_blob(blob.clone()).expect("stage");
        space.confirm_blob(blob.clone()).expect("confirm");
        space.put_object("k", engram::ObjectPut::new(blob)).expect("object");
    }
    let run = copy(&a, &b);
    assert!(!run.success(), "{run:?}");
    assert!(run.stderr.contains("holds objects"), "{}", run.stderr);
}

/// The BLAKE3 digest of `bytes`, as objects name content.
fn blake3_hex(bytes: &[u8]) -> String {
    let mut h = engram_objects::hashing::ChunkHasher::default();
    h.update(bytes);
    h.finish().digest
}

#[test]
fn a_data_directory_held_by_another_process_is_not_copied() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir(tmp.path(), "a"), dir(tmp.path(), "b"));
    seed(&a, 30);
    let held = open(&a);
    let run = copy(&a, &b);
    assert!(!run.success(), "{run:?}");
    assert!(run.stderr.contains("LOCK") || run.stderr.to_lowercase().contains("lock"), "{}", run.stderr);
    drop(held);
    copy(&a, &b).json("copy once released");
}
