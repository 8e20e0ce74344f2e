//! Crash loop: starts `engram serve` on a fresh data directory, drives a
//! mixed concurrent workload (puts, conditional updates, merge patches,
//! deletes, transactions over several collections, idempotent requests),
//! records every acknowledged operation, kills the server with SIGKILL at a
//! random moment, verifies the data directory, restarts, and again.
//!
//! After each kill, before the restart, the data directory is opened
//! directly ([`verify`]): the change-log chain verifies, every record
//! matches its newest log entry, every declared index finds what the records
//! hold, no acknowledged write is lost, and no transaction of unknown
//! outcome is visible in part. Everything is accumulated in a [`Report`].
//!
//! Runs are seeded: the seed fixes every choice of the workload and every
//! kill delay. What is in flight at the moment of the kill still depends on
//! timing, so a seed reproduces the run's shape, not its exact interleaving.
//!
//! Beside the document writers, producers commit transactions that also
//! enqueue a queue message and publish an outbox message, consumers
//! receive and ack, and the server's webhook dispatcher delivers to a
//! receiver in this process ([`queue_workload`], [`receiver`]), so kills
//! land during enqueues, receives, acks and deliveries. After the last
//! cycle a restarted server drains the queue and the webhook catches up;
//! then every message is held against the ledger ([`queue_check`]).
//!
//! Uploaders put and delete objects under a few keys ([`object_workload`]);
//! each cycle's restarted server serves every key, which must hold its
//! acknowledged content (or an unknown request's), with every listed
//! object's bytes there ([`object_check`]). At the end a server with a
//! short grace collects, and the store must hold no unreferenced bytes.

pub mod http;
pub mod ledger;
pub mod messages;
pub mod object_check;
pub mod object_workload;
pub mod queue_check;
pub mod queue_workload;
pub mod receiver;
pub mod report;
pub mod server;
pub mod verify;
pub mod workload;

pub use report::Report;

use http::{Outcome, Request, agent, send};
use ledger::{IdemRecord, Ledger, SPACE, Unknown, collection_specs};
use queue_workload::MessageReport;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use receiver::Receiver;
use report::CycleStats;
use serde_json::{Value, json};
use server::{Collection, Server};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use workload::{WriterInput, WriterReport, run_writer};

/// Acknowledged idempotent requests re-sent per cycle.
const REPLAYS_PER_CYCLE: usize = 16;
/// Share of cycles that first kill a server while it starts (opens the
/// data directory), before starting the one that takes the load.
const STARTUP_KILL_SHARE: f64 = 0.1;
/// Longest delay of such a kill after the spawn (a debug server is ready
/// in some 10–40 ms).
const STARTUP_KILL_MAX_MS: u64 = 40;
/// Share of cycles that stop the server cleanly (SIGTERM) instead of
/// killing it: the restart must then load every saved index, never rebuild.
const CLEAN_STOP_SHARE: f64 = 0.1;
/// Longest a clean stop may take before the server is killed after all.
const CLEAN_STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Timeout of the setup requests.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest the end's collector may take to remove unreferenced bytes (its
/// grace is 2 s, its interval 1 s; it has run during the message check).
const COLLECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Share of webhook deliveries the receiver answers with 500.
const WEBHOOK_FAIL_SHARE: f64 = 0.2;

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `engram` binary.
    pub engram_bin: PathBuf,
    /// Kill-verify-restart cycles.
    pub cycles: usize,
    pub seed: u64,
    /// Concurrent client threads.
    pub writers: usize,
    /// The data directory (must not exist or be empty; kept afterwards);
    /// by default a fresh temporary directory, removed afterwards.
    pub data_dir: Option<PathBuf>,
    /// The server is killed this many milliseconds after the writers start.
    pub kill_after_ms: RangeInclusive<u64>,
    /// Prints a progress line every this many cycles (0: never).
    pub progress_every: usize,
    /// Keep the data in this PostgreSQL database (`engram serve
    /// --database`); the data directory then holds search index files.
    pub database: Option<Database>,
}

/// A PostgreSQL database under test.
#[derive(Clone)]
pub struct Database {
    pub url: String,
    /// Crashes the database server and starts it again (when the loop owns
    /// the server), in `crash_share` of the cycles, after the server kill.
    pub crash: Option<Arc<dyn Fn() -> Result<(), String> + Send + Sync>>,
    pub crash_share: f64,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("url", &self.url).field("crash_share", &self.crash_share).finish()
    }
}

