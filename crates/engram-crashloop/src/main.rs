//! `engram-crashloop`: kills `engram serve` with SIGKILL under load, cycle
//! after cycle, and checks that nothing acknowledged was lost. Exits 1 when
//! something was lost, diverged or split, 2 when the loop could not run.

use clap::Parser;
use engram_crashloop::{Config, Database, run};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Crash loop: start `engram serve` on a fresh data directory, write from
/// many clients, SIGKILL it at a random moment, verify the data directory
/// against every acknowledged write, restart; repeat.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The `engram` binary [default: the `engram` beside this executable,
    /// e.g. target/debug/engram]
    #[arg(long)]
    engram_bin: Option<PathBuf>,
    /// Kill-verify-restart cycles.
    #[arg(long, default_value_t = 100)]
    cycles: usize,
    /// Seed of every random choice [default: random; always printed].
    #[arg(long)]
    seed: Option<u64>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    writers: usize,
    /// Shortest delay from the start of the writes to the kill.
    #[arg(long, default_value_t = 30)]
    kill_min_ms: u64,
    /// Longest delay from the start of the writes to the kill.
    #[arg(long, default_value_t = 300)]
    kill_max_ms: u64,
    /// Data directory, kept afterwards (must not exist or be empty)
    /// [default: a temporary directory, removed afterwards].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Print a progress line every this many cycles (0: never).
    #[arg(long, default_value_t = 10)]
    progress_every: usize,
    /// Keep the data in this PostgreSQL database (an empty one; the server
    /// runs with `--database`).
    #[arg(long, conflicts_with = "disposable_database")]
    database: Option<String>,
    /// Start a PostgreSQL server of the loop's own (initdb, pg_ctl) and
    /// crash it too, after the server's kill, in `--database-crash-share`
    /// of the cycles.
    #[arg(long)]
    disposable_database: bool,
    /// Share of cycles that also crash the disposable database.
    #[arg(long, default_value_t = 0.3)]
    database_crash_share: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(rand::random);
    let bin = match args.engram_bin.clone().map_or_else(default_engram, Ok) {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    println!(
        "crash loop: seed {seed} (rerun with --seed {seed}), {} cycles, {} writers, kills {}–{} ms in, {}",
        args.cycles,
        args.writers,
        args.kill_min_ms,
        args.kill_max_ms,
        bin.display()
    );
    // Kept alive for the whole run (stopped when dropped).
    let disposable = if args.disposable_database {
        let base = std::env::temp_dir().join("engram-crashloop-pg");
        match engram_testkit::disposable::DisposablePostgres::start(&base) {
            Some(pg) => Some(Arc::new(pg)),
            None => return fail("no PostgreSQL server programs to start a disposable database"),
        }
    } else {
        None
    };
    let database = match (&args.database, &disposable) {
        (Some(url), _) => Some(Database { url: url.clone(), crash: None, crash_share: 0.0 }),
        (None, Some(pg)) => {
            let pg2 = pg.clone();
            let crash: Arc<dyn Fn() -> Result<(), String> + Send + Sync> = Arc::new(move || {
                pg2.stop_immediately();
                pg2.start_again();
                Ok(())
            });
            Some(Database { url: pg.url(), crash: Some(crash), crash_share: args.database_crash_share })
        }
        (None, None) => None,
    };
    let config = Config {
        database,
        engram_bin: bin,
        cycles: args.cycles,
        seed,
        writers: args.writers,
        data_dir: args.data_dir,
        kill_after_ms: args.kill_min_ms..=args.kill_max_ms,
        progress_every: args.progress_every,
    };
    match run(config) {
        Ok(report) => {
            report.problems.iter().for_each(|p| println!("  {p}"));
            report.messages.problems.iter().for_each(|p| println!("  messages: {p}"));
            println!("{}", report.details());
            println!("{report}");
            if report.clean() { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(e) => fail(&format!("{e} (seed {seed})")),
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("crash loop: error: {msg}");
    ExitCode::from(2)
}

/// The `engram` binary in the same directory as this executable.
fn default_engram() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("locating this executable: {e}"))?;
    let dir = me.parent().ok_or("this executable has no directory")?;
    Ok(dir.join(format!("engram{}", std::env::consts::EXE_SUFFIX)))
}
