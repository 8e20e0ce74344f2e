//! Several engines over one database, as several servers run in
//! production: the fixture of the shared write path's tests.

use crate::clock::ManualClock;
use crate::postgres::TestDatabase;
use engram::{Engine, EngineConfig};
use engram_postgres::{PostgresBackend, PostgresOptions};
use std::sync::Arc;
use std::time::Duration;

/// Engines sharing one fresh PostgreSQL database, each with its own clock
/// and its own search-index directory (as separate processes would have).
pub struct SharedEngines {
    pub engines: Vec<Engine>,
    pub clocks: Vec<Arc<ManualClock>>,
    _dirs: Vec<tempfile::TempDir>,
    // Dropped last: the engines' connections go first.
    _database: TestDatabase,
}

impl SharedEngines {
    /// Engine `i`'s search index directory.
    pub fn search_dir(&self, i: usize) -> std::path::PathBuf {
        self._dirs[i].path().join("search")
    }

    /// `n` engines on one new database; engine `i`'s clock starts at
    /// `start_ms[i]` (clocks that disagree, as servers' clocks do).
    pub fn open(start_ms: &[u64]) -> Self {
        let database = TestDatabase::create();
        let (mut engines, mut clocks, mut dirs) = (Vec::new(), Vec::new(), Vec::new());
        for &start in start_ms {
            let dir = tempfile::tempdir().expect("temporary directory");
            let clock = Arc::new(ManualClock::new(start));
            let backend = PostgresBackend::open(PostgresOptions::new(database.url())).expect("open postgres");
            let config = EngineConfig {
                search_index_dir: Some(dir.path().join("search")),
                purge_interval: Duration::from_secs(3600),
                ..EngineConfig::memory()
            };
            engines.push(Engine::with_backend(Arc::new(backend), clock.clone(), config).expect("engine"));
            clocks.push(clock);
            dirs.push(dir);
        }
        Self { engines, clocks, _dirs: dirs, _database: database }
    }
}
