//! Durable writes: one at a time (against plain rusqlite and the raw
//! fdatasync rate) and from many concurrent writers (group commit, against
//! Engram's own one-at-a-time rate), all measured in the same rounds.

use crate::args::{Args, Workload};
use crate::data::{self, Doc};
use crate::disk::{self, ProbeWrite, fresh_dir, remove_dir, settle};
use crate::engram_side::{self, COLLECTION, EngramStore};
use crate::measure::{Run, measure};
use crate::peer;
use crate::report::{Comparison, thousands};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;

/// Goal for single durable writes: Engram at least this fraction of the peer.
const SINGLE_GOAL: f64 = 0.8;
/// Goal for group commit: concurrent rate at least this multiple of the
/// one-at-a-time rate.
const GROUP_GOAL: f64 = 10.0;

/// One measured step of a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Step {
    FsyncAppend,
    FsyncOverwrite,
    EngramOneAtATime,
    PeerOneAtATime,
    EngramConcurrent,
    PeerConcurrent,
}

/// The steps this invocation needs, in round-0 order.
fn steps(args: &Args) -> Vec<Step> {
    let mut steps = Vec::new();
    if args.runs(Workload::Single) {
        steps.extend([Step::FsyncAppend, Step::FsyncOverwrite]);
    }
    steps.extend([Step::EngramOneAtATime, Step::PeerOneAtATime]);
    if args.runs(Workload::Group) {
        steps.extend([Step::EngramConcurrent, Step::PeerConcurrent]);
    }
    steps
}

/// Runs every round; returns the comparisons.
pub fn run(args: &Args, scratch: &Path) -> Vec<Comparison> {
    println!(
        "\n== durable writes: {} one at a time; {} concurrent writers x {} each (Engram), x {} each (rusqlite) ==",
        thousands(args.single_writes as u64),
        args.writers,
        args.concurrent_writes_per_writer,
        args.peer_writes_per_writer
    );
    let mut comparisons = comparisons(args);
    let mut order = steps(args);
    for round in 0..args.rounds {
        println!("  round {}: order {order:?}", round + 1);
        let runs: HashMap<Step, Run> = order.iter().map(|&s| (s, run_step(s, args, scratch, round))).collect();
        for (c, (subject, baseline)) in comparisons.iter_mut() {
            c.record(runs[subject], runs[baseline]);
        }
        order.reverse();
    }
    comparisons.into_iter().map(|(c, _)| c).collect()
}

/// The comparisons this invocation makes, each with its (subject, baseline) steps.
fn comparisons(args: &Args) -> Vec<(Comparison, (Step, Step))> {
    let single = format!("single durable writes {}", thousands(args.single_writes as u64));
    let group = format!("{} concurrent writers, durable writes", args.writers);
    let mut out = Vec::new();
    if args.runs(Workload::Single) {
        let c = Comparison::new(&single, "Engram put", "rusqlite 1 row/tx", Some(SINGLE_GOAL));
        out.push((c, (Step::EngramOneAtATime, Step::PeerOneAtATime)));
        let c = Comparison::new(&single, "Engram put", "fdatasync 100 B append", None);
        out.push((c, (Step::EngramOneAtATime, Step::FsyncAppend)));
        let c = Comparison::new(&single, "rusqlite 1 row/tx", "fdatasync 100 B append", None);
        out.push((c, (Step::PeerOneAtATime, Step::FsyncAppend)));
        let c = Comparison::new("fdatasync probe", "100 B overwrite", "100 B append", None);
        out.push((c, (Step::FsyncOverwrite, Step::FsyncAppend)));
    }
    if args.runs(Workload::Group) {
        let c = Comparison::new(&group, "Engram, group commit", "Engram one at a time", Some(GROUP_GOAL));
        out.push((c, (Step::EngramConcurrent, Step::EngramOneAtATime)));
        let c = Comparison::new(&group, "rusqlite, 1 conn each", "rusqlite one at a time", None);
        out.push((c, (Step::PeerConcurrent, Step::PeerOneAtATime)));
        let c = Comparison::new(&group, "Engram, group commit", "rusqlite, 1 conn each", None);
        out.push((c, (Step::EngramConcurrent, Step::PeerConcurrent)));
    }
    out
}

