//! `engram-bench audit`: the cost of audit receipts over a durable SQLite
//! engine's log of N entries: the first tree head (which reads the whole
//! log once to cache chunk roots), then receipt generation (inclusion proof
//! and Ed25519 signature, from the cache), offline receipt verification,
//! consistency proofs, and the full audit of rows against the log, as rates.
//! There is no peer in the process to compare with (a transparency log
//! such as Trillian runs as its own service), so these are plain rates.

use clap::Parser;
use engram::{Engine, EngineConfig};
use engram_core::audit::{Checkpoint, PublicKey, Receipt, ReceiptEntry, SigningKey, hex};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Parser)]
#[command(name = "engram-bench audit")]
pub struct AuditArgs {
    /// Scratch parent directory.
    #[arg(long, default_value = "target/bench-audit")]
    pub dir: PathBuf,
    /// Change-log entries (documents written in bulk transactions of 10,000).
    #[arg(long, default_value_t = 200_000)]
    pub entries: usize,
    /// Receipts generated and verified.
    #[arg(long, default_value_t = 2_000)]
    pub receipts: usize,
}

fn rate(n: usize, started: Instant) -> f64 {
    n as f64 / started.elapsed().as_secs_f64()
}

pub fn main(argv: Vec<String>) {
    let args = AuditArgs::parse_from(argv);
    println!("command: {}", std::env::args().collect::<Vec<_>>().join(" "));
    std::fs::create_dir_all(&args.dir).expect("scratch directory");
    let scratch = tempfile::tempdir_in(&args.dir).expect("scratch");
    let engine = Engine::open(EngineConfig::dir(scratch.path())).expect("engine");
    engine.create_space("bench").expect("space");
    let space = engine.space("bench").expect("space");
    let started = Instant::now();
    let mut written = 0;
    while written < args.entries {
        let n = (args.entries - written).min(10_000);
        let docs = (written..written + n).map(|i| (format!("d{i:08}"), json!({"i": i, "text": "an agent's note"})));
        space.bulk_put("notes", docs.collect(), None).expect("bulk");
        written += n;
    }
    println!("wrote {written} documents in {:.1} s", started.elapsed().as_secs_f64());
    let (key, _) = SigningKey::generate().expect("key");
    let public = PublicKey::from_hex(&key.public_key()).expect("public key");

    let started = Instant::now();
    let head = space.audit_head(None).expect("head");
    println!(
        "first tree head over {} entries (reads the log once): {:.2} s",
        head.tree_size,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let again = space.audit_head(None).expect("head");
    println!("tree head from the cached chunk roots: {:.2} ms", started.elapsed().as_secs_f64() * 1e3);
    assert_eq!(again, head);

    let mut rng = StdRng::seed_from_u64(7);
    let positions: Vec<u64> = (0..args.receipts).map(|_| rng.random_range(1..=head.tree_size)).collect();
    let started = Instant::now();
    let receipts: Vec<Receipt> = positions
        .iter()
        .map(|&p| {
            let (entry, th, proof) = space.audit_inclusion(p, Some(head.tree_size)).expect("inclusion");
            Receipt {
                entry: ReceiptEntry::of(&entry),
                checkpoint: Checkpoint::sign(&key, "bench", space.id(), th.tree_size, &th.root, &th.head_hash, 0),
                inclusion_proof: proof.iter().map(|h| hex(h)).collect(),
            }
        })
        .collect();
    println!("receipts generated: {:.0}/s ({} receipts)", rate(receipts.len(), started), receipts.len());
    let started = Instant::now();
    for r in &receipts {
        r.verify(&public).expect("verifies");
    }
    println!("receipts verified offline: {:.0}/s", rate(receipts.len(), started));
    let started = Instant::now();
    for &p in positions.iter().take(args.receipts / 2) {
        space.audit_consistency(p, None).expect("consistency");
    }
    println!("consistency proofs generated: {:.0}/s", rate(args.receipts / 2, started));
    let started = Instant::now();
    let report = space.audit_rows().expect("audit");
    println!(
        "full audit (chain + {} documents against the log): {:.2} s, {:.0} entries/s",
        report.documents,
        started.elapsed().as_secs_f64(),
        rate(report.entries as usize, started)
    );
    engine.close();
}
