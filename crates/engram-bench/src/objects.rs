//! `engram-bench objects`: object puts and gets through Engram (the upload
//! saga, content addressing, verified chunked reads, metadata in a durable
//! SQLite engine) against what a user would do without it, in one process,
//! interleaved rounds:
//! - on the local filesystem: writing each file durably (temporary file,
//!   fsync, rename, fsync of the directory: what Engram's filesystem store
//!   does) and reading it back with `std::fs::read`;
//! - on the S3 test server: the `object_store` crate's put and get on the
//!   same bucket.
//!
//! Then the peak resident memory of a 2 GiB streamed upload and download
//! (generated and discarded on the fly), above the process's idle level.

use crate::measure::{Run, measure};
use crate::report::{Comparison, print_summary};
use bytes::Bytes;
use clap::Parser;
use engram::{Engine, EngineConfig, Space};
use engram_objects::{Objects, PutOptions, Secrets, Store};
use futures_util::{StreamExt, TryStreamExt, stream};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
/// Goals of the issue: against the filesystem, and against object_store
/// on S3.
const GOAL_FS: f64 = 0.8;
const GOAL_S3: f64 = 0.9;
/// Peak memory above idle for a 2 GiB streamed transfer.
const MEMORY_GOAL_MIB: f64 = 64.0;

#[derive(Debug, Parser)]
#[command(name = "engram-bench objects")]
pub struct ObjectArgs {
    /// Scratch parent directory (data directories and files).
    #[arg(long, default_value = "target/bench-objects")]
    pub dir: PathBuf,
    /// The S3-compatible test server (`scripts/ensure-s3`); `none` skips it.
    #[arg(
        long,
        env = "ENGRAM_BENCH_S3",
        default_value = "s3://engram-test?endpoint=http://127.0.0.1:9000&allow_http=true&region=us-east-1"
    )]
    pub s3: String,
    #[arg(long, env = "ENGRAM_BENCH_S3_ACCESS_KEY", default_value = "engram-test")]
    pub s3_access_key: String,
    #[arg(long, env = "ENGRAM_BENCH_S3_SECRET_KEY", default_value = "engram-test-secret")]
    pub s3_secret_key: String,
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// 4 KiB objects per measurement.
    #[arg(long, default_value_t = 500)]
    pub small: usize,
    /// 64 MiB objects per measurement.
    #[arg(long, default_value_t = 4)]
    pub large: usize,
    /// Uploaders of the concurrent 4 KiB put row (0 skips it).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// GiB streamed for the memory measurement (0 skips it).
    #[arg(long, default_value_t = 2)]
    pub stream_gib: u64,
}

pub fn main(argv: Vec<String>) {
    let args = ObjectArgs::parse_from(argv);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    std::fs::create_dir_all(&args.dir).expect("scratch directory");
    println!("command: {}", std::env::args().collect::<Vec<_>>().join(" "));
    let mut comparisons = Vec::new();
    for (label, size, count) in [("4 KiB", 4 * KIB, args.small), ("64 MiB", 64 * MIB, args.large)] {
        let mut put = Comparison::new(&format!("put {label} (fs)"), "Engram", "durable files", Some(GOAL_FS));
        let mut get = Comparison::new(&format!("get {label} (fs)"), "Engram", "std::fs::read", Some(GOAL_FS));
        for round in 0..args.rounds {
            let scratch = tempfile::tempdir_in(&args.dir).expect("scratch");
            let data = contents(count, size, round as u8);
            let engram_first = round % 2 == 0;
            let ((ep, eg), (fp, fg)) = if engram_first {
                let e = rt.block_on(engram_fs(scratch.path(), &data));
                (e, files(scratch.path(), &data))
            } else {
                let f = files(scratch.path(), &data);
                (rt.block_on(engram_fs(scratch.path(), &data)), f)
            };
            put.record(ep, fp);
            get.record(eg, fg);
        }
        comparisons.push(put);
        comparisons.push(get);
    }
    if args.concurrency > 0 {
        comparisons.push(concurrent_rounds(&rt, &args));
    }
    if args.s3 != "none" {
        comparisons.extend(rt.block_on(s3_rounds(&args)));
    }
    print_summary(&comparisons);
    println!("Engram's object rate counts objects (puts or gets) per second; 64 MiB rates × 64 = MiB/s.");
    if args.stream_gib > 0 {
        rt.block_on(memory(&args));
    }
}

