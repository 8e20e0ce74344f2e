//! Durability on PostgreSQL: `engram serve --database` is killed with
//! SIGKILL under a mixed concurrent load, and in some cycles the database
//! server of the test's own is crashed and restarted too (immediate stop:
//! no checkpoint, crash recovery at start); every acknowledged write must
//! survive, with nothing divergent or partial. A short run of the crash
//! loop, which the scorecard also runs longer.

use engram_crashloop::{Config, Database, run};
use engram_testkit::disposable::DisposablePostgres;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

const CYCLES: usize = 6;

#[test]
fn acknowledged_writes_survive_sigkill_of_the_server_and_a_database_crash() {
    let Some(pg) = DisposablePostgres::start(Path::new(env!("CARGO_TARGET_TMPDIR"))) else { return };
    let pg = Arc::new(pg);
    let seed = match std::env::var("ENGRAM_TEST_SEED") {
        Ok(s) => s.parse().expect("ENGRAM_TEST_SEED is a u64"),
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64),
    };
    println!("kill9 postgres seed: {seed} (set ENGRAM_TEST_SEED={seed} to reuse it)");
    let crashed = pg.clone();
    let crash: Arc<dyn Fn() -> Result<(), String> + Send + Sync> = Arc::new(move || {
        crashed.stop_immediately();
        crashed.start_again();
        Ok(())
    });
    let config = Config {
        cycles: CYCLES,
        seed,
        kill_after_ms: 200..=900,
        progress_every: 1,
        database: Some(Database { url: pg.url(), crash: Some(crash), crash_share: 0.5 }),
        ..Config::new(env!("CARGO_BIN_EXE_engram"))
    };
    let report = run(config).unwrap_or_else(|e| panic!("the crash loop could not run: {e}"));
    println!("{}\n{report}", report.details());
    assert!(report.acknowledged > 0, "no write was acknowledged");
    assert!(report.clean(), "{report}; seed {seed}; problems: {:#?}", report.problems);
}
