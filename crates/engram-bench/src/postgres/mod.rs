//! `engram-bench postgres`: Engram on PostgreSQL against the same work
//! issued directly with the `postgres` client crate, and against the
//! hand-written platform pattern (document + outbox + audit row per write),
//! with Engram on SQLite beside them; all in one process, in interleaved
//! rounds (the order reverses every round), medians reported.
//!
//! The run creates a fresh database `engram_bench_<random>` and drops it at
//! the end. Every measurement gets a fresh schema of that database (Engram's
//! `PostgresOptions::schema`, the direct side's `search_path`), so no side
//! starts from another's tables.

mod data;
mod direct;
pub(crate) mod engine;

use crate::measure::{Run, median, parse_stat_cpu, process_cpu};
use crate::report::{Comparison, rate, thousands};
use clap::Parser;
use direct::{Conn, Pool};
use engine::Store;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

/// Where the benchmark finds PostgreSQL unless told otherwise.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Engram's first bar and goal against the same statements issued directly.
const DIRECT_GOAL: f64 = 0.8;
/// Goal against the hand-written platform pattern.
const PLATFORM_GOAL: f64 = 1.0;

#[derive(Debug, Parser)]
#[command(name = "engram-bench postgres")]
pub struct PgArgs {
    /// The maintenance database to create the run's database through.
    #[arg(long, env = "ENGRAM_BENCH_POSTGRES", default_value = DEFAULT_URL)]
    pub database: String,
    /// Documents bulk-inserted (then read back at random).
    #[arg(long, default_value_t = 20_000)]
    pub docs: usize,
    /// Documents per transaction of the bulk insert.
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// Random point gets after the bulk insert.
    #[arg(long, default_value_t = 20_000)]
    pub gets: usize,
    /// Concurrent writer threads of the durable-write workloads.
    #[arg(long, default_value_t = 64)]
    pub writers: usize,
    /// Connections the direct side's writers share (a pool).
    #[arg(long, default_value_t = 16)]
    pub pool: usize,
    /// Seconds each timed workload (writers, mixed) runs.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Engines ("servers") over the one database in the mixed workload.
    #[arg(long, default_value_t = 3)]
    pub servers: usize,
    /// Threads per server in the mixed workload (each direct thread has its
    /// own connection).
    #[arg(long, default_value_t = 8)]
    pub threads_per_server: usize,
    /// Documents loaded before the mixed workload (the keys it reads and overwrites).
    #[arg(long, default_value_t = 20_000)]
    pub mixed_keys: usize,
    /// Percent of the mixed workload's operations that are puts.
    #[arg(long, default_value_t = 20)]
    pub put_percent: u32,
    /// Writer connections of each Engram engine (`PostgresOptions::write_connections`).
    #[arg(long, default_value_t = engram_postgres::WRITE_CONNECTIONS_DEFAULT)]
    pub write_connections: usize,
    /// Interleaved rounds of every workload.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Workloads, comma-separated: bulk (insert + gets), writes (64 writers
    /// + platform pattern), mixed.
    #[arg(long, default_value = "bulk,writes,mixed")]
    pub only: String,
    /// Leave Engram on SQLite out.
    #[arg(long)]
    pub no_sqlite: bool,
    /// Parent directory of the SQLite data directories (a real disk).
    #[arg(long, default_value = crate::args::DEFAULT_BASE_DIR)]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 20_261_205)]
    pub seed: u64,
}

impl PgArgs {
    fn runs(&self, w: &str) -> bool {
        self.only.split(',').any(|x| x.trim() == w)
    }
}

/// A schema of the run's database: where one measurement's tables live.
pub struct Target {
    /// The run database's URL.
    pub url: String,
    pub schema: String,
    /// The run database's name (to find its server processes).
    pub(crate) dbname: String,
}

impl Target {
    /// A client whose `search_path` is this schema.
    pub fn client(&self) -> postgres::Client {
        let mut config: postgres::Config = self.url.parse().expect("a valid PostgreSQL URL");
        config.options(&format!("-c search_path={}", self.schema));
        config.connect(postgres::NoTls).expect("connect to PostgreSQL")
    }
}

/// The run's database, dropped at the end.
pub(crate) struct Database {
    admin_url: String,
    pub(crate) name: String,
    pub(crate) url: String,
}