/// `count` distinct contents of `size` bytes.
fn contents(count: usize, size: usize, seed: u8) -> Vec<Bytes> {
    (0..count)
        .map(|i| {
            let mut v = vec![seed; size];
            v[..8].copy_from_slice(&(i as u64).to_le_bytes());
            for (j, b) in v.iter_mut().enumerate().skip(8).step_by(4093) {
                *b = (j as u8) ^ (i as u8);
            }
            Bytes::from(v)
        })
        .collect()
}

fn engine(dir: &Path) -> (Engine, Space) {
    let engine = Engine::open(EngineConfig::dir(dir.join("data"))).expect("engine");
    engine.create_space("bench").expect("space");
    let space = engine.space("bench").expect("space");
    (engine, space)
}

fn one_piece(b: &Bytes) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin + use<> {
    // A network delivers a body in pieces; 64 KiB is a typical frame run.
    let pieces: Vec<Result<Bytes, std::io::Error>> = (0..b.len().div_ceil(64 * KIB).max(1))
        .map(|i| Ok(b.slice(i * 64 * KIB..((i + 1) * 64 * KIB).min(b.len()))))
        .collect();
    stream::iter(pieces)
}

async fn engram_side(objects: &Objects, space: &Space, data: &[Bytes]) -> (Run, Run) {
    let t = std::time::Instant::now();
    let cpu0 = crate::measure::process_cpu();
    for (i, d) in data.iter().enumerate() {
        objects.put(space, &format!("k/{i}"), one_piece(d), PutOptions::default()).await.expect("put");
    }
    let put = Run { ops: data.len() as u64, wall: t.elapsed(), cpu: crate::measure::process_cpu() - cpu0 };
    let t = std::time::Instant::now();
    let cpu0 = crate::measure::process_cpu();
    for (i, d) in data.iter().enumerate() {
        let got = objects.get(space, &format!("k/{i}"), None).await.expect("get");
        let parts: Vec<Bytes> = got.body.try_collect().await.expect("read");
        assert_eq!(parts.iter().map(Bytes::len).sum::<usize>(), d.len());
    }
    let get = Run { ops: data.len() as u64, wall: t.elapsed(), cpu: crate::measure::process_cpu() - cpu0 };
    (put, get)
}

async fn engram_fs(dir: &Path, data: &[Bytes]) -> (Run, Run) {
    let (engine, space) = engine(dir);
    let store = engram_objects::open_dir(&dir.join("objects")).expect("store");
    let out = engram_side(&Objects::new(store, engram_objects::GRACE_DEFAULT), &space, data).await;
    engine.close();
    out
}

/// 4 KiB puts by `concurrency` uploaders at once: Engram's commits share
/// the engine's group commit; the peer's threads write files in parallel.
fn concurrent_rounds(rt: &tokio::runtime::Runtime, args: &ObjectArgs) -> Comparison {
    let n = args.concurrency;
    let mut put = Comparison::new(&format!("put 4 KiB ×{n} (fs)"), "Engram", "durable files", Some(GOAL_FS));
    for round in 0..args.rounds {
        let scratch = tempfile::tempdir_in(&args.dir).expect("scratch");
        let data = Arc::new(contents(args.small, 4 * KIB, 50 + round as u8));
        let engram = || rt.block_on(engram_concurrent(scratch.path(), &data, n));
        let files = || files_concurrent(scratch.path(), &data, n);
        let (e, f) = if round % 2 == 0 {
            let e = engram();
            (e, files())
        } else {
            let f = files();
            (engram(), f)
        };
        put.record(e, f);
    }
    put
}

