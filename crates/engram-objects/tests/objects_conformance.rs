//! One conformance suite for the object layer, run against memory, the
//! local filesystem, a real S3-compatible server and a real Azure Blob
//! emulator (started by `scripts/ensure-s3` and `scripts/ensure-azurite`;
//! `.ci/run` starts both). Without a server, its cases fail in CI (`CI`
//! set) and skip with a message elsewhere.
//!
//! Each case gets a fresh engine and a fresh root prefix in the store, so
//! cases run in parallel on one bucket. The metadata's engine is the
//! in-memory reference for the store suites; two more suites run every
//! case with the metadata on SQLite (a data directory, with the filesystem
//! store) and on PostgreSQL (a fresh database, with the memory store).

use bytes::Bytes;
use engram::{Engine, Expect, ListObjects, Op, Space};
use engram_core::ErrorKind;
use engram_core::limits::OBJECT_CHUNK_BYTES;
use engram_objects::faults::{Fault, FaultyStore, Op as StoreOp};
use engram_objects::{Collector, Objects, PutOptions, Secrets, Store, open_store_with};
use futures_util::{TryStreamExt, stream};
use object_store::ObjectStore;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const S3_DEFAULT: &str = "s3://engram-test?endpoint=http://127.0.0.1:9000&allow_http=true&region=us-east-1";
const AZURE_DEFAULT: &str = "az://engram-test?emulator=true";

/// The store a case runs on.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Memory,
    Fs,
    S3,
    Azure,
}

/// The engine the metadata is kept by.
#[derive(Clone, Copy, Debug)]
enum Meta {
    Memory,
    Sqlite,
    Postgres,
}

struct Setup {
    engine: Engine,
    space: Space,
    objects: Objects,
    faults: Option<Arc<FaultyStore>>,
    _dir: Option<tempfile::TempDir>,
    _engine_dir: Option<tempfile::TempDir>,
    _database: Option<engram_testkit::postgres::TestDatabase>,
}

/// A fresh engine and store; `None` (after a message) when the store's
/// server is not running outside CI.
async fn setup(kind: Kind, faulty: bool) -> Option<Setup> {
    setup_on(kind, Meta::Memory, faulty).await
}

/// The engine for the metadata; `None` when PostgreSQL is not running
/// outside CI.
fn metadata_engine(
    meta: Meta,
) -> Option<(Engine, Option<tempfile::TempDir>, Option<engram_testkit::postgres::TestDatabase>)> {
    match meta {
        Meta::Memory => Some((Engine::in_memory(), None, None)),
        Meta::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let engine = Engine::open(engram::EngineConfig::dir(dir.path())).expect("sqlite engine");
            Some((engine, Some(dir), None))
        }
        Meta::Postgres => {
            if !engram_testkit::postgres::postgres_available() {
                return None;
            }
            let db = engram_testkit::postgres::TestDatabase::create();
            let backend = engram_postgres::PostgresBackend::open(engram_postgres::PostgresOptions::new(db.url()))
                .expect("postgres backend");
            let engine =
                Engine::with_backend(Arc::new(backend), Arc::new(engram::SystemClock), engram::EngineConfig::memory())
                    .expect("postgres engine");
            Some((engine, None, Some(db)))
        }
    }
}

