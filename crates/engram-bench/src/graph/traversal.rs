//! WordNet traversals: the 2-hop neighbourhood (every edge type, outward)
//! and all ancestors (transitive hypernyms), through `Space::neighbors`
//! against recursive CTEs on an indexed SQLite adjacency table. Both sides
//! answer every query, and the answers are compared as sets.

use super::{GraphArgs, peer_db, percentile, scratch, wordnet};
use engram::{EdgeInput, Engine, EngineConfig, NeighborsRequest, NodeRef, Space};
use rusqlite::Connection;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Instant;

const COLL: &str = "synsets";
const ANCESTOR_TYPES: [&str; 2] = ["hypernym", "instance_hypernym"];
const LOAD_BATCH: usize = 5_000;
const WARMUP_QUERIES: usize = 100;

const TWO_HOP_SQL: &str = "WITH RECURSIVE r(n, d) AS (SELECT ?1, 0 UNION SELECT e.dst, r.d + 1 FROM r JOIN edges e ON e.src = r.n WHERE r.d < 2) SELECT DISTINCT n FROM r WHERE n <> ?1";
const ANCESTORS_SQL: &str = "WITH RECURSIVE r(n) AS (SELECT ?1 UNION SELECT e.dst FROM r JOIN edges e ON e.src = r.n AND e.type IN ('hypernym', 'instance_hypernym')) SELECT n FROM r WHERE n <> ?1";

#[derive(Clone, Copy)]
enum Query {
    TwoHop,
    Ancestors,
}

impl Query {
    fn name(self) -> &'static str {
        match self {
            Self::TwoHop => "two_hop",
            Self::Ancestors => "ancestors",
        }
    }
}

fn load_engram(space: &Space, wn: &wordnet::WordNet) {
    for chunk in wn.nodes.chunks(LOAD_BATCH) {
        let docs = chunk.iter().map(|(id, lemma)| (id.clone(), json!({"lemma": lemma}))).collect();
        space.bulk_put(COLL, docs, None).expect("load synsets");
    }
    for chunk in wn.edges.chunks(LOAD_BATCH) {
        space
            .transaction(|b| {
                for (f, t, to) in chunk {
                    b.link(EdgeInput::new(NodeRef::new(COLL, f), t, NodeRef::new(COLL, to)));
                }
                Ok(())
            })
            .expect("load edges");
    }
}

fn load_sqlite(db: &mut Connection, wn: &wordnet::WordNet) {
    db.execute_batch(
        "CREATE TABLE nodes(id TEXT PRIMARY KEY, lemma TEXT NOT NULL) WITHOUT ROWID;
         CREATE TABLE edges(src TEXT NOT NULL, type TEXT NOT NULL, dst TEXT NOT NULL, PRIMARY KEY (src, type, dst)) WITHOUT ROWID;
         CREATE INDEX edges_dst ON edges(dst, type);",
    )
    .expect("peer schema");
    let tx = db.transaction().expect("peer load transaction");
    {
        let mut n = tx.prepare("INSERT INTO nodes VALUES (?1, ?2)").expect("prepare");
        for (id, lemma) in &wn.nodes {
            n.execute((id, lemma)).expect("insert node");
        }
        let mut e = tx.prepare("INSERT INTO edges VALUES (?1, ?2, ?3)").expect("prepare");
        for (f, t, to) in &wn.edges {
            e.execute((f, t, to)).expect("insert edge");
        }
    }
    tx.commit().expect("commit peer load");
    db.execute_batch("ANALYZE").expect("analyze");
}

fn engram_query(space: &Space, q: Query, start: &str) -> Vec<String> {
    let mut req = NeighborsRequest { limit: Some(10_000), ..NeighborsRequest::new(NodeRef::new(COLL, start), 2) };
    if let Query::Ancestors = q {
        req.depth = 32;
        req.types = ANCESTOR_TYPES.iter().map(|t| (*t).to_owned()).collect();
    }
    let r = space.neighbors(&req).expect("neighbors");
    assert!(!r.truncated, "a benchmark query was truncated");
    r.nodes.into_iter().map(|n| n.node.id).collect()
}

fn sqlite_query(db: &Connection, q: Query, start: &str) -> Vec<String> {
    let sql = match q {
        Query::TwoHop => TWO_HOP_SQL,
        Query::Ancestors => ANCESTORS_SQL,
    };
    let mut stmt = db.prepare_cached(sql).expect("prepare");
    stmt.query_map([start], |r| r.get::<_, String>(0)).expect("query").collect::<Result<_, _>>().expect("rows")
}

