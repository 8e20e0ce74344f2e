//! `engram-bench queues`: Engram's queues (enqueue → long-poll receive →
//! ack) against the job table a platform hand-writes on the same database
//! (SQLite: `BEGIN IMMEDIATE` + `UPDATE … RETURNING`; PostgreSQL: `SELECT …
//! FOR UPDATE SKIP LOCKED`), with Redis Streams as context; all in one
//! process, in interleaved rounds (the order reverses every round), medians
//! reported.
//!
//! Every measurement gets a fresh store: a data directory (SQLite), a schema
//! of a database created for the run and dropped at its end (PostgreSQL), a
//! new stream (Redis).

mod engram_queue;
mod load;
mod pg_peer;
mod redis_side;
mod sqlite_peer;

use crate::measure::median;
use crate::postgres::Database;
use crate::postgres::engine::Store;
use crate::report::{rate, thousands};
use clap::Parser;
use engram_queue::EngramSide;
use load::{Load, Outcome, Side};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The goal against the hand-written peer, and the first bar on the way.
const GOAL: f64 = 1.0;
const FIRST_BAR: f64 = 0.8;

#[derive(Debug, Parser)]
#[command(name = "engram-bench queues")]
pub struct QueueArgs {
    /// The maintenance database to create the run's database through.
    #[arg(long, env = "ENGRAM_BENCH_POSTGRES", default_value = crate::postgres::DEFAULT_URL)]
    pub database: String,
    /// The Redis server of the context column.
    #[arg(long, env = "ENGRAM_BENCH_REDIS", default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
    /// Which stores to run, comma-separated: sqlite, postgres, redis.
    #[arg(long, default_value = "sqlite,postgres,redis")]
    pub backends: String,
    /// Consumer thread counts, comma-separated: one measurement each.
    #[arg(long, default_value = "1,8,64")]
    pub consumers: String,
    /// Producer threads, each enqueueing one message at a time.
    #[arg(long, default_value_t = 4)]
    pub producers: usize,
    /// Most messages per receive (each batch is acknowledged at once).
    #[arg(long, default_value_t = 10)]
    pub batch: usize,
    /// Seconds the producers enqueue in each measurement.
    #[arg(long, default_value_t = 4.0)]
    pub seconds: f64,
    /// Producers pause while this many messages are not yet acknowledged.
    #[arg(long, default_value_t = 2_000)]
    pub backlog: u64,
    /// How long a peer's consumer sleeps after finding no job, in ms
    /// (Engram and Redis block instead).
    #[arg(long, default_value_t = 20)]
    pub poll_ms: u64,
    /// Longest wait, in seconds, for the queue to drain after the producers stop.
    #[arg(long, default_value_t = 30)]
    pub drain_seconds: u64,
    /// Writer connections of the Engram-on-PostgreSQL engine.
    #[arg(long, default_value_t = engram_postgres::WRITE_CONNECTIONS_DEFAULT)]
    pub write_connections: usize,
    /// Interleaved rounds.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Parent directory of the SQLite data directories (a real disk).
    #[arg(long, default_value = crate::args::DEFAULT_BASE_DIR)]
    pub dir: PathBuf,
}

impl QueueArgs {
    fn runs(&self, backend: &str) -> bool {
        self.backends.split(',').any(|b| b.trim() == backend)
    }

    fn consumer_counts(&self) -> Vec<usize> {
        self.consumers.split(',').map(|c| c.trim().parse().expect("--consumers: comma-separated counts")).collect()
    }

    fn load(&self, consumers: usize) -> Load {
        Load {
            producers: self.producers,
            consumers,
            batch: self.batch,
            seconds: self.seconds,
            backlog: self.backlog,
            drain: Duration::from_secs(self.drain_seconds),
        }
    }
}

/// One measured side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    EngramSqlite,
    PeerSqlite,
    EngramPg,
    PeerPg,
    Redis,
}

/// Every measurement of every round, by side and consumer count.
type Results = HashMap<(Kind, usize), Vec<Outcome>>;

struct Bench<'a> {
    args: &'a QueueArgs,
    db: Option<Database>,
    scratch: &'a Path,
}

/// Entry point for `engram-bench queues ...`.
pub fn main(argv: Vec<String>) {
    let args = QueueArgs::parse_from(argv);
    let counts = args.consumer_counts();
    assert!(args.rounds > 0 && args.producers > 0 && args.batch > 0, "counts must be positive");
    assert!(counts.iter().all(|&c| c > 0), "consumer counts must be positive");
    assert!(args.backlog >= (args.batch * counts.iter().max().copied().unwrap_or(1)) as u64, "--backlog too small");
    std::fs::create_dir_all(&args.dir).expect("create the scratch parent directory");
    let scratch =
        tempfile::Builder::new().prefix("queues-").tempdir_in(&args.dir).expect("create the scratch directory");
    let db = args.runs("postgres").then(|| Database::create(&args.database));
    let bench = Bench { args: &args, db, scratch: scratch.path() };
    bench.print_header();
    let started = std::time::Instant::now();
    let results = bench.run(&counts);
    print_table(&args, &counts, &results);
    println!("total time: {:.0} s", started.elapsed().as_secs_f64());
}

