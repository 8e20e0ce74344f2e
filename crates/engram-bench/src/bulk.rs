//! Bulk insert of many small documents, then random point gets, on both
//! sides in each round (alternating which side goes first).

use crate::args::Args;
use crate::data::{self, Doc};
use crate::disk::{fresh_dir, remove_dir, settle};
use crate::engram_side::{self, COLLECTION, EngramStore};
use crate::measure::{Run, measure};
use crate::peer;
use crate::report::{Comparison, thousands};
use engram::limits::BATCH_OPS_MAX;
use serde_json::json;
use std::path::Path;

/// Documents per transaction on both sides (Engram's bulk limit).
const DOCS_PER_TX: usize = BATCH_OPS_MAX;

/// Goal for bulk inserts: Engram at least this fraction of the peer's rate.
const INSERT_GOAL: f64 = 0.7;
/// Goal for point gets.
const GET_GOAL: f64 = 0.8;

/// The input every side of every round shares.
struct Input {
    docs: Vec<Doc>,
    ids: Vec<String>,
    gets: Vec<usize>,
}

/// What one side did in one round.
struct Outcome {
    insert: Run,
    get: Run,
    /// Sum over the gets of the documents' `i` field.
    checksum: u64,
    rows: u64,
}

/// Runs every round; returns the insert and get comparisons.
pub fn run(args: &Args, scratch: &Path) -> Vec<Comparison> {
    println!(
        "\n== bulk insert of {} documents ({} per transaction, shuffled ids), then {} random point gets ==",
        thousands(args.docs as u64),
        thousands(DOCS_PER_TX as u64),
        thousands(args.gets as u64)
    );
    let input = Input {
        docs: data::shuffled_docs(args.docs, args.seed),
        ids: (0..args.docs).map(data::doc_id).collect(),
        gets: data::random_gets(args.gets, args.docs, args.seed),
    };
    let insert_name = format!("bulk insert {} docs", thousands(args.docs as u64));
    let mut insert = Comparison::new(&insert_name, "Engram bulk_put", "rusqlite INSERT", Some(INSERT_GOAL));
    let get_name = format!("point gets {}", thousands(args.gets as u64));
    let mut get = Comparison::new(&get_name, "Engram get", "rusqlite SELECT + parse", Some(GET_GOAL));
    for round in 0..args.rounds {
        let (engram, peer) = if round % 2 == 0 {
            let e = engram_round(&input, scratch, round);
            (e, peer_round(&input, scratch, round, args.peer_rowid))
        } else {
            let p = peer_round(&input, scratch, round, args.peer_rowid);
            (engram_round(&input, scratch, round), p)
        };
        check_same(&engram, &peer, args.docs);
        insert.record(engram.insert, peer.insert);
        if !input.gets.is_empty() {
            get.record(engram.get, peer.get);
        }
    }
    if input.gets.is_empty() { vec![insert] } else { vec![insert, get] }
}

/// Both sides stored every document and read the same ones back.
fn check_same(engram: &Outcome, peer: &Outcome, docs: usize) {
    assert_eq!((engram.rows, peer.rows), (docs as u64, docs as u64), "both sides store every document");
    assert_eq!(engram.checksum, peer.checksum, "both sides read the same documents");
}

fn engram_round(input: &Input, scratch: &Path, round: usize) -> Outcome {
    let dir = fresh_dir(scratch, &format!("bulk-engram-{round}"));
    let store = EngramStore::open(&dir);
    let chunks = data::chunks(&input.docs, DOCS_PER_TX);
    settle();
    let before = store.stats();
    let (insert, ()) = measure(input.docs.len(), || engram_side::bulk_insert(&store.space, chunks));
    let after = store.stats();
    println!(
        "    Engram writer: {} commits, {} writes during the insert",
        after.commits - before.commits,
        after.jobs - before.jobs
    );
    settle();
    let (get, checksum) = measure(input.gets.len(), || engram_side::point_gets(&store.space, &input.ids, &input.gets));
    let rows = store.space.count(COLLECTION, &json!({})).expect("count documents");
    store.close();
    remove_dir(&dir);
    Outcome { insert, get, checksum, rows }
}

fn peer_round(input: &Input, scratch: &Path, round: usize, rowid: bool) -> Outcome {
    let dir = fresh_dir(scratch, &format!("bulk-peer-{round}"));
    let mut conn = peer::create(&dir, rowid);
    settle();
    let (insert, ()) = measure(input.docs.len(), || peer::bulk_insert(&mut conn, &input.docs, DOCS_PER_TX));
    // A second connection reads while the writing one stays open (its WAL
    // not folded away), as Engram reads through its pool's own connections
    // beside its writer: neither side's reads start from the insert's cache.
    let reader = peer::connect(&peer::db_path(&dir));
    settle();
    let (get, checksum) = measure(input.gets.len(), || peer::point_gets(&reader, &input.ids, &input.gets));
    let rows = peer::count(&reader);
    drop((reader, conn));
    remove_dir(&dir);
    Outcome { insert, get, checksum, rows }
}
