//! Engines on each backend, with a manual clock and a way to reopen.

use crate::clock::ManualClock;
use crate::postgres::TestDatabase;
use engram::{Engine, EngineConfig};
use engram_core::memory::MemoryBackend;
use engram_postgres::{PostgresBackend, PostgresOptions};
use engram_sqlite::{SqliteBackend, SqliteOptions};
use std::sync::Arc;
use std::time::Duration;

/// An engine under test and how to reopen its storage.
pub struct Fixture {
    pub engine: Engine,
    pub clock: Arc<ManualClock>,
    /// Reopens the same storage (after the engine is dropped); `None` for
    /// backends that keep nothing.
    reopen: Option<Box<dyn Fn(Arc<ManualClock>) -> Engine>>,
    /// Where the engine saves search index files, when it does.
    pub search_dir: Option<std::path::PathBuf>,
    _dir: Option<tempfile::TempDir>,
    /// Dropped last, after the engine has closed its connections.
    _database: Option<TestDatabase>,
}

impl Fixture {
    /// Drops the engine and opens the same storage again, if possible.
    pub fn reopen(mut self) -> Option<Self> {
        let reopen = self.reopen.take()?;
        drop(self.engine);
        let engine = reopen(self.clock.clone());
        Some(Self {
            engine,
            clock: self.clock,
            reopen: Some(reopen),
            search_dir: self.search_dir,
            _dir: self._dir,
            _database: self._database,
        })
    }
}

/// Background purging is off in fixtures: tests call `purge_expired`.
fn config() -> EngineConfig {
    let mut c = EngineConfig::memory();
    c.purge_interval = Duration::from_secs(3600);
    c.embedders = crate::words_embedder::test_embedders();
    c
}

pub fn memory_fixture(clock: Arc<ManualClock>) -> Fixture {
    let engine = Engine::with_backend(Arc::new(MemoryBackend::new()), clock.clone(), config()).expect("memory engine");
    Fixture { engine, clock, reopen: None, search_dir: None, _dir: None, _database: None }
}

pub fn sqlite_fixture(clock: Arc<ManualClock>) -> Fixture {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("engram.db");
    let search = dir.path().join("search");
    let search_dir = Some(search.clone());
    let open = move |clock: Arc<ManualClock>| {
        let backend = SqliteBackend::open(&path, SqliteOptions::default()).expect("open sqlite");
        let config = EngineConfig { search_index_dir: Some(search.clone()), ..config() };
        Engine::with_backend(Arc::new(backend), clock, config).expect("sqlite engine")
    };
    let engine = open(clock.clone());
    Fixture { engine, clock, reopen: Some(Box::new(open)), search_dir, _dir: Some(dir), _database: None }
}

/// An engine on a fresh PostgreSQL database (see [`TestDatabase`]); reopening
/// starts a new backend on the same database. Tests call
/// [`crate::postgres::postgres_available`] first.
pub fn postgres_fixture(clock: Arc<ManualClock>) -> Fixture {
    let database = TestDatabase::create();
    let dir = tempfile::tempdir().expect("temporary directory");
    let search = dir.path().join("search");
    let search_dir = Some(search.clone());
    let url = database.url().to_owned();
    let open = move |clock: Arc<ManualClock>| {
        let backend = PostgresBackend::open(PostgresOptions::new(url.clone())).expect("open postgres");
        let config = EngineConfig { search_index_dir: Some(search.clone()), ..config() };
        Engine::with_backend(Arc::new(backend), clock, config).expect("postgres engine")
    };
    let engine = open(clock.clone());
    Fixture { engine, clock, reopen: Some(Box::new(open)), search_dir, _dir: Some(dir), _database: Some(database) }
}