async fn setup_on(kind: Kind, meta: Meta, faulty: bool) -> Option<Setup> {
    let root = uuid::Uuid::now_v7().to_string();
    let (store, dir) = match kind {
        Kind::Memory => (open_store_with("memory://", &Secrets::default()).expect("memory store"), None),
        Kind::Fs => {
            let dir = tempfile::tempdir().expect("tempdir");
            (engram_objects::open_dir(dir.path()).expect("fs store"), Some(dir))
        }
        Kind::S3 => {
            let url = std::env::var("ENGRAM_TEST_S3_URL").unwrap_or_else(|_| S3_DEFAULT.to_owned());
            let url = with_root(&url, &root);
            let secrets = Secrets {
                aws_access_key_id: Some("engram-test".into()),
                aws_secret_access_key: Some("engram-test-secret".into()),
                ..Secrets::default()
            };
            (remote(&url, &secrets, "scripts/ensure-s3").await?, None)
        }
        Kind::Azure => {
            let url = std::env::var("ENGRAM_TEST_AZURE_URL").unwrap_or_else(|_| AZURE_DEFAULT.to_owned());
            (remote(&with_root(&url, &root), &Secrets::default(), "scripts/ensure-azurite").await?, None)
        }
    };
    let (store, faults) = if faulty { wrap_faulty(store) } else { (store, None) };
    let (engine, engine_dir, database) = eng(|| metadata_engine(meta))?;
    let space = eng(|| {
        engine.create_space("t").expect("space");
        engine.space("t").expect("space")
    });
    let objects = Objects::new(store, Duration::ZERO);
    Some(Setup { engine, space, objects, faults, _dir: dir, _engine_dir: engine_dir, _database: database })
}

/// Puts a per-case root prefix into a store URL (`s3://bucket/root?…`).
fn with_root(url: &str, root: &str) -> String {
    match url.split_once('?') {
        Some((base, query)) => format!("{}/{root}?{query}", base.trim_end_matches('/')),
        None => format!("{}/{root}", url.trim_end_matches('/')),
    }
}

async fn remote(url: &str, secrets: &Secrets, script: &str) -> Option<Store> {
    let store = open_store_with(url, secrets).expect("store URL");
    match store.check().await {
        Ok(()) => Some(store),
        Err(e) if std::env::var_os("CI").is_some() => panic!("{} is not reachable in CI ({e}); run {script}", url),
        Err(e) => {
            eprintln!("SKIPPED: {} is not reachable ({e}); run {script} to test it", url);
            None
        }
    }
}

fn wrap_faulty(store: Store) -> (Store, Option<Arc<FaultyStore>>) {
    let faulty = Arc::new(FaultyStore::new(store.inner()));
    let wrapped: Arc<dyn ObjectStore> = faulty.clone();
    (store.with_inner(wrapped), Some(faulty))
}

fn body(data: &[u8]) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    // Pieces of uneven size, as a network delivers them.
    let pieces: Vec<Result<Bytes, std::io::Error>> =
        data.chunks(300_007).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    stream::iter(pieces)
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

async fn read_all(s: &Setup, key: &str, range: Option<std::ops::Range<u64>>) -> engram_core::Result<Vec<u8>> {
    let d = s.objects.get(&s.space, key, range).await?;
    let parts: Vec<Bytes> = d.body.try_collect().await?;
    Ok(parts.concat())
}

async fn collect(s: &Setup) -> engram_objects::Collected {
    Collector::default().run_once(&s.engine, &s.objects).await.expect("collector pass")
}

async fn blob_stored(s: &Setup, digest: &str) -> bool {
    s.objects.store().exists(&s.objects.store().blob_path(s.space.id(), digest)).await.expect("head")
}

/// Runs an engine call from a test's async body: engines block (the
/// PostgreSQL client runs its own runtime), so off the runtime's workers.
fn eng<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Closes a case's engine and drops its database off the runtime.
fn finish(s: Setup) {
    eng(move || drop(s));
}

// ----- cases -------------------------------------------------------------