impl Bench<'_> {
    fn print_header(&self) {
        let a = self.args;
        println!("command: {}", std::env::args().collect::<Vec<_>>().join(" "));
        let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
        println!("cores: {cores}; SQLite {}; rounds: {}", rusqlite::version(), a.rounds);
        if let Some(db) = &self.db {
            let mut conn = crate::postgres::connect(&db.url);
            let show = |conn: &mut postgres::Client, s: &str| -> String {
                conn.query_one(&format!("SHOW {s}"), &[]).expect("SHOW").get(0)
            };
            let settings: Vec<String> = ["server_version", "synchronous_commit", "fsync", "max_connections"]
                .iter()
                .map(|s| format!("{s}={}", show(&mut conn, s)))
                .collect();
            println!("PostgreSQL: {}; database {}", settings.join(", "), db.name);
        }
        if a.runs("redis") {
            println!(
                "Redis: {} ({}): acknowledged before any fsync, NOT durable like the other sides",
                a.redis,
                redis_side::persistence(&a.redis)
            );
        }
        println!(
            "load: {} producers enqueueing one ~200-byte JSON message per call for {} s; consumers receive up to {} per call and ack each batch; producers pause at {} unacknowledged; peers poll every {} ms when empty, Engram long-polls, Redis blocks",
            a.producers,
            a.seconds,
            a.batch,
            thousands(a.backlog),
            a.poll_ms
        );
    }

    fn kinds(&self) -> Vec<Kind> {
        let mut kinds = Vec::new();
        if self.args.runs("sqlite") {
            kinds.extend([Kind::EngramSqlite, Kind::PeerSqlite]);
        }
        if self.args.runs("postgres") {
            kinds.extend([Kind::EngramPg, Kind::PeerPg]);
        }
        if self.args.runs("redis") {
            kinds.push(Kind::Redis);
        }
        kinds
    }

    fn run(&self, counts: &[usize]) -> Results {
        let mut order: Vec<(Kind, usize)> =
            counts.iter().flat_map(|&c| self.kinds().into_iter().map(move |k| (k, c))).collect();
        let mut results = Results::new();
        for round in 0..self.args.rounds {
            println!("\n== round {} of {}", round + 1, self.args.rounds);
            for &(kind, consumers) in &order {
                let outcome = self.measure(kind, consumers, round);
                results.entry((kind, consumers)).or_default().push(outcome);
            }
            order.reverse();
        }
        results
    }

    /// Untimed: a checkpoint (when PostgreSQL runs) and a machine-wide
    /// `sync`, so no side's leftover writeback lands in the next one.
    fn settle(&self) {
        match &self.db {
            Some(db) => db.settle(),
            None => crate::disk::settle(),
        }
    }

    fn measure(&self, kind: Kind, consumers: usize, round: usize) -> Outcome {
        let a = self.args;
        let load = a.load(consumers);
        let name = format!("{}_c{consumers}_r{round}", format!("{kind:?}").to_lowercase());
        let poll = Duration::from_millis(a.poll_ms);
        let outcome = match kind {
            Kind::EngramSqlite => {
                let dir = self.scratch.join(&name);
                let out = self.timed(EngramSide::new(Store::sqlite(&dir), None), load, EngramSide::close);
                crate::disk::remove_dir(&dir);
                out
            }
            Kind::PeerSqlite => {
                let dir = crate::disk::fresh_dir(self.scratch, &name);
                let out =
                    self.timed(sqlite_peer::SqlitePeer::open(&dir, a.producers, consumers, poll), load, |s, _| drop(s));
                crate::disk::remove_dir(&dir);
                out
            }
            Kind::EngramPg | Kind::PeerPg => self.postgres(kind, &name, load),
            Kind::Redis => {
                self.timed(redis_side::RedisSide::open(&a.redis, a.producers, consumers), load, |r, _| r.close())
            }
        };
        println!(
            "  {kind:?}, {consumers} consumers: {} ({} of {} enqueued), p50 {} p99 {}, {:.0} µs CPU/msg; {}; {}",
            rate(outcome.run.rate()),
            thousands(outcome.run.ops),
            thousands(outcome.produced),
            ms(outcome.p50_us as f64),
            ms(outcome.p99_us as f64),
            outcome.run.cpu_us_per_op(),
            outcome.receive_note(),
            outcome.delivery()
        );
        outcome
    }

    /// A PostgreSQL side in a fresh schema of the run's database.
    fn postgres(&self, kind: Kind, schema: &str, load: Load) -> Outcome {
        let db = self.db.as_ref().expect("the run's database");
        let target = db.target(schema);
        let out = if kind == Kind::EngramPg {
            let index_dir = self.scratch.join(format!("{schema}-search"));
            let store = Store::postgres(&target, self.args.write_connections, &index_dir);
            let out = self.timed(EngramSide::new(store, Some(target.dbname.clone())), load, EngramSide::close);
            let _ = std::fs::remove_dir_all(&index_dir);
            out
        } else {
            let poll = Duration::from_millis(self.args.poll_ms);
            self.timed(pg_peer::PgPeer::open(&target, load.producers, load.consumers, poll), load, |s, _| drop(s))
        };
        db.drop_schema(schema);
        out
    }

    /// Settles, runs the load on `side`, then closes it (told how many
    /// messages were delivered).
    fn timed<S: Side>(&self, side: S, load: Load, close: impl FnOnce(S, u64)) -> Outcome {
        self.settle();
        let out = load::run(&side, load);
        close(side, out.run.ops);
        out
    }
}