fn run_step(step: Step, args: &Args, scratch: &Path, round: usize) -> Run {
    let dir = fresh_dir(scratch, &format!("durable-{step:?}-{round}"));
    let run = match step {
        Step::FsyncAppend => fsync_probe(&dir, ProbeWrite::Append, args.single_writes),
        Step::FsyncOverwrite => fsync_probe(&dir, ProbeWrite::Overwrite, args.single_writes),
        Step::EngramOneAtATime => engram_writes(&dir, vec![data::tagged_docs("seq", args.single_writes)]),
        Step::PeerOneAtATime => peer_writes(&dir, vec![data::tagged_docs("seq", args.single_writes)], args.peer_rowid),
        Step::EngramConcurrent => engram_writes(&dir, writer_docs(args.writers, args.concurrent_writes_per_writer)),
        Step::PeerConcurrent => {
            peer_writes(&dir, writer_docs(args.writers, args.peer_writes_per_writer), args.peer_rowid)
        }
    };
    remove_dir(&dir);
    println!("    {step:?}: {} ({:.1} µs CPU/op)", crate::report::rate(run.rate()), run.cpu_us_per_op());
    run
}

/// Distinct documents for each concurrent writer.
fn writer_docs(writers: usize, per_writer: usize) -> Vec<Vec<Doc>> {
    (0..writers).map(|w| data::tagged_docs(&format!("w{w}"), per_writer)).collect()
}

fn fsync_probe(dir: &Path, how: ProbeWrite, count: usize) -> Run {
    let mut file = disk::probe_file(dir, how);
    settle();
    measure(count, || disk::fdatasync_loop(&mut file, how, count)).0
}

/// One writer runs its puts one at a time; several run concurrently.
fn engram_writes(dir: &Path, per_writer: Vec<Vec<Doc>>) -> Run {
    let total: usize = per_writer.iter().map(Vec::len).sum();
    let store = EngramStore::open(dir);
    settle();
    let before = store.stats();
    let run = if per_writer.len() == 1 {
        let docs = per_writer.into_iter().flatten().collect();
        measure(total, || engram_side::sequential_puts(&store.space, docs)).0
    } else {
        measure(total, || engram_side::concurrent_puts(&store.space, per_writer)).0
    };
    let after = store.stats();
    let (commits, jobs) = (after.commits - before.commits, after.jobs - before.jobs);
    let rows = store.space.count(COLLECTION, &json!({})).expect("count documents");
    assert_eq!(rows, total as u64, "every Engram write landed");
    println!(
        "    Engram writer: {commits} commits for {jobs} writes: {:.1} writes per commit (one sync each)",
        jobs as f64 / commits.max(1) as f64
    );
    store.close();
    run
}

/// The same with plain rusqlite: one connection, or one per writer thread.
fn peer_writes(dir: &Path, per_writer: Vec<Vec<Doc>>, rowid: bool) -> Run {
    let total: usize = per_writer.iter().map(Vec::len).sum();
    let mut conn = peer::create(dir, rowid);
    settle();
    let run = if per_writer.len() == 1 {
        let docs: Vec<Doc> = per_writer.into_iter().flatten().collect();
        measure(total, || peer::sequential_inserts(&mut conn, &docs)).0
    } else {
        let writers = peer::writer_connections(dir, per_writer.len()).into_iter().zip(per_writer).collect();
        measure(total, || peer::concurrent_inserts(writers)).0
    };
    assert_eq!(peer::count(&conn), total as u64, "every rusqlite write landed");
    run
}
