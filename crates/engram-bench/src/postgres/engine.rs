//! The Engram side: engines on PostgreSQL (one schema of the run's
//! database per measurement) and on SQLite (a data directory), with the
//! benchmark space and collection.

use super::Target;
use engram::{CollectionSpec, Engine, EngineConfig, Space, WriteOptions};
use engram_core::hlc::SystemClock;
use engram_postgres::{PostgresBackend, PostgresOptions};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

const SPACE: &str = "bench";
pub const COLLECTION: &str = "docs";

/// An engine with its benchmark space, and the PostgreSQL backend's commit
/// counters when it runs on PostgreSQL.
pub struct Store {
    pub space: Space,
    engine: Engine,
    pg: Option<Arc<PostgresBackend>>,
}

impl Store {
    /// An engine (one "server") over the target's schema, as the testkit's
    /// shared fixture opens one: `Engine::with_backend` over
    /// `PostgresBackend::open`. The first creates the space and collection;
    /// the others open them.
    pub fn postgres(target: &Target, write_connections: usize, index_dir: &Path) -> Self {
        let opts = PostgresOptions {
            schema: target.schema.clone(),
            write_connections,
            ..PostgresOptions::new(target.url.clone())
        };
        let backend = Arc::new(PostgresBackend::open(opts).expect("open the PostgreSQL backend"));
        let config = EngineConfig { search_index_dir: Some(index_dir.to_path_buf()), ..EngineConfig::memory() };
        let engine = Engine::with_backend(backend.clone(), Arc::new(SystemClock), config).expect("open the engine");
        Self::with_space(engine, Some(backend))
    }

    /// `Engine::open(EngineConfig::dir(dir))`: Engram on SQLite with its defaults.
    pub fn sqlite(dir: &Path) -> Self {
        let engine = Engine::open(EngineConfig::dir(dir)).expect("open the SQLite engine");
        Self::with_space(engine, None)
    }

    fn with_space(engine: Engine, pg: Option<Arc<PostgresBackend>>) -> Self {
        if engine.space(SPACE).is_err() {
            engine.create_space(SPACE).expect("create the benchmark space");
        }
        let space = engine.space(SPACE).expect("open the benchmark space");
        if space.create_collection(COLLECTION, CollectionSpec::default()).is_err() {
            // Another server created it first.
            space.count(COLLECTION, &serde_json::json!({})).expect("the collection exists");
        }
        Self { space, engine, pg }
    }

    /// (commits, writes) of the PostgreSQL writer so far.
    pub fn commits(&self) -> Option<(u64, u64)> {
        self.pg.as_ref().map(|b| {
            let s = b.stats();
            (s.commits, s.jobs)
        })
    }

    /// The engine's counters (write transactions, commit batching).
    pub fn stats(&self) -> engram::EngineStats {
        self.engine.stats()
    }

    pub fn close(self) {
        let Self { space, engine, pg } = self;
        drop(space);
        engine.close();
        drop(pg);
    }
}

/// One `bulk_put` (one transaction) per chunk.
pub fn bulk_insert(space: &Space, chunks: Vec<Vec<(String, Value)>>) {
    for chunk in chunks {
        space.bulk_put(COLLECTION, chunk, None).expect("bulk put");
    }
}

/// `Space::get` of every id; returns the checksum.
pub fn point_gets(space: &Space, ids: &[&str]) -> u64 {
    ids.iter().map(|id| crate::data::checksum_of(&space.get(COLLECTION, id).expect("get a document").body)).sum()
}

/// One durable single-document write.
pub fn put(space: &Space, id: &str, body: Value) {
    space.put(COLLECTION, id, body, WriteOptions::default()).expect("put");
}
