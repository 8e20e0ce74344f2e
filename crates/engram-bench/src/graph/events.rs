//! Event streams: appends (batched, and one durable append at a time) and
//! range reads through `Space::append` / `Space::read_stream`, against plain
//! SQLite inserts into an events table and its primary-key range scan.

use super::{GraphArgs, peer_db, scratch};
use engram::{AppendRequest, Engine, EngineConfig, EventInput, ReadDirection, Space};
use rand::{Rng, SeedableRng};
use rusqlite::Connection;
use serde_json::{Value, json};
use std::time::Instant;

const RANGE_READS: usize = 2_000;
/// Events per range read (written into the peer's SQL as a literal too).
const RANGE_LEN: usize = 100;

fn event(n: usize) -> EventInput {
    EventInput::new(
        "observed",
        json!({"n": n, "agent": "a-17", "text": "the user asked about the weather in Lisbon and was told it is sunny"}),
    )
}

fn engram_append(space: &Space, stream: &str, from: usize, count: usize) {
    let events = (from..from + count).map(event).collect();
    space.append(stream, AppendRequest::new(events)).expect("append");
}

fn sqlite_append(db: &mut Connection, stream: &str, from: usize, count: usize, version: &mut i64) {
    let tx = db.transaction().expect("transaction");
    {
        let mut stmt = tx.prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5)").expect("prepare");
        for n in from..from + count {
            *version += 1;
            let e = event(n);
            let data = serde_json::to_string(&e.data).expect("json");
            let at =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            stmt.execute((stream, *version, &e.event_type, data, at)).expect("insert");
        }
    }
    tx.commit().expect("commit");
}

/// One row as a user of SQLite would read it: the data parsed.
struct Row {
    _version: i64,
    _event_type: String,
    _data: Value,
    _at: i64,
}

fn sqlite_range(db: &Connection, stream: &str, from: i64) -> usize {
    let mut stmt = db
        .prepare_cached(
            // LIMIT as a literal: a bound LIMIT makes SQLite re-prepare the
            // statement on every run.
            "SELECT version, type, data, at FROM events WHERE stream = ?1 AND version >= ?2 ORDER BY version LIMIT 100",
        )
        .expect("prepare");
    let rows: Vec<Row> = stmt
        .query_map((stream, from), |r| {
            let data: String = r.get(2)?;
            Ok(Row {
                _version: r.get(0)?,
                _event_type: r.get(1)?,
                _data: serde_json::from_str(&data).unwrap_or(Value::Null),
                _at: r.get(3)?,
            })
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    rows.len()
}

fn rate(n: usize, secs: f64) -> f64 {
    n as f64 / secs
}

fn line(what: &str, e: f64, s: f64, goal: &str) {
    println!("{what:<34} Engram {e:>10.0} events/s | SQLite {s:>10.0} events/s | ratio {:.2}x (goal {goal})", e / s);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn run(args: &GraphArgs) {
    let dir = scratch(args, "events-");
    let engine = Engine::open(EngineConfig::dir(dir.path().join("engram"))).expect("open engine");
    engine.create_space("ev").expect("space");
    let space = engine.space("ev").expect("space");
    let mut db = peer_db(&dir.path().join("peer.db"));
    db.execute_batch(
        "CREATE TABLE events(stream TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (stream, version)) WITHOUT ROWID",
    )
    .expect("peer schema");
    let (mut batched, mut single) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    let mut versions = vec![0i64; args.rounds * 2];
    for round in 0..args.rounds {
        let (stream, one) = (format!("batched-{round}"), format!("single-{round}"));
        let engram_batched = || {
            let t = Instant::now();
            for from in (0..args.events).step_by(args.batch) {
                engram_append(&space, &stream, from, args.batch.min(args.events - from));
            }
            rate(args.events, t.elapsed().as_secs_f64())
        };
        let e = engram_batched();
        let t = Instant::now();
        for from in (0..args.events).step_by(args.batch) {
            sqlite_append(&mut db, &stream, from, args.batch.min(args.events - from), &mut versions[round * 2]);
        }
        let s = rate(args.events, t.elapsed().as_secs_f64());
        batched.0.push(e);
        batched.1.push(s);
        let t = Instant::now();
        for n in 0..args.single_events {
            sqlite_append(&mut db, &one, n, 1, &mut versions[round * 2 + 1]);
        }
        let s = rate(args.single_events, t.elapsed().as_secs_f64());
        let t = Instant::now();
        for n in 0..args.single_events {
            engram_append(&space, &one, n, 1);
        }
        let e = rate(args.single_events, t.elapsed().as_secs_f64());
        single.0.push(e);
        single.1.push(s);
        println!(
            "round {round}: batched {:.2}x, single {:.2}x",
            batched.0[round] / batched.1[round],
            single.0[round] / single.1[round]
        );
    }
    line(&format!("append, batches of {}", args.batch), median(batched.0), median(batched.1), ">= 0.8x");
    line("append, one durable append at a time", median(single.0), median(single.1), ">= 0.8x");
    // Range reads of RANGE_LEN events from random versions of a full stream.
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let starts: Vec<u64> = (0..RANGE_READS).map(|_| rng.random_range(1..=(args.events - RANGE_LEN) as u64)).collect();
    let (mut er, mut sr) = (Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        let t = Instant::now();
        let mut n = 0;
        for &v in &starts {
            n += space.read_stream("batched-0", Some(v), ReadDirection::Forward, RANGE_LEN).expect("read").events.len();
        }
        er.push(rate(n, t.elapsed().as_secs_f64()));
        let t = Instant::now();
        let mut m = 0;
        for &v in &starts {
            m += sqlite_range(&db, "batched-0", v as i64);
        }
        sr.push(rate(m, t.elapsed().as_secs_f64()));
        assert_eq!(n, m, "both sides read the same number of events");
    }
    line(&format!("range read, {RANGE_LEN} events from a random version"), median(er), median(sr), ">= 1.0x");
    engine.close();
}
