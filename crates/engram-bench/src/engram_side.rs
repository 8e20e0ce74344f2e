//! The Engram side: the real engine on a data directory, SQLite underneath
//! with its default (durable) options.

use crate::data::{Doc, checksum_of};
use engram::{CollectionSpec, Engine, EngineConfig, Space, WriteOptions};
use engram_core::hlc::SystemClock;
use engram_sqlite::{SqliteBackend, WriterStats};
use std::path::Path;
use std::sync::{Arc, Barrier};

/// The space and collection every workload writes to.
const SPACE: &str = "bench";
pub const COLLECTION: &str = "docs";

/// An open engine with its benchmark space, and the backend for its
/// group-commit counters.
pub struct EngramStore {
    pub space: Space,
    backend: Arc<SqliteBackend>,
    engine: Engine,
}

impl EngramStore {
    /// Opens a fresh store in `dir`. This is what [`Engine::open`] does for
    /// `EngineConfig::dir(dir)` (same file, same default SQLite options: WAL,
    /// synchronous=FULL), except that the data directory's LOCK file is not
    /// taken; the backend is kept to read its commit counters.
    pub fn open(dir: &Path) -> Self {
        let config = EngineConfig::dir(dir);
        let db = dir.join(engram::datadir::DB_FILE);
        let backend = Arc::new(SqliteBackend::open(&db, config.sqlite.clone()).expect("open the SQLite backend"));
        let engine = Engine::with_backend(backend.clone(), Arc::new(SystemClock), config).expect("open the engine");
        engine.create_space(SPACE).expect("create the benchmark space");
        let space = engine.space(SPACE).expect("open the benchmark space");
        space.create_collection(COLLECTION, CollectionSpec::default()).expect("create the collection");
        Self { space, backend, engine }
    }

    /// Batch transactions committed and writes they held, so far.
    pub fn stats(&self) -> WriterStats {
        self.backend.stats()
    }

    /// Stops the engine; the backend checkpoints and closes as it drops.
    pub fn close(self) {
        let Self { space, backend, engine } = self;
        drop(space);
        engine.close();
        drop(backend);
    }
}

/// Bulk insert: one `bulk_put` (one transaction) per chunk.
pub fn bulk_insert(space: &Space, chunks: Vec<Vec<Doc>>) {
    for chunk in chunks {
        space.bulk_put(COLLECTION, chunk, None).expect("bulk put");
    }
}

/// Point gets of `ids[n]` for every `n` in `gets`; returns the checksum.
pub fn point_gets(space: &Space, ids: &[String], gets: &[usize]) -> u64 {
    gets.iter().map(|&n| checksum_of(&space.get(COLLECTION, &ids[n]).expect("get a document").body)).sum()
}

/// Single durable writes one at a time: one `put` (one commit) each.
pub fn sequential_puts(space: &Space, docs: Vec<Doc>) {
    for (id, body) in docs {
        space.put(COLLECTION, &id, body, WriteOptions::default()).expect("put");
    }
}

/// Every writer thread runs its own documents' puts one at a time, all
/// starting together; returns once every thread has finished.
pub fn concurrent_puts(space: &Space, per_writer: Vec<Vec<Doc>>) {
    let start = Arc::new(Barrier::new(per_writer.len()));
    let threads: Vec<_> = per_writer
        .into_iter()
        .map(|docs| {
            let (space, start) = (space.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                sequential_puts(&space, docs);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("an Engram writer thread panicked");
    }
}
