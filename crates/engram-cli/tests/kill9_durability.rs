//! Durability under SIGKILL: `engram serve` is killed with SIGKILL in the
//! middle of a mixed concurrent load (puts, conditional updates, merge
//! patches, deletes, transactions, idempotent writes), verified, restarted,
//! a few times over on one data directory — a short run of the crash loop
//! (`crates/engram-crashloop`, which CI also runs for 100 cycles).

use engram_crashloop::{Config, run};
use std::time::{SystemTime, UNIX_EPOCH};

/// Kill-verify-restart cycles: a few, to keep the test fast.
const CYCLES: usize = 5;

fn seed() -> u64 {
    match std::env::var("ENGRAM_TEST_SEED") {
        Ok(s) => s.parse().expect("ENGRAM_TEST_SEED is a u64"),
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64),
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let seed = seed();
    println!("kill9 seed: {seed} (set ENGRAM_TEST_SEED={seed} to reuse it)");
    let config = Config {
        cycles: CYCLES,
        seed,
        kill_after_ms: 50..=300,
        progress_every: 1,
        ..Config::new(env!("CARGO_BIN_EXE_engram"))
    };
    let report = run(config).unwrap_or_else(|e| panic!("the crash loop could not run: {e}"));
    println!("{}\n{report}", report.details());
    assert!(report.acknowledged > 0, "no write was acknowledged");
    assert!(report.unknown_outcomes > 0, "the kills never caught a writer mid-request");
    assert!(report.clean(), "{report}; seed {seed}; problems: {:#?}", report.problems);
}