impl Database {
    pub(crate) fn create(admin_url: &str) -> Self {
        let name = format!("engram_bench_{:016x}", rand::random::<u64>());
        let mut admin = connect(admin_url);
        admin.batch_execute(&format!("CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")).expect("create db");
        Self { admin_url: admin_url.to_owned(), url: with_dbname(admin_url, &name), name }
    }

    /// A fresh schema for one measurement.
    pub(crate) fn target(&self, schema: &str) -> Target {
        connect(&self.url).batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).expect("create schema");
        Target { url: self.url.clone(), schema: schema.to_owned(), dbname: self.name.clone() }
    }

    pub(crate) fn drop_schema(&self, schema: &str) {
        connect(&self.url).batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).expect("drop a schema");
    }

    /// Untimed: a checkpoint and a machine-wide `sync`, so no side's
    /// leftover writeback lands inside the next measurement.
    pub(crate) fn settle(&self) {
        connect(&self.url).batch_execute("CHECKPOINT").expect("checkpoint");
        crate::disk::settle();
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut admin) = try_connect(&self.admin_url) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

fn try_connect(url: &str) -> Result<postgres::Client, postgres::Error> {
    let mut config: postgres::Config = url.parse()?;
    config.connect_timeout(Duration::from_secs(10));
    config.connect(postgres::NoTls)
}

pub(crate) fn connect(url: &str) -> postgres::Client {
    try_connect(url).unwrap_or_else(|e| panic!("connect to PostgreSQL at {url}: {e}"))
}

/// `url` pointing at database `name` instead (a URL's path, or a `dbname`
/// appended to a key=value string).
fn with_dbname(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return format!("{url} dbname={name}");
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (head, tail) = url.split_at(scheme_end + 3 + authority_end);
    let query = tail.find('?').map_or("", |q| &tail[q..]);
    format!("{head}/{name}{query}")
}

/// User + system CPU of the server processes connected to database
/// `dbname` (their process titles name it), from `/proc`. Processes that
/// exit meanwhile take their time with them, so it is read while the
/// measured connections are open.
pub(crate) fn server_cpu(dbname: &str) -> Duration {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Duration::ZERO };
    let mut total = Duration::ZERO;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let title = String::from_utf8_lossy(&cmdline);
        if !(title.starts_with("postgres:") && title.contains(dbname)) {
            continue;
        }
        if let Some(cpu) = std::fs::read_to_string(entry.path().join("stat")).ok().and_then(|s| parse_stat_cpu(&s)) {
            total += cpu;
        }
    }
    total
}

/// Client + server CPU so far.
fn cpu_now(dbname: &str) -> Duration {
    process_cpu() + server_cpu(dbname)
}

/// Times `f`, which does `ops` operations; CPU counts this process and the
/// run database's server processes.
fn measured<T>(ops: usize, dbname: &str, f: impl FnOnce() -> T) -> (Run, T) {
    let cpu0 = cpu_now(dbname);
    let t0 = Instant::now();
    let out = f();
    let wall = t0.elapsed();
    let cpu = cpu_now(dbname).saturating_sub(cpu0);
    (Run { ops: ops as u64, wall, cpu }, out)
}

/// `threads` threads call `op(thread, n)` for n = 0, 1, ... for `seconds`,
/// all starting together; returns the operations finished over the wall
/// time until the last thread stopped.
fn timed(threads: usize, seconds: f64, dbname: &str, op: impl Fn(usize, u64) + Sync) -> Run {
    let start = Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (start, stop, op) = (&start, &stop, &op);
                s.spawn(move || {
                    start.wait();
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        op(t, n);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        start.wait();
        let cpu0 = cpu_now(dbname);
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stop.store(true, Ordering::Relaxed);
        let ops: u64 = handles.into_iter().map(|h| h.join().expect("a benchmark thread panicked")).sum();
        let wall = t0.elapsed();
        Run { ops, wall, cpu: cpu_now(dbname).saturating_sub(cpu0) }
    })
}

/// One measured side of a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Step {
    /// Bulk insert, then point gets.
    BulkEngramPg,
    BulkDirect,
    BulkDirectUnnest,
    BulkEngramSqlite,
    /// 64 writers.
    WritesEngramPg,
    WritesDirect,
    WritesPlatform,
    WritesEngramSqlite,
    /// Several servers, gets and puts.
    MixedEngramPg,
    MixedDirect,
}

/// What a step measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Metric {
    Insert,
    Get,
    Writes,
    Mixed,
}

/// The input every side shares.
struct Input {
    docs: Vec<(String, Value)>,
    gets: Vec<String>,
}