async fn put_get_head(s: &Setup) {
    let bytes = data(10_000, 1);
    let mut opts = PutOptions { content_type: Some("text/plain".into()), ..PutOptions::default() };
    opts.metadata.insert("owner".into(), "agent-7".into());
    let w = s.objects.put(&s.space, "notes/a.txt", body(&bytes), opts).await.expect("put");
    assert_eq!((w.version, w.size), (1, 10_000));
    assert_eq!(w.digest, blake3::hash(&bytes).to_hex().to_string());
    let info = s.objects.head(&s.space, "notes/a.txt").await.expect("head").expect("exists");
    assert_eq!(info.content_type, "text/plain");
    assert_eq!(info.metadata.get("owner").map(String::as_str), Some("agent-7"));
    assert_eq!(info.etag, format!("\"{}\"", w.digest));
    assert_eq!(read_all(s, "notes/a.txt", None).await.expect("get"), bytes);
    assert_eq!(read_all(s, "notes/a.txt", Some(100..200)).await.expect("range"), &bytes[100..200]);
    let empty = s.objects.put(&s.space, "empty", body(b""), PutOptions::default()).await.expect("empty put");
    assert_eq!(empty.size, 0);
    assert!(read_all(s, "empty", None).await.expect("empty get").is_empty());
    let e = s.objects.get(&s.space, "nope", None).await.expect_err("absent");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    // The change log holds the puts.
    let changes = eng(|| s.space.changes(0, 1000)).expect("changes");
    assert!(changes.iter().any(|c| c.collection == "_objects" && c.doc_id == "notes/a.txt"));
}

async fn large_multipart_and_ranges(s: &Setup) {
    let n = engram_objects::SMALL_OBJECT_BYTES + 2 * OBJECT_CHUNK_BYTES as usize + 12_345;
    let bytes = data(n, 7);
    let w = s.objects.put(&s.space, "big.bin", body(&bytes), PutOptions::default()).await.expect("put");
    assert_eq!(w.size, n as u64);
    assert_eq!(read_all(s, "big.bin", None).await.expect("get"), bytes);
    let c = OBJECT_CHUNK_BYTES;
    for r in [0..1, c - 10..c + 10, 2 * c + 5..3 * c + 7, (n as u64) - 3..n as u64] {
        let got = read_all(s, "big.bin", Some(r.clone())).await.expect("range");
        assert_eq!(got, &bytes[r.start as usize..r.end as usize], "range {r:?}");
    }
    let blob = eng(|| s.space.blob(&w.digest)).expect("blob").expect("record");
    assert_eq!(blob.chunks.len() as u64, engram::chunk_count(n as u64));
    // No temporary copy is left behind.
    let tmp = s.objects.store().list_older(&s.objects.store().tmp_prefix(s.space.id()), None, 10).await;
    assert_eq!(tmp.expect("list").len(), 0);
}

async fn dedup_refcounts_and_collection(s: &Setup) {
    let bytes = data(5_000, 3);
    let a = s.objects.put(&s.space, "a", body(&bytes), PutOptions::default()).await.expect("a");
    let b = s.objects.put(&s.space, "b", body(&bytes), PutOptions::default()).await.expect("b");
    assert_eq!(a.digest, b.digest);
    assert_eq!(eng(|| s.space.blob(&a.digest)).expect("blob").expect("record").refs, 2);
    s.objects.copy(&s.space, "a", "c", Expect::Absent).await.expect("copy");
    assert_eq!(eng(|| s.space.blob(&a.digest)).expect("blob").expect("record").refs, 3);
    for key in ["a", "b"] {
        s.objects.delete(&s.space, key, Expect::Any, None).await.expect("delete");
    }
    assert_eq!(collect(s).await.blobs_deleted, 0, "c still refers to it");
    assert!(blob_stored(s, &a.digest).await);
    // Overwriting c drops the last reference to the first content.
    let other = s.objects.put(&s.space, "c", body(b"other"), PutOptions::default()).await.expect("overwrite");
    assert_eq!(other.version, 2);
    let done = collect(s).await;
    assert_eq!(done.blobs_deleted, 1);
    assert!(!blob_stored(s, &a.digest).await);
    assert!(eng(|| s.space.blob(&a.digest)).expect("blob").is_none());
    assert_eq!(read_all(s, "c", None).await.expect("c"), b"other");
}