async fn engram_concurrent(dir: &Path, data: &Arc<Vec<Bytes>>, n: usize) -> Run {
    let (engine, space) = engine(dir);
    let store = engram_objects::open_dir(&dir.join("objects")).expect("store");
    let objects = Objects::new(store, engram_objects::GRACE_DEFAULT);
    let t = std::time::Instant::now();
    let cpu0 = crate::measure::process_cpu();
    let tasks: Vec<_> = (0..n)
        .map(|w| {
            let (objects, space, data) = (objects.clone(), space.clone(), data.clone());
            tokio::spawn(async move {
                for i in (w..data.len()).step_by(n) {
                    objects
                        .put(&space, &format!("k/{i}"), one_piece(&data[i]), PutOptions::default())
                        .await
                        .expect("put");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("uploader");
    }
    let run = Run { ops: data.len() as u64, wall: t.elapsed(), cpu: crate::measure::process_cpu() - cpu0 };
    engine.close();
    run
}

fn files_concurrent(dir: &Path, data: &Arc<Vec<Bytes>>, n: usize) -> Run {
    let root = dir.join("files-concurrent");
    std::fs::create_dir_all(&root).expect("files dir");
    let (run, ()) = measure(data.len(), || {
        std::thread::scope(|s| {
            for w in 0..n {
                let (root, data) = (&root, data.clone());
                s.spawn(move || {
                    for i in (w..data.len()).step_by(n) {
                        let tmp = root.join(format!(".{i}.tmp"));
                        let mut f = std::fs::File::create(&tmp).expect("create");
                        f.write_all(&data[i]).expect("write");
                        f.sync_all().expect("fsync");
                        std::fs::rename(&tmp, root.join(i.to_string())).expect("rename");
                        std::fs::File::open(root).and_then(|d| d.sync_all()).expect("directory fsync");
                    }
                });
            }
        });
    });
    run
}

/// Durable file writes (temporary, fsync, rename, directory fsync) and
/// plain reads: what a careful program does without Engram.
fn files(dir: &Path, data: &[Bytes]) -> (Run, Run) {
    let root = dir.join("files");
    std::fs::create_dir_all(&root).expect("files dir");
    let (put, ()) = measure(data.len(), || {
        for (i, d) in data.iter().enumerate() {
            let tmp = root.join(format!(".{i}.tmp"));
            let mut f = std::fs::File::create(&tmp).expect("create");
            f.write_all(d).expect("write");
            f.sync_all().expect("fsync");
            std::fs::rename(&tmp, root.join(i.to_string())).expect("rename");
            std::fs::File::open(&root).and_then(|d| d.sync_all()).expect("directory fsync");
        }
    });
    let (get, ()) = measure(data.len(), || {
        for (i, d) in data.iter().enumerate() {
            let got = std::fs::read(root.join(i.to_string())).expect("read");
            assert_eq!(got.len(), d.len());
        }
    });
    (put, get)
}

async fn s3_rounds(args: &ObjectArgs) -> Vec<Comparison> {
    let secrets = Secrets {
        aws_access_key_id: Some(args.s3_access_key.clone()),
        aws_secret_access_key: Some(args.s3_secret_key.clone()),
        ..Secrets::default()
    };
    let open = |root: &str| -> Store {
        let (base, query) = args.s3.split_once('?').unwrap_or((&args.s3, ""));
        engram_objects::open_store_with(&format!("{base}/{root}?{query}"), &secrets).expect("S3 store")
    };
    if let Err(e) = open("probe").check().await {
        println!("S3 test server not reachable ({e}); run scripts/ensure-s3 (skipping the S3 rows)");
        return Vec::new();
    }
    let mut out = Vec::new();
    for (label, size, count) in [("4 KiB", 4 * KIB, args.small), ("64 MiB", 64 * MIB, args.large)] {
        let mut put = Comparison::new(&format!("put {label} (S3)"), "Engram", "object_store", Some(GOAL_S3));
        let mut get = Comparison::new(&format!("get {label} (S3)"), "Engram", "object_store", Some(GOAL_S3));
        for round in 0..args.rounds {
            let data = contents(count, size, 100 + round as u8);
            let run = uuid::Uuid::now_v7().to_string();
            let scratch = tempfile::tempdir_in(&args.dir).expect("scratch");
            let e_store = open(&format!("{run}/engram"));
            let d_store = open(&format!("{run}/direct")).inner();
            let (e, d) = if round % 2 == 0 {
                let e = engram_s3(scratch.path(), e_store, &data).await;
                (e, direct(&d_store, &data).await)
            } else {
                let d = direct(&d_store, &data).await;
                (engram_s3(scratch.path(), e_store, &data).await, d)
            };
            put.record(e.0, d.0);
            get.record(e.1, d.1);
        }
        out.push(put);
        out.push(get);
    }
    out
}

async fn engram_s3(dir: &Path, store: Store, data: &[Bytes]) -> (Run, Run) {
    let (engine, space) = engine(dir);
    let out = engram_side(&Objects::new(store, engram_objects::GRACE_DEFAULT), &space, data).await;
    engine.close();
    out
}

/// object_store used directly: one put (multipart above 8 MiB, like
/// Engram) and one get per object.
async fn direct(store: &Arc<dyn ObjectStore>, data: &[Bytes]) -> (Run, Run) {
    let path = |i: usize| object_store::path::Path::from(format!("k/{i}"));
    let t = std::time::Instant::now();
    let cpu0 = crate::measure::process_cpu();
    for (i, d) in data.iter().enumerate() {
        if d.len() > engram_objects::SMALL_OBJECT_BYTES {
            let up = store.put_multipart(&path(i)).await.expect("multipart");
            let mut w = object_store::WriteMultipart::new_with_chunk_size(up, engram_objects::store::PART_BYTES);
            for piece in d.chunks(64 * KIB) {
                w.wait_for_capacity(engram_objects::store::PARTS_IN_FLIGHT).await.expect("capacity");
                w.write(piece);
            }
            w.finish().await.expect("finish");
        } else {
            store.put(&path(i), PutPayload::from(d.clone())).await.expect("put");
        }
    }
    let put = Run { ops: data.len() as u64, wall: t.elapsed(), cpu: crate::measure::process_cpu() - cpu0 };
    let t = std::time::Instant::now();
    let cpu0 = crate::measure::process_cpu();
    for (i, d) in data.iter().enumerate() {
        let got = store.get(&path(i)).await.expect("get").bytes().await.expect("bytes");
        assert_eq!(got.len(), d.len());
    }
    let get = Run { ops: data.len() as u64, wall: t.elapsed(), cpu: crate::measure::process_cpu() - cpu0 };
    (put, get)
}

/// Peak resident memory of a streamed upload and download of
/// `stream_gib` GiB through Engram on the filesystem store, above idle.
async fn memory(args: &ObjectArgs) {
    let scratch = tempfile::tempdir_in(&args.dir).expect("scratch");
    let (engine, space) = engine(scratch.path());
    let objects = Objects::new(
        engram_objects::open_dir(&scratch.path().join("objects")).expect("store"),
        engram_objects::GRACE_DEFAULT,
    );
    let total = args.stream_gib * 1024 * MIB as u64;
    let piece = Bytes::from(vec![7u8; 64 * KIB]);
    let idle = reset_peak();
    let n = total / piece.len() as u64;
    let body = stream::iter((0..n).map(move |i| {
        let mut b = piece.to_vec();
        b[..8].copy_from_slice(&i.to_le_bytes());
        Ok::<Bytes, std::io::Error>(Bytes::from(b))
    }));
    let t = std::time::Instant::now();
    objects.put(&space, "big", body, PutOptions::default()).await.expect("2 GiB put");
    let up_secs = t.elapsed().as_secs_f64();
    let up_peak = peak_kib();
    let idle2 = reset_peak();
    let t = std::time::Instant::now();
    let mut read = 0u64;
    let mut body = objects.get(&space, "big", None).await.expect("get").body;
    while let Some(part) = body.next().await {
        read += part.expect("verified chunk").len() as u64;
    }
    assert_eq!(read, total);
    let down_secs = t.elapsed().as_secs_f64();
    let down_peak = peak_kib();
    engine.close();
    let mib = |kib: u64| kib as f64 / 1024.0;
    let gib = total as f64 / (1024.0 * MIB as f64);
    println!();
    println!("| {gib:.0} GiB streamed | idle RSS | peak RSS | above idle | goal | time |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (what, idle, peak, secs) in [("upload", idle, up_peak, up_secs), ("download", idle2, down_peak, down_secs)] {
        let above = mib(peak.saturating_sub(idle));
        let verdict = if above < MEMORY_GOAL_MIB { "PASS" } else { "FAIL" };
        println!(
            "| {what} | {:.0} MiB | {:.0} MiB | **{above:.1} MiB** | < {MEMORY_GOAL_MIB} MiB {verdict} | {secs:.1} s ({:.0} MiB/s) |",
            mib(idle),
            mib(peak),
            gib * 1024.0 / secs
        );
    }
}

/// Resets the kernel's peak-RSS mark to the current RSS; returns it (KiB).
fn reset_peak() -> u64 {
    std::thread::sleep(Duration::from_millis(50));
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    status_kib("VmRSS:")
}

fn peak_kib() -> u64 {
    status_kib("VmHWM:")
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
}