struct Bench<'a> {
    args: &'a PgArgs,
    db: &'a Database,
    input: Input,
    scratch: &'a Path,
    /// Checksums of the gets, per side: they must agree.
    checksums: Mutex<Vec<(Step, u64)>>,
}

/// Entry point for `engram-bench postgres ...`.
pub fn main(argv: Vec<String>) {
    let args = PgArgs::parse_from(argv);
    assert!(args.rounds > 0 && args.docs > 0 && args.batch > 0 && args.writers > 0, "counts must be positive");
    println!("command: {}", std::env::args().collect::<Vec<_>>().join(" "));
    let db = Database::create(&args.database);
    let version: String = connect(&db.url).query_one("SHOW server_version", &[]).expect("version").get(0);
    let settings: Vec<String> = ["synchronous_commit", "fsync", "shared_buffers", "max_connections"]
        .iter()
        .map(|s| {
            let v: String = connect(&db.url).query_one(&format!("SHOW {s}"), &[]).expect("setting").get(0);
            format!("{s}={v}")
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!(
        "PostgreSQL {version} ({}); database {}; cores: {cores}; rounds: {}",
        settings.join(", "),
        db.name,
        args.rounds
    );
    println!(
        "Engram-PG: PostgresBackend defaults (write_connections={}, 4 read connections, group commit); Engram-SQLite: Engine::open(EngineConfig::dir(..))",
        args.write_connections
    );
    println!(
        "direct: postgres crate, table docs(id text PRIMARY KEY, version bigint, body text), prepared statements, body serialized/parsed with serde_json"
    );
    std::fs::create_dir_all(&args.dir).expect("scratch parent");
    let scratch = tempfile::Builder::new().prefix("pg-run-").tempdir_in(&args.dir).expect("scratch directory");
    let started = Instant::now();
    let mut order = StdRng::seed_from_u64(args.seed);
    let mut docs: Vec<(String, Value)> = (0..args.docs).map(|n| (format!("doc-{n}"), data::doc(n))).collect();
    docs.shuffle(&mut order);
    let gets = (0..args.gets).map(|_| format!("doc-{}", order.random_range(0..args.docs))).collect();
    let bench = Bench {
        args: &args,
        db: &db,
        input: Input { docs, gets },
        scratch: scratch.path(),
        checksums: Mutex::default(),
    };
    let comparisons = bench.run();
    print_table(&comparisons, &args);
    println!("total time: {:.0} s", started.elapsed().as_secs_f64());
}

/// A comparison of Engram-PG with a direct side, and Engram-SQLite's runs
/// of the same workload.
struct Row {
    pg: Comparison,
    metric: Metric,
    subject: Step,
    baseline: Step,
    sqlite: Option<Step>,
    sqlite_runs: Vec<Run>,
}

impl Bench<'_> {
    fn steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        let sqlite = !self.args.no_sqlite;
        if self.args.runs("bulk") {
            steps.extend([Step::BulkEngramPg, Step::BulkDirect, Step::BulkDirectUnnest]);
            steps.extend(sqlite.then_some(Step::BulkEngramSqlite));
        }
        if self.args.runs("writes") {
            steps.extend([Step::WritesEngramPg, Step::WritesDirect, Step::WritesPlatform]);
            steps.extend(sqlite.then_some(Step::WritesEngramSqlite));
        }
        if self.args.runs("mixed") {
            steps.extend([Step::MixedEngramPg, Step::MixedDirect]);
        }
        steps
    }

    fn rows(&self) -> Vec<Row> {
        let a = self.args;
        let sqlite = |s| (!a.no_sqlite).then_some(s);
        let row = |workload: String, subject, baseline, what: &str, goal, metric, sqlite| Row {
            pg: Comparison::new(&workload, "Engram-PG", what, Some(goal)),
            metric,
            subject,
            baseline,
            sqlite,
            sqlite_runs: Vec::new(),
        };
        let mut rows = Vec::new();
        if a.runs("bulk") {
            let w = format!("bulk insert {} docs, {}/tx", thousands(a.docs as u64), thousands(a.batch as u64));
            rows.push(row(
                w.clone(),
                Step::BulkEngramPg,
                Step::BulkDirect,
                "prepared INSERT per row",
                DIRECT_GOAL,
                Metric::Insert,
                sqlite(Step::BulkEngramSqlite),
            ));
            let mut context = row(
                w,
                Step::BulkEngramPg,
                Step::BulkDirectUnnest,
                "multi-row INSERT (unnest)",
                DIRECT_GOAL,
                Metric::Insert,
                None,
            );
            context.pg.goal = None;
            rows.push(context);
            let w = format!("point gets {}", thousands(a.gets as u64));
            rows.push(row(
                w,
                Step::BulkEngramPg,
                Step::BulkDirect,
                "prepared SELECT",
                DIRECT_GOAL,
                Metric::Get,
                sqlite(Step::BulkEngramSqlite),
            ));
        }
        if a.runs("writes") {
            let w = format!("{} writers, durable single-doc writes", a.writers);
            let what = format!("upsert, pool of {}", a.pool);
            let s = sqlite(Step::WritesEngramSqlite);
            rows.push(row(w, Step::WritesEngramPg, Step::WritesDirect, &what, DIRECT_GOAL, Metric::Writes, s));
            let w = format!("{} writers, platform pattern", a.writers);
            let what = format!("doc + outbox + audit rows per tx, pool of {}", a.pool);
            rows.push(row(w, Step::WritesEngramPg, Step::WritesPlatform, &what, PLATFORM_GOAL, Metric::Writes, s));
        }
        if a.runs("mixed") {
            let w = format!(
                "{} servers x {} threads, {}% gets / {}% puts",
                a.servers,
                a.threads_per_server,
                100 - a.put_percent,
                a.put_percent
            );
            let what = "same statements, 1 connection per thread";
            rows.push(row(w, Step::MixedEngramPg, Step::MixedDirect, what, DIRECT_GOAL, Metric::Mixed, None));
        }
        rows
    }

    fn run(&self) -> Vec<Row> {
        let mut rows = self.rows();
        let mut order = self.steps();
        for round in 0..self.args.rounds {
            println!("\n== round {} of {}: {order:?}", round + 1, self.args.rounds);
            let mut runs: HashMap<(Step, Metric), Run> = HashMap::new();
            for &step in &order {
                for (metric, run) in self.step(step, round) {
                    runs.insert((step, metric), run);
                }
            }
            self.check_checksums();
            for r in &mut rows {
                r.pg.record(runs[&(r.subject, r.metric)], runs[&(r.baseline, r.metric)]);
                if let Some(s) = r.sqlite {
                    r.sqlite_runs.push(runs[&(s, r.metric)]);
                }
            }
            order.reverse();
        }
        rows
    }

    fn check_checksums(&self) {
        let sums = self.checksums.lock().expect("checksums");
        if let Some((_, first)) = sums.first() {
            assert!(sums.iter().all(|(_, c)| c == first), "every side reads the same documents: {sums:?}");
        }
    }

    fn step(&self, step: Step, round: usize) -> Vec<(Metric, Run)> {
        let schema = format!("{}_r{round}", format!("{step:?}").to_lowercase());
        let target = self.db.target(&schema);
        let index_dir = self.scratch.join(format!("{schema}-search"));
        let out = match step {
            Step::BulkEngramPg => {
                self.bulk_engram(step, Store::postgres(&target, self.args.write_connections, &index_dir), &target)
            }
            Step::BulkEngramSqlite => {
                let dir = self.scratch.join(&schema);
                let out = self.bulk_engram(step, Store::sqlite(&dir), &target);
                crate::disk::remove_dir(&dir);
                out
            }
            Step::BulkDirect | Step::BulkDirectUnnest => self.bulk_direct(step, &target),
            Step::WritesEngramPg => {
                self.writes_engram(Store::postgres(&target, self.args.write_connections, &index_dir), &target)
            }
            Step::WritesEngramSqlite => {
                let dir = self.scratch.join(&schema);
                let out = self.writes_engram(Store::sqlite(&dir), &target);
                crate::disk::remove_dir(&dir);
                out
            }
            Step::WritesDirect | Step::WritesPlatform => self.writes_direct(&target, step == Step::WritesPlatform),
            Step::MixedEngramPg => self.mixed_engram(&target),
            Step::MixedDirect => self.mixed_direct(&target),
        };
        self.db.drop_schema(&schema);
        let _ = std::fs::remove_dir_all(&index_dir);
        for (metric, run) in &out {
            println!("    {step:?} {metric:?}: {} ({:.1} µs CPU/op)", rate(run.rate()), run.cpu_us_per_op());
        }
        out
    }

    fn chunks(&self) -> Vec<Vec<(String, Value)>> {
        self.input.docs.chunks(self.args.batch).map(<[_]>::to_vec).collect()
    }

    fn get_ids(&self) -> Vec<&str> {
        self.input.gets.iter().map(String::as_str).collect()
    }

    fn bulk_engram(&self, step: Step, store: Store, target: &Target) -> Vec<(Metric, Run)> {
        let chunks = self.chunks();
        self.db.settle();
        let before = store.commits();
        let (insert, ()) =
            measured(self.input.docs.len(), &target.dbname, || engine::bulk_insert(&store.space, chunks));
        if let (Some(b), Some(a)) = (before, store.commits()) {
            println!("    Engram-PG writer: {} commits, {} writes during the insert", a.0 - b.0, a.1 - b.1);
        }
        let rows = store.space.count(engine::COLLECTION, &serde_json::json!({})).expect("count");
        assert_eq!(rows, self.input.docs.len() as u64, "every document stored");
        let ids = self.get_ids();
        self.db.settle();
        let (get, sum) = measured(ids.len(), &target.dbname, || engine::point_gets(&store.space, &ids));
        self.checksums.lock().expect("checksums").push((step, sum));
        store.close();
        vec![(Metric::Insert, insert), (Metric::Get, get)]
    }

    fn bulk_direct(&self, step: Step, target: &Target) -> Vec<(Metric, Run)> {
        let unnest = step == Step::BulkDirectUnnest;
        direct::create_tables(target);
        let mut conn = Conn::open(target);
        let chunks = self.chunks();
        self.db.settle();
        let (insert, ()) = measured(self.input.docs.len(), &target.dbname, || {
            if unnest { conn.bulk_insert_unnest(&chunks) } else { conn.bulk_insert(&chunks) }
        });
        assert_eq!(conn.count("docs"), self.input.docs.len() as u64, "every row stored");
        let ids = self.get_ids();
        self.db.settle();
        let (get, sum) = measured(ids.len(), &target.dbname, || conn.point_gets(&ids));
        self.checksums.lock().expect("checksums").push((step, sum));
        vec![(Metric::Insert, insert), (Metric::Get, get)]
    }

    fn writes_engram(&self, store: Store, target: &Target) -> Vec<(Metric, Run)> {
        self.db.settle();
        let before = store.commits();
        let run = timed(self.args.writers, self.args.seconds, &target.dbname, |t, n| {
            engine::put(&store.space, &format!("w{t}-{n}"), data::doc(n as usize));
        });
        if let (Some(b), Some(a)) = (before, store.commits()) {
            let (commits, jobs) = (a.0 - b.0, a.1 - b.1);
            println!(
                "    Engram-PG writer: {commits} commits for {jobs} writes ({:.1} writes per commit)",
                jobs as f64 / commits.max(1) as f64
            );
        }
        let rows = store.space.count(engine::COLLECTION, &serde_json::json!({})).expect("count");
        assert_eq!(rows, run.ops, "every acknowledged write stored");
        store.close();
        vec![(Metric::Writes, run)]
    }

    fn writes_direct(&self, target: &Target, platform: bool) -> Vec<(Metric, Run)> {
        direct::create_tables(target);
        let pool = Pool::open(target, self.args.pool.min(self.args.writers));
        self.db.settle();
        let run = timed(self.args.writers, self.args.seconds, &target.dbname, |t, n| {
            let (id, body) = (format!("w{t}-{n}"), data::doc(n as usize));
            pool.with(|c| if platform { c.platform_write(&id, &body) } else { c.upsert(&id, &body) });
        });
        let mut check = Conn::open(target);
        assert_eq!(check.count("docs"), run.ops, "every acknowledged write stored");
        if platform {
            assert_eq!((check.count("outbox"), check.count("audit")), (run.ops, run.ops), "outbox and audit rows");
        }
        vec![(Metric::Writes, run)]
    }

    /// The keys of the mixed workload, as loaded before it runs.
    fn mixed_keys(&self) -> Vec<Vec<(String, Value)>> {
        let docs: Vec<_> = (0..self.args.mixed_keys).map(|n| (format!("doc-{n}"), data::doc(n))).collect();
        docs.chunks(self.args.batch).map(<[_]>::to_vec).collect()
    }

    /// The next operation of a mixed-workload thread: a put of a random
    /// key (true) or a get of one.
    fn mixed_op(&self, rng: &mut StdRng) -> (bool, String) {
        let put = rng.random_range(0..100) < self.args.put_percent;
        (put, format!("doc-{}", rng.random_range(0..self.args.mixed_keys)))
    }

    fn mixed_engram(&self, target: &Target) -> Vec<(Metric, Run)> {
        let servers: Vec<Store> = (0..self.args.servers)
            .map(|i| {
                let dir = self.scratch.join(format!("{}-search-{i}", target.schema));
                Store::postgres(target, self.args.write_connections, &dir)
            })
            .collect();
        engine::bulk_insert(&servers[0].space, self.mixed_keys());
        let per = self.args.threads_per_server;
        let rngs: Vec<Mutex<StdRng>> = (0..self.args.servers * per).map(|t| Mutex::new(self.rng(t))).collect();
        self.db.settle();
        let run = timed(self.args.servers * per, self.args.seconds, &target.dbname, |t, n| {
            let (put, id) = self.mixed_op(&mut rngs[t].lock().expect("rng"));
            let space = &servers[t / per].space;
            if put {
                engine::put(space, &id, data::doc(n as usize));
            } else {
                space.get(engine::COLLECTION, &id).expect("get");
            }
        });
        servers.into_iter().for_each(Store::close);
        vec![(Metric::Mixed, run)]
    }

    fn mixed_direct(&self, target: &Target) -> Vec<(Metric, Run)> {
        direct::create_tables(target);
        Conn::open(target).bulk_insert_unnest(&self.mixed_keys());
        let threads = self.args.servers * self.args.threads_per_server;
        let conns: Vec<Mutex<(Conn, StdRng)>> =
            (0..threads).map(|t| Mutex::new((Conn::open(target), self.rng(t)))).collect();
        self.db.settle();
        let run = timed(threads, self.args.seconds, &target.dbname, |t, n| {
            let mut guard = conns[t].lock().expect("connection");
            let (conn, rng) = &mut *guard;
            let (put, id) = self.mixed_op(rng);
            if put {
                conn.upsert(&id, &data::doc(n as usize));
            } else {
                conn.point_gets(&[id.as_str()]);
            }
        });
        vec![(Metric::Mixed, run)]
    }

    fn rng(&self, thread: usize) -> StdRng {
        StdRng::seed_from_u64(self.args.seed ^ (thread as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
}

/// The result table: Engram-PG against the direct side (median ratio and
/// per-round ratios), and Engram-SQLite's median rate beside it.
fn print_table(rows: &[Row], args: &PgArgs) {
    println!();
    println!(
        "| workload | Engram-PG | direct PG | ratio (median) | per round | goal | Engram-SQLite | SQLite / direct PG |"
    );
    println!("|---|---:|---|---:|---|---:|---:|---:|");
    for r in rows {
        let c = &r.pg;
        let med = |pick: fn(&(Run, Run)) -> Run| {
            let rates: Vec<f64> = c.rounds.iter().map(|x| pick(x).rate()).collect();
            let cpus: Vec<f64> = c.rounds.iter().map(|x| pick(x).cpu_us_per_op()).collect();
            format!("{}, {:.0} µs CPU", rate(median(&rates)), median(&cpus))
        };
        let per_round: Vec<String> = c.ratios().iter().map(|x| format!("{x:.2}")).collect();
        let (sqlite, sqlite_ratio) = if r.sqlite_runs.is_empty() {
            ("-".to_owned(), "-".to_owned())
        } else {
            let rates: Vec<f64> = r.sqlite_runs.iter().map(Run::rate).collect();
            let cpus: Vec<f64> = r.sqlite_runs.iter().map(Run::cpu_us_per_op).collect();
            let ratios: Vec<f64> = r.sqlite_runs.iter().zip(&c.rounds).map(|(s, (_, b))| s.rate() / b.rate()).collect();
            (format!("{}, {:.0} µs CPU", rate(median(&rates)), median(&cpus)), format!("{:.2}×", median(&ratios)))
        };
        let goal = c.goal.map_or("-".to_owned(), |g| format!("≥ {g}× {}", c.verdict()));
        println!(
            "| {} | {} | {}: {} | **{:.2}×** | {} | {} | {} | {} |",
            c.workload,
            med(|x| x.0),
            c.baseline,
            med(|x| x.1),
            c.median_ratio(),
            per_round.join(", "),
            goal,
            sqlite,
            sqlite_ratio
        );
    }
    println!();
    println!(
        "rates: medians over {} rounds (ops per wall-clock second); CPU: this process + the run database's PostgreSQL backends, per op (SQLite: this process).",
        args.rounds
    );
}