async fn conditions(s: &Setup) {
    let first = PutOptions { expect: Expect::Absent, ..PutOptions::default() };
    s.objects.put(&s.space, "k", body(b"one"), first.clone()).await.expect("create");
    let e = s.objects.put(&s.space, "k", body(b"two"), first).await.expect_err("exists");
    assert_eq!(e.kind(), ErrorKind::Conflict);
    let stale = PutOptions { if_digest: Some(blake3::hash(b"zzz").to_hex().to_string()), ..PutOptions::default() };
    let e = s.objects.put(&s.space, "k", body(b"two"), stale).await.expect_err("digest");
    assert_eq!(e.kind(), ErrorKind::PreconditionFailed);
    let v = PutOptions { expect: Expect::Version(1), ..PutOptions::default() };
    assert_eq!(s.objects.put(&s.space, "k", body(b"two"), v.clone()).await.expect("v1").version, 2);
    assert_eq!(s.objects.put(&s.space, "k", body(b"3"), v).await.expect_err("v1 again").kind(), ErrorKind::Conflict);
    assert_eq!(read_all(s, "k", None).await.expect("get"), b"two");
    // Failed conditional puts leave only unreferenced blobs, collected.
    collect(s).await;
    assert!(!blob_stored(s, blake3::hash(b"3").to_hex().as_ref()).await);
}

async fn listing(s: &Setup) {
    for key in ["a/1", "a/2", "a/b/3", "b/1", "b", "c"] {
        s.objects.put(&s.space, key, body(key.as_bytes()), PutOptions::default()).await.expect("put");
    }
    let list = |prefix: &str, delimiter: Option<&str>, after: Option<String>, limit| ListObjects {
        prefix: prefix.into(),
        delimiter: delimiter.map(str::to_owned),
        after,
        limit,
    };
    let all = s.objects.list(&s.space, list("", None, None, 100)).await.expect("list");
    let keys: Vec<_> = all.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["a/1", "a/2", "a/b/3", "b", "b/1", "c"]);
    let top = s.objects.list(&s.space, list("", Some("/"), None, 100)).await.expect("list");
    assert_eq!(top.prefixes, ["a/", "b/"]);
    assert_eq!(top.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), ["b", "c"]);
    let under_a = s.objects.list(&s.space, list("a/", Some("/"), None, 100)).await.expect("list");
    assert_eq!(under_a.prefixes, ["a/b/"]);
    assert_eq!(under_a.objects.len(), 2);
    // Pages of one: every entry once, in order.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s.objects.list(&s.space, list("", Some("/"), after, 1)).await.expect("page");
        seen.extend(page.prefixes.clone());
        seen.extend(page.objects.iter().map(|o| o.key.clone()));
        match page.next_after {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    assert_eq!(seen, ["a/", "b", "b/", "c"]);
    // A cursor before the prefix starts at the prefix.
    let early = s.objects.list(&s.space, list("b", None, Some("a".into()), 100)).await.expect("list");
    assert_eq!(early.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), ["b", "b/1"]);
    let exact = s.objects.list(&s.space, list("b", None, None, 100)).await.expect("list");
    assert_eq!(exact.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), ["b", "b/1"]);
}

async fn expiry(s: &Setup) {
    let opts = PutOptions { ttl_seconds: Some(1), ..PutOptions::default() };
    let w = s.objects.put(&s.space, "tmp", body(b"soon gone"), opts).await.expect("put");
    assert!(s.objects.head(&s.space, "tmp").await.expect("head").is_some());
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert!(s.objects.head(&s.space, "tmp").await.expect("head").is_none());
    let done = collect(s).await;
    assert_eq!((done.expired_objects, done.blobs_deleted), (1, 1));
    assert!(!blob_stored(s, &w.digest).await);
}