impl Config {
    /// 100 cycles of 16 writers, killed 30–300 ms in, seed 0, silent.
    pub fn new(engram_bin: impl Into<PathBuf>) -> Self {
        Self {
            engram_bin: engram_bin.into(),
            cycles: 100,
            seed: 0,
            writers: 16,
            data_dir: None,
            kill_after_ms: 30..=300,
            progress_every: 0,
            database: None,
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.cycles == 0 || self.writers == 0 {
            return Err("cycles and writers must be at least 1".into());
        }
        if self.kill_after_ms.is_empty() {
            return Err(format!("the kill delay range {:?} is empty", self.kill_after_ms));
        }
        if !self.engram_bin.is_file() {
            return Err(format!(
                "no engram binary at {} (build it: cargo build -p engram-cli)",
                self.engram_bin.display()
            ));
        }
        Ok(())
    }
}

/// Runs the crash loop. Problems found are in the report; an error means
/// the loop itself could not go on (no binary, a server that does not
/// start, a data directory that does not open).
pub fn run(config: Config) -> Result<Report, String> {
    config.check()?;
    let dirs = Dirs::prepare(config.data_dir.as_deref())?;
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut ledger = Ledger::new(config.writers);
    let mut report = Report { seed: config.seed, ..Report::default() };
    let receiver = Receiver::start(rng.random(), WEBHOOK_FAIL_SHARE)?;
    let started = Instant::now();
    for cycle in 0..config.cycles {
        let stats = run_cycle(&config, &dirs, &receiver, cycle, &mut rng, &mut ledger, &mut report)
            .map_err(|e| format!("cycle {cycle} (seed {}): {e}", config.seed))?;
        report.cycles += 1;
        report.seconds = started.elapsed().as_secs_f64();
        let due = config.progress_every > 0 && ((cycle + 1) % config.progress_every == 0 || stats.problems > 0);
        if due {
            println!("{}", stats.line(config.cycles, &report));
        }
    }
    finish_messages(&config, &dirs, &receiver, &mut rng, &mut ledger, &mut report)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// After the last cycle: a restarted server (with a short object grace)
/// drains the queue and the webhook catches up; every message is then
/// judged. Every object is checked once more, the collector is given its
/// time, and the store's files are checked. The server is then stopped
/// cleanly: the next open must load its search index file (not rebuild
/// it), and the objects' metadata is checked offline.
fn finish_messages(
    config: &Config,
    dirs: &Dirs,
    receiver: &Receiver,
    rng: &mut StdRng,
    ledger: &mut Ledger,
    report: &mut Report,
) -> Result<(), String> {
    let mut server =
        Server::start_with(&config.engram_bin, &dirs.data, database(config), &dirs.log, Collection::FINISH)?;
    report.messages = queue_check::finish(&server.base(), &mut ledger.messages, receiver, rng.random());
    let verdict = object_check::check(&server.base(), &mut ledger.objects, true);
    report.add_objects(config.cycles, &verdict);
    let live = ledger.objects.live_digests();
    let left = object_check::wait_collected(&dirs.data.join("objects"), &live, COLLECT_TIMEOUT);
    report.add_leftovers(&left);
    server.terminate(CLEAN_STOP_TIMEOUT);
    let engine = verify::open_store(&dirs.data, database(config))?;
    let rebuilt = verify::check_clean_restart(&engine);
    report.add_end_divergences("clean restart", &rebuilt);
    let metadata = object_check::check_metadata(&engine, &dirs.data.join("objects"));
    engine.close();
    report.add_object_metadata(&metadata);
    Ok(())
}

/// Where the data and the server's log go.
struct Dirs {
    _tmp: Option<tempfile::TempDir>,
    data: PathBuf,
    log: PathBuf,
}

impl Dirs {
    fn prepare(given: Option<&Path>) -> Result<Self, String> {
        let Some(data) = given else {
            let tmp = tempfile::Builder::new()
                .prefix("engram-crashloop-")
                .tempdir()
                .map_err(|e| format!("temporary directory: {e}"))?;
            let (data, log) = (tmp.path().join("data"), tmp.path().join("serve.log"));
            return Ok(Self { _tmp: Some(tmp), data, log });
        };
        let fresh = std::fs::read_dir(data).map_or(true, |mut d| d.next().is_none());
        if !fresh {
            return Err(format!("{} is not empty: the crash loop starts from a fresh data directory", data.display()));
        }
        std::fs::create_dir_all(data).map_err(|e| format!("creating {}: {e}", data.display()))?;
        let log = PathBuf::from(format!("{}.serve.log", data.display()));
        Ok(Self { _tmp: None, data: data.to_owned(), log })
    }
}

/// One cycle: start, (set up,) write, kill, verify.
fn run_cycle(
    config: &Config,
    dirs: &Dirs,
    receiver: &Receiver,
    cycle: usize,
    rng: &mut StdRng,
    ledger: &mut Ledger,
    report: &mut Report,
) -> Result<CycleStats, String> {
    let mut server = start(config, dirs, rng, report)?;
    if cycle == 0 {
        setup(&server.base(), receiver)?;
    }
    // The last kill's objects, through this server.
    let t = Instant::now();
    let objects = object_check::check(&server.base(), &mut ledger.objects, false);
    let objects_checked_in = t.elapsed();
    report.object_check_seconds += objects_checked_in.as_secs_f64();
    report.add_objects(cycle, &objects);
    let delay = Duration::from_millis(rng.random_range(config.kill_after_ms.clone()));
    let clean = rng.random_bool(CLEAN_STOP_SHARE);
    let (reports, message_reports, uploads) = drive(&mut server, cycle, delay, clean, rng, ledger)?;
    if clean {
        report.clean_stops += 1;
    }
    let mut stats = CycleStats {
        cycle,
        killed_after: delay,
        ready_after: server.ready_after,
        objects: objects.objects,
        objects_checked_in,
        problems: objects.lost.len() + objects.dangling.len() + objects.anomalies.len(),
        ..CycleStats::default()
    };
    drop(server);
    crash_database(config, rng, report)?;
    for r in reports {
        stats.acknowledged += r.acknowledged;
        stats.problems += r.lost.len() + r.anomalies.len();
        report.add_writer(cycle, &r);
        absorb(ledger, r);
    }
    for r in message_reports {
        stats.messages_sent += r.sent.len();
        stats.problems += r.anomalies.len();
        report.add_messages(cycle, &r);
        r.absorb_into(&mut ledger.messages);
    }
    for u in uploads {
        stats.object_ops += u.ops.len();
        let anomalies = ledger.objects.absorb(u);
        stats.problems += anomalies.len();
        report.add_object_anomalies(cycle, &anomalies);
    }
    report.set_object_totals(&ledger.objects);
    stats.unknown = ledger.unknown.len();
    check(config, dirs, cycle, ledger, report, &mut stats)?;
    Ok(stats)
}

/// Sometimes crashes the database too (after the server's kill, before the
/// check): acknowledged writes must survive that as well.
fn crash_database(config: &Config, rng: &mut StdRng, report: &mut Report) -> Result<(), String> {
    let Some(db) = &config.database else { return Ok(()) };
    let Some(crash) = &db.crash else { return Ok(()) };
    if rng.random_bool(db.crash_share.clamp(0.0, 1.0)) {
        crash()?;
        report.database_crashes += 1;
    }
    Ok(())
}

/// Starts the server that takes the load; sometimes kills one while it
/// starts first.
fn start(config: &Config, dirs: &Dirs, rng: &mut StdRng, report: &mut Report) -> Result<Server, String> {
    if rng.random_bool(STARTUP_KILL_SHARE) {
        let after = Duration::from_millis(rng.random_range(0..=STARTUP_KILL_MAX_MS));
        Server::kill_while_starting(&config.engram_bin, &dirs.data, database(config), &dirs.log, after)?;
        report.startup_kills += 1;
    }
    Server::start_on(&config.engram_bin, &dirs.data, database(config), &dirs.log)
}

fn database(config: &Config) -> Option<&str> {
    config.database.as_ref().map(|d| d.url.as_str())
}

/// Verifies the data directory of the dead server against the ledger, then
/// takes what is stored as the next cycle's baseline.
fn check(
    config: &Config,
    dirs: &Dirs,
    cycle: usize,
    ledger: &mut Ledger,
    report: &mut Report,
    stats: &mut CycleStats,
) -> Result<(), String> {
    let t = Instant::now();
    let verdict = verify::verify_store(&dirs.data, database(config), ledger)?;
    stats.verified_in = t.elapsed();
    (stats.documents, stats.entries) = (verdict.documents, verdict.entries);
    stats.problems += verdict.lost.len() + verdict.divergences.len() + verdict.partial.len();
    report.add_verdict(cycle, &verdict);
    ledger.settle(&verdict.stored, &verdict.applied, &verdict.splits);
    Ok(())
}

/// Creates the space and its collections (with their indexes), the queue,
/// and the webhook endpoint pointing to `receiver`, which learns the
/// endpoint's secret.
fn setup(base: &str, receiver: &Receiver) -> Result<(), String> {
    let agent = agent(SETUP_TIMEOUT);
    let mut requests = vec![Request::new("POST", "/v1/spaces".into(), Some(json!({"name": SPACE})))];
    for (coll, spec) in collection_specs() {
        requests.push(Request::new("PUT", format!("/v1/spaces/{SPACE}/collections/{coll}"), Some(spec)));
    }
    requests.extend(messages::setup_requests());
    requests.push(messages::webhook_request(&receiver.url));
    let mut last = Value::Null;
    for r in &requests {
        match send(&agent, base, r) {
            Outcome::Acked(_, v) => last = v,
            other => return Err(format!("setup: {} {}: {}", r.method, r.path, other.describe())),
        }
    }
    receiver.set_secret(last["secret"].as_str().ok_or("setup: the webhook endpoint came without its secret")?)
}

/// What the writers, the producers and consumers, and the uploaders saw in
/// a cycle.
type CycleSeen = (Vec<WriterReport>, Vec<MessageReport>, Vec<object_workload::UploaderReport>);

/// Runs the writers, producers and consumers, kills the server after
/// `delay`, and collects what they saw.
fn drive(
    server: &mut Server,
    cycle: usize,
    delay: Duration,
    clean: bool,
    rng: &mut StdRng,
    ledger: &mut Ledger,
) -> Result<CycleSeen, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut replays = pick_replays(ledger, rng);
    let mut retries = std::mem::take(&mut ledger.retries);
    let base = server.base();
    let handles: Vec<_> = (0..ledger.writers)
        .map(|w| {
            let input = WriterInput {
                base: base.clone(),
                cycle,
                writer: w,
                seed: rng.random(),
                state: ledger.owned_by(w),
                retries: take_where(&mut retries, |u: &Unknown| u.writer == w),
                replays: take_where(&mut replays, |r: &IdemRecord| r.writer == w),
                stop: stop.clone(),
            };
            std::thread::spawn(move || run_writer(input))
        })
        .collect();
    let message_handles = queue_workload::spawn(&base, cycle, rng, &stop);
    let upload_handles = object_workload::spawn(&base, rng, &stop);
    std::thread::sleep(delay);
    if clean {
        // SIGTERM, with the writers in flight: a stop that does not finish
        // in time is a failure of the loop.
        if !server.terminate(CLEAN_STOP_TIMEOUT) {
            stop.store(true, Ordering::SeqCst);
            return Err(format!("the server did not stop within {CLEAN_STOP_TIMEOUT:?} of SIGTERM"));
        }
    } else {
        server.kill(); // SIGKILL, with the writers in flight
    }
    stop.store(true, Ordering::SeqCst);
    let writers = handles.into_iter().map(|h| h.join().map_err(|_| "a writer thread panicked".to_owned()));
    let messages = message_handles.into_iter().map(|h| h.join().map_err(|_| "a queue thread panicked".to_owned()));
    let uploads = upload_handles.into_iter().map(|h| h.join().map_err(|_| "an uploader thread panicked".to_owned()));
    Ok((writers.collect::<Result<_, _>>()?, messages.collect::<Result<_, _>>()?, uploads.collect::<Result<_, _>>()?))
}

/// A random sample of the acknowledged idempotent requests.
fn pick_replays(ledger: &Ledger, rng: &mut StdRng) -> Vec<IdemRecord> {
    let n = ledger.idempotent.len().min(REPLAYS_PER_CYCLE);
    rand::seq::index::sample(rng, ledger.idempotent.len(), n)
        .into_iter()
        .map(|i| ledger.idempotent[i].clone())
        .collect()
}

/// Removes and returns the items matching `f`.
fn take_where<T>(items: &mut Vec<T>, f: impl Fn(&T) -> bool) -> Vec<T> {
    let (yes, no) = std::mem::take(items).into_iter().partition(|x| f(x));
    *items = no;
    yes
}

/// Takes one writer's cycle into the ledger.
fn absorb(ledger: &mut Ledger, r: WriterReport) {
    ledger.owned.extend(r.state);
    for (k, d) in r.hot {
        ledger.ack_hot(k, d);
    }
    ledger.unknown.extend(r.unknown);
    ledger.log.extend(r.log);
    r.idempotent.into_iter().for_each(|rec| ledger.remember(rec));
}
