//! Server settings.

use crate::limits::Limits;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Default address: loopback only; expose deliberately.
pub const LISTEN_DEFAULT: &str = "127.0.0.1:7171";
/// Default data directory, relative to the working directory.
pub const DATA_DIR_DEFAULT: &str = "engram-data";
/// Largest request body: a full batch of documents plus JSON overhead.
pub const BODY_BYTES_MAX: usize = 40 * 1024 * 1024;

/// What `engram serve` runs with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// This server's directory: the embedded database, API keys and search
    /// index files; with `database`, the search index files only.
    pub data_dir: PathBuf,
    /// A PostgreSQL URL: the data (and the API keys) live there, shared by
    /// every server given the same URL; `None` is the embedded SQLite
    /// database in `data_dir`.
    pub database: Option<String>,
    /// A read replica of `database` (a hot standby): document reads sent
    /// with `Engram-Consistency: eventual` go there.
    pub database_replica: Option<String>,
    /// A Redis URL: per-key request rates are counted there, shared by
    /// every server given it; `None` counts them in this process.
    pub redis: Option<String>,
    /// Longest time search-index progress stays unsaved (replayed from the
    /// change log after a crash); `None` keeps the engine's default.
    pub index_save_interval: Option<std::time::Duration>,
    /// An all-spaces admin key given by the operator (never stored); when
    /// absent and no admin key exists, one is created and printed once.
    pub admin_key: Option<String>,
    pub limits: Limits,
    /// PEM certificate chain and private key: serve HTTPS when both are set.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// How webhooks are delivered.
    pub webhooks: crate::webhooks::WebhookSettings,
    /// Where objects' bytes go: a store URL (`s3://…`, `az://…`, a
    /// directory); `None` is `objects/` in the data directory.
    pub objects: Option<String>,
    /// How long unreferenced bytes are kept before they are collected.
    pub objects_grace: std::time::Duration,
    /// How often the object collector runs.
    pub objects_collect_every: std::time::Duration,
    /// Longest an object upload or download may take.
    pub objects_transfer_timeout: std::time::Duration,
    /// The embedders collections' embedded vector fields name.
    pub embedders: engram_core::embed::Embedders,
    /// The file of the key that signs audit checkpoints (64 hex characters,
    /// an Ed25519 seed); `None` is `audit.key` in the data directory,
    /// created at first start.
    pub audit_key_file: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: LISTEN_DEFAULT.parse().expect("valid default address"),
            data_dir: PathBuf::from(DATA_DIR_DEFAULT),
            database: None,
            database_replica: None,
            redis: None,
            index_save_interval: None,
            admin_key: None,
            limits: Limits::default(),
            tls: None,
            webhooks: crate::webhooks::WebhookSettings::default(),
            objects: None,
            objects_grace: engram_objects::GRACE_DEFAULT,
            objects_collect_every: std::time::Duration::from_secs(60),
            objects_transfer_timeout: std::time::Duration::from_secs(3600),
            embedders: engram_core::embed::Embedders::default(),
            audit_key_file: None,
        }
    }
}