/// Milliseconds with a sensible precision.
fn ms(us: f64) -> String {
    let ms = us / 1000.0;
    if ms < 10.0 { format!("{ms:.1} ms") } else { format!("{ms:.0} ms") }
}

/// Median rate, latencies and CPU of one side's rounds, as a table cell.
fn cell(outcomes: &[Outcome]) -> String {
    let pick = |f: fn(&Outcome) -> f64| median(&outcomes.iter().map(f).collect::<Vec<_>>());
    format!(
        "{}, p50 {} / p99 {}, {:.0} µs CPU",
        rate(pick(|o| o.run.rate())),
        ms(pick(|o| o.p50_us as f64)),
        ms(pick(|o| o.p99_us as f64)),
        pick(|o| o.run.cpu_us_per_op())
    )
}

fn verdict(ratio: f64) -> &'static str {
    if ratio >= GOAL {
        "met"
    } else if ratio >= FIRST_BAR {
        "first bar met, goal missed"
    } else {
        "missed"
    }
}

/// The delivery check over every side and round of one row.
fn delivery(sides: &[&[Outcome]]) -> String {
    let bad: Vec<String> = sides.iter().flat_map(|s| s.iter()).filter(|o| !o.exact()).map(Outcome::delivery).collect();
    if bad.is_empty() { "exactly once".to_owned() } else { bad.join("; ") }
}

/// The result table: Engram against the hand-written peer on the same
/// database (median throughput ratio and per-round ratios), Redis beside.
fn print_table(args: &QueueArgs, counts: &[usize], results: &Results) {
    let none = Vec::new();
    let get = |k: Kind, c: usize| results.get(&(k, c)).unwrap_or(&none);
    println!();
    println!("| workload | Engram | peer | ratio (median; per round) | goal | Redis Streams (context) | delivery |");
    println!("|---|---|---|---|---|---|---|");
    let backends = [("SQLite", Kind::EngramSqlite, Kind::PeerSqlite), ("PostgreSQL", Kind::EngramPg, Kind::PeerPg)];
    for (backend, engram, peer) in backends {
        for &c in counts {
            let (e, p, r) = (get(engram, c), get(peer, c), get(Kind::Redis, c));
            if e.is_empty() || p.is_empty() {
                continue;
            }
            let ratios: Vec<f64> = e.iter().zip(p).map(|(e, p)| e.run.rate() / p.run.rate()).collect();
            let per_round: Vec<String> = ratios.iter().map(|x| format!("{x:.2}")).collect();
            let ratio = median(&ratios);
            let redis = if r.is_empty() { "-".to_owned() } else { cell(r) };
            println!(
                "| {backend}, {} producers, {c} consumers | {} | {} | **{ratio:.2}×** ({}) | ≥ {GOAL}× (bar {FIRST_BAR}×): {} | {redis} | {} |",
                args.producers,
                cell(e),
                cell(p),
                per_round.join(", "),
                verdict(ratio),
                delivery(&[e, p, r])
            );
        }
    }
    println!();
    println!(
        "rates: messages enqueued, received and acknowledged per wall-clock second (start to last ack), medians over {} rounds; latency: enqueue call to ack return; CPU: this process plus the database's server processes (PostgreSQL backends of the run's database, redis-server), per message.",
        args.rounds
    );
}