async fn corruption_is_never_served(s: &Setup) {
    let bytes = data(2 * OBJECT_CHUNK_BYTES as usize + 10, 9);
    let w = s.objects.put(&s.space, "x", body(&bytes), PutOptions::default()).await.expect("put");
    let path = s.objects.store().blob_path(s.space.id(), &w.digest);
    let mut bad = bytes.clone();
    bad[OBJECT_CHUNK_BYTES as usize + 5] ^= 1; // one bit in the second chunk
    s.objects.store().put(&path, Bytes::from(bad)).await.expect("corrupt");
    // The first chunk is intact and served; the second is an error.
    let first = read_all(s, "x", Some(0..100)).await.expect("first chunk");
    assert_eq!(first, &bytes[..100]);
    let e = read_all(s, "x", None).await.expect_err("corrupted");
    assert_eq!(e.kind(), ErrorKind::Corrupted);
    let e = read_all(s, "x", Some(OBJECT_CHUNK_BYTES..OBJECT_CHUNK_BYTES + 1)).await.expect_err("range");
    assert_eq!(e.kind(), ErrorKind::Corrupted);
    s.objects.store().delete(&path).await.expect("lose the bytes");
    let e = s.objects.get(&s.space, "x", None).await.expect_err("lost");
    assert_eq!(e.kind(), ErrorKind::Corrupted);
}

async fn transaction_with_documents(s: &Setup) {
    let blob = s.objects.stage(&s.space, body(b"report bytes")).await.expect("stage");
    let ops = vec![
        Op::Put {
            collection: "reports".into(),
            id: "r1".into(),
            body: json!({"object": "reports/r1.pdf"}),
            expect: Expect::Absent,
            ttl_seconds: None,
        },
        Op::PutObject { key: "reports/r1.pdf".into(), object: engram::ObjectPut::new(blob.clone()) },
    ];
    eng(|| s.space.commit(ops.clone(), None)).expect("commit");
    assert_eq!(read_all(s, "reports/r1.pdf", None).await.expect("get"), b"report bytes");
    // The same again fails on the document: nothing of it is written.
    let blob2 = s.objects.stage(&s.space, body(b"second report")).await.expect("stage");
    let ops2 = vec![
        ops[0].clone(),
        Op::PutObject { key: "reports/r2.pdf".into(), object: engram::ObjectPut::new(blob2.clone()) },
    ];
    assert_eq!(eng(|| s.space.commit(ops2, None)).expect_err("conflict").kind(), ErrorKind::Conflict);
    assert!(s.objects.head(&s.space, "reports/r2.pdf").await.expect("head").is_none());
    // The rolled-back upload's bytes are collected; the committed ones stay.
    assert_eq!(collect(s).await.blobs_deleted, 1);
    assert!(!blob_stored(s, &blob2.digest).await);
    assert!(blob_stored(s, &blob.digest).await);
    // A reference to bytes never staged is refused.
    let ghost = engram::BlobInput { digest: blake3::hash(b"ghost").to_hex().to_string(), size: 5, chunks: vec![] };
    let op = Op::PutObject { key: "g".into(), object: engram::ObjectPut::new(ghost) };
    assert_eq!(eng(|| s.space.commit(vec![op], None)).expect_err("ghost").kind(), ErrorKind::Conflict);
}

async fn crash_leftovers_are_collected(s: &Setup) {
    // A crash after staging and storing, before the reference.
    let bytes = b"orphaned by a crash";
    let mut h = engram_objects::hashing::ChunkHasher::default();
    h.update(bytes);
    let blob = h.finish();
    eng(|| s.space.stage_blob(blob.clone())).expect("stage");
    let path = s.objects.store().blob_path(s.space.id(), &blob.digest);
    s.objects.store().put(&path, Bytes::from_static(bytes)).await.expect("bytes");
    // A crash mid-upload of a large object: a temporary copy.
    let tmp = s.objects.store().tmp_path(s.space.id(), "crashed-upload");
    s.objects.store().put(&tmp, Bytes::from_static(b"partial")).await.expect("tmp");
    let done = collect(s).await;
    assert_eq!((done.blobs_deleted, done.temporaries_deleted), (1, 1));
    assert!(!s.objects.store().exists(&path).await.expect("head"));
    assert!(!s.objects.store().exists(&tmp).await.expect("head"));
}