fn set(v: &[String]) -> BTreeSet<&str> {
    v.iter().map(String::as_str).collect()
}

/// Compares the answers on every query; Kùzu's (first 50) when present.
fn verify(args: &GraphArgs, space: &Space, db: &Connection, queries: &[String]) {
    let kuzu: Option<Value> =
        std::fs::read(args.data.join("kuzu_results.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let mut checked = 0;
    for q in [Query::TwoHop, Query::Ancestors] {
        for start in queries {
            let (e, s) = (engram_query(space, q, start), sqlite_query(db, q, start));
            assert_eq!(set(&e), set(&s), "{} from {start}: Engram and SQLite disagree", q.name());
            assert_eq!(e.len(), set(&e).len(), "Engram returned a node twice");
            checked += 1;
        }
        let Some(k) = kuzu.as_ref().and_then(|k| k["queries"].as_array()) else { continue };
        for item in k {
            let start = item["start"].as_str().expect("start");
            let want: BTreeSet<&str> =
                item[q.name()].as_array().expect("ids").iter().map(|v| v.as_str().expect("id")).collect();
            assert_eq!(
                set(&engram_query(space, q, start)),
                want,
                "{} from {start}: Engram and Kùzu disagree",
                q.name()
            );
            checked += 1;
        }
    }
    println!("verified: {checked} answers equal across Engram, SQLite (all queries) and Kùzu (first 50 when present)");
}

pub fn run(args: &GraphArgs) {
    let wn = wordnet::load(&args.data);
    println!("WordNet: {} synsets, {} typed edges, {} queries", wn.nodes.len(), wn.edges.len(), wn.queries.len());
    let dir = scratch(args, "graph-");
    let engine = Engine::open(EngineConfig::dir(dir.path().join("engram"))).expect("open engine");
    engine.create_space("wn").expect("space");
    let space = engine.space("wn").expect("space");
    let t = Instant::now();
    load_engram(&space, &wn);
    let engram_load = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut db = peer_db(&dir.path().join("peer.db"));
    load_sqlite(&mut db, &wn);
    let sqlite_load = t.elapsed().as_secs_f64();
    let t = Instant::now();
    engram_query(&space, Query::TwoHop, &wn.queries[0]);
    println!(
        "load: Engram {engram_load:.1} s (durable documents + edges), SQLite {sqlite_load:.1} s (one transaction); first traversal (builds the adjacency) {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let queries = &wn.queries[..args.queries.min(wn.queries.len())];
    verify(args, &space, &db, queries);
    for q in [Query::TwoHop, Query::Ancestors] {
        for start in queries.iter().take(WARMUP_QUERIES) {
            engram_query(&space, q, start);
            sqlite_query(&db, q, start);
        }
        let (mut e_us, mut s_us) = (Vec::new(), Vec::new());
        let mut results = 0usize;
        for round in 0..args.rounds {
            for (i, start) in queries.iter().enumerate() {
                let mut time_engram = || {
                    let t = Instant::now();
                    let n = engram_query(&space, q, start).len();
                    e_us.push(t.elapsed().as_secs_f64() * 1e6);
                    n
                };
                let mut time_sqlite = || {
                    let t = Instant::now();
                    let n = sqlite_query(&db, q, start).len();
                    s_us.push(t.elapsed().as_secs_f64() * 1e6);
                    n
                };
                // Alternate which side goes first.
                if (i + round) % 2 == 0 {
                    results += time_engram();
                    time_sqlite();
                } else {
                    time_sqlite();
                    results += time_engram();
                }
            }
        }
        e_us.sort_by(f64::total_cmp);
        s_us.sort_by(f64::total_cmp);
        let (e50, e99, s50, s99) =
            (percentile(&e_us, 50.0), percentile(&e_us, 99.0), percentile(&s_us, 50.0), percentile(&s_us, 99.0));
        println!(
            "{:<10} Engram p50 {e50:>8.1} µs p99 {e99:>8.1} µs | SQLite CTE p50 {s50:>8.1} µs p99 {s99:>8.1} µs | latency ratio Engram/SQLite p50 {:.2}x p99 {:.2}x (goal <= 2x) | mean result {:.1} nodes",
            q.name(),
            e50 / s50,
            e99 / s99,
            results as f64 / (queries.len() * args.rounds) as f64
        );
    }
    engine.close();
}
