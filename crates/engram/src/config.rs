//! Engine configuration.

use engram_sqlite::SqliteOptions;
use std::path::PathBuf;
use std::time::Duration;

/// Default interval of the background purge of expired documents.
pub const PURGE_INTERVAL_MS_DEFAULT: u64 = 1_000;
/// Default interval of the background search indexer.
pub const INDEX_INTERVAL_MS_DEFAULT: u64 = 200;
/// Default longest time a search index's caught-up state stays unsaved.
pub const INDEX_SAVE_INTERVAL_MS_DEFAULT: u64 = 30_000;
/// Default lifetime of an idempotency record.
pub const IDEMPOTENCY_TTL_SECONDS_DEFAULT: u64 = 24 * 3600;

/// Where the engine keeps its data.
#[derive(Debug, Clone)]
pub enum Storage {
    /// Nothing survives the process (tests, the reference model).
    Memory,
    /// One local data directory, SQLite underneath.
    Dir(PathBuf),
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub storage: Storage,
    pub sqlite: SqliteOptions,
    /// How often expired documents are purged (they are invisible at once).
    pub purge_interval: Duration,
    /// How often the background indexer catches search indexes up with the
    /// change log (searches also catch up themselves before answering).
    pub index_interval: Duration,
    /// How long applied change-log entries may stay unsaved in a search
    /// index file (they are replayed from the log after a crash).
    pub index_save_interval: Duration,
    pub idempotency_ttl_seconds: u64,
    /// Where search index files are saved. Defaults to `search/` in the
    /// data directory; `None` with in-memory storage keeps them in memory
    /// only (rebuilt from the records at each open).
    pub search_index_dir: Option<PathBuf>,
    /// The store search index files go through, overriding
    /// `search_index_dir` (tests put fault-injecting stores here).
    pub search_index_store: Option<std::sync::Arc<dyn crate::search::store::IndexStore>>,
    /// What the data-directory lock records about its holder.
    pub holder_command: String,
    /// The embedders collections' embedded vector fields name.
    pub embedders: engram_core::embed::Embedders,
}

impl EngineConfig {
    pub fn dir(path: impl Into<PathBuf>) -> Self {
        Self { storage: Storage::Dir(path.into()), ..Self::memory() }
    }
    pub fn memory() -> Self {
        Self {
            storage: Storage::Memory,
            sqlite: SqliteOptions::default(),
            purge_interval: Duration::from_millis(PURGE_INTERVAL_MS_DEFAULT),
            index_interval: Duration::from_millis(INDEX_INTERVAL_MS_DEFAULT),
            index_save_interval: Duration::from_millis(INDEX_SAVE_INTERVAL_MS_DEFAULT),
            idempotency_ttl_seconds: IDEMPOTENCY_TTL_SECONDS_DEFAULT,
            search_index_dir: None,
            search_index_store: None,
            holder_command: "engram (library)".into(),
            embedders: engram_core::embed::Embedders::default(),
        }
    }
}