async fn deleted_space_bytes_are_removed(s: &Setup) {
    s.objects.put(&s.space, "k", body(b"tenant data"), PutOptions::default()).await.expect("put");
    let id = s.space.id();
    eng(|| s.engine.delete_space("t")).expect("delete space");
    let done = collect(s).await;
    assert!(done.deleted_space_files >= 1);
    let left = s.objects.store().list_older(&s.objects.store().space_prefix(id), None, 10).await.expect("list");
    assert!(left.is_empty(), "{left:?}");
}

async fn store_faults(s: &Setup) {
    let faults = s.faults.clone().expect("faulty store");
    // The store fails the write: nothing is referenced; the staged record
    // is collected.
    faults.inject(StoreOp::Put, Fault::Fail, 1);
    let e = s.objects.put(&s.space, "f", body(b"fails once"), PutOptions::default()).await.expect_err("put fault");
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(!e.message().contains("engram-test-secret"));
    assert!(s.objects.head(&s.space, "f").await.expect("head").is_none());
    s.objects.put(&s.space, "f", body(b"fails once"), PutOptions::default()).await.expect("retry");
    // A large upload whose move fails leaves no temporary copy and no key.
    let big = data(engram_objects::SMALL_OBJECT_BYTES + 100, 5);
    faults.inject(StoreOp::Rename, Fault::Fail, 1);
    faults.inject(StoreOp::Copy, Fault::Fail, 1);
    s.objects.put(&s.space, "big", body(&big), PutOptions::default()).await.expect_err("move fault");
    assert!(s.objects.head(&s.space, "big").await.expect("head").is_none());
    faults.heal();
    // A read that fails is an error, never wrong bytes.
    faults.inject(StoreOp::Get, Fault::Fail, 1);
    assert_eq!(read_all(s, "f", None).await.expect_err("get fault").kind(), ErrorKind::Unavailable);
    assert_eq!(read_all(s, "f", None).await.expect("get"), b"fails once");
    // The collector's delete fails: the pass errs, the next finishes.
    s.objects.delete(&s.space, "f", Expect::Any, None).await.expect("delete");
    faults.inject(StoreOp::Delete, Fault::Fail, 1);
    assert!(Collector::default().run_once(&s.engine, &s.objects).await.is_err());
    assert!(eng(|| s.space.blob(blake3::hash(b"fails once").to_hex().as_ref())).expect("blob").is_some());
    let done = collect(s).await;
    assert!(done.blobs_deleted >= 1);
    assert!(eng(|| s.space.blob(blake3::hash(b"fails once").to_hex().as_ref())).expect("blob").is_none());
    // A stalled store call fails instead of hanging forever.
    faults.inject(StoreOp::Put, Fault::Stall(Duration::from_millis(200)), 1);
    let started = std::time::Instant::now();
    s.objects.put(&s.space, "s", body(b"stalled"), PutOptions::default()).await.expect_err("stall");
    assert!(started.elapsed() < Duration::from_secs(5));
}

async fn signed_urls(s: &Setup, signs: bool) {
    s.objects.put(&s.space, "shared.txt", body(b"signed bytes"), PutOptions::default()).await.expect("put");
    let url = s.objects.signed_url(&s.space, "shared.txt", Duration::from_secs(60)).await;
    if !signs {
        assert_eq!(url.expect_err("cannot sign").kind(), ErrorKind::InvalidInput);
        return;
    }
    let url = url.expect("signed");
    let got = reqwest::get(&url).await.expect("fetch").bytes().await.expect("bytes");
    assert_eq!(&got[..], b"signed bytes");
}

async fn concurrent_puts_of_one_key(s: &Setup) {
    let tasks: Vec<_> = (0..8u8)
        .map(|i| {
            let (objects, space) = (s.objects.clone(), s.space.clone());
            tokio::spawn(async move {
                objects.put(&space, "hot", body(&data(2_000, i)), PutOptions::default()).await.expect("put")
            })
        })
        .collect();
    let mut digests = Vec::new();
    for t in tasks {
        digests.push(t.await.expect("task").digest);
    }
    let winner = s.objects.head(&s.space, "hot").await.expect("head").expect("exists");
    assert_eq!(winner.version, 8);
    assert!(digests.contains(&winner.digest));
    collect(s).await;
    for d in &digests {
        let referenced = *d == winner.digest;
        assert_eq!(blob_stored(s, d).await, referenced, "blob {d}");
    }
}

macro_rules! store_suite {
    ($name:ident, $kind:expr, $signs:expr) => {
        store_suite!($name, $kind, Meta::Memory, $signs);
    };
    ($name:ident, $kind:expr, $meta:expr, $signs:expr) => {
        mod $name {
            use super::*;

            macro_rules! case {
                ($case:ident, $faulty:expr) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        if let Some(s) = setup_on($kind, $meta, $faulty).await {
                            super::$case(&s).await;
                            finish(s);
                        }
                    }
                };
            }

            case!(put_get_head, false);
            case!(large_multipart_and_ranges, false);
            case!(dedup_refcounts_and_collection, false);
            case!(conditions, false);
            case!(listing, false);
            case!(expiry, false);
            case!(corruption_is_never_served, false);
            case!(transaction_with_documents, false);
            case!(crash_leftovers_are_collected, false);
            case!(deleted_space_bytes_are_removed, false);
            case!(store_faults, true);
            case!(concurrent_puts_of_one_key, false);

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn signed_urls() {
                if let Some(s) = setup_on($kind, $meta, false).await {
                    super::signed_urls(&s, $signs).await;
                    finish(s);
                }
            }
        }
    };
}

store_suite!(memory, Kind::Memory, false);
store_suite!(fs, Kind::Fs, false);
store_suite!(s3, Kind::S3, true);
store_suite!(azure, Kind::Azure, true);
store_suite!(sqlite_metadata, Kind::Fs, Meta::Sqlite, false);
store_suite!(postgres_metadata, Kind::Memory, Meta::Postgres, false);

/// What a killed process leaves of a write on the filesystem store
/// (object_store's hidden `{path}#{n}` staging files) is removed by the
/// first collector pass of the next process; a live process's own staging
/// files are left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_staging_files_of_a_killed_process_are_swept() {
    let s = setup(Kind::Fs, false).await.expect("fs store");
    let s = &s;
    s.objects.put(&s.space, "k", body(b"kept"), PutOptions::default()).await.expect("put");
    let dir = s._dir.as_ref().expect("directory").path().to_owned();
    let space = dir.join(format!("s{}", s.space.id()));
    std::fs::create_dir_all(space.join("tmp")).expect("tmp dir");
    let left = [space.join("blobs").join(format!("{}#1", "a".repeat(64))), space.join("tmp").join("upload#12")];
    for f in &left {
        std::fs::write(f, b"partial").expect("staging file");
    }
    std::thread::sleep(Duration::from_millis(20));
    let collector = Collector::default(); // a process started after the kill
    let live = space.join("blobs").join(format!("{}#2", "b".repeat(64)));
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&live, b"in flight").expect("a live write's staging file");
    let done = collector.run_once(&s.engine, &s.objects).await.expect("pass");
    assert_eq!(done.temporaries_deleted, 2);
    assert!(left.iter().all(|f| !f.exists()));
    assert!(live.exists(), "a staging file younger than the process is not touched");
    assert_eq!(read_all(s, "k", None).await.expect("get"), b"kept");
    // Once per process: a second pass leaves what is there.
    std::fs::write(&left[0], b"partial").expect("again");
    assert_eq!(collector.run_once(&s.engine, &s.objects).await.expect("pass").temporaries_deleted, 0);
}
