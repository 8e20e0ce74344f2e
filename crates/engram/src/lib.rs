//! Engram: one storage engine for everything an agent platform persists.
//!
//! Open an [`Engine`] on a data directory (SQLite underneath) or in memory,
//! create a space, then read and write documents through its [`Space`]
//! handle. Every mutation appends to the space's hash-chained change log in
//! the same transaction.
//!
//! ```
//! use engram::{Engine, WriteOptions};
//! use serde_json::json;
//! let engine = Engine::in_memory();
//! engine.create_space("acme")?;
//! let space = engine.space("acme")?;
//! space.put("notes", "n1", json!({"text": "hello"}), WriteOptions::default())?;
//! assert_eq!(space.get("notes", "n1")?.body["text"], "hello");
//! # Ok::<(), engram::Error>(())
//! ```

mod actor;
mod apply;
mod audit;
mod catalog;
pub mod config;
pub mod copy;
pub mod datadir;
mod durable_fs;
mod embedding;
mod engine;
mod epoch;
mod facts;
mod feed;
mod follow;
mod graph;
mod idempotent;
#[cfg(feature = "openapi")]
mod json_object;
mod objects;
mod ops;
mod plan;
mod purge;
mod query;
mod queues;
mod rekey;
mod retry;
mod search;
mod space;
mod streams;
mod system;
mod system_many;
mod wake;
mod webhooks;
mod worker;

pub use actor::{ACTOR_BYTES_MAX, Actor, current_actor, set_current_actor, with_actor, with_actor_async};
pub use audit::{AuditReport, TreeHead};
pub use config::{EngineConfig, Storage};
pub use embedding::{EmbeddingFieldStatus, EmbeddingStatus};
pub use engram_core::hlc::{Clock, SystemClock};

/// Creates a directory and its missing ancestors durably (each new entry
/// synced into its parent), as the engine does for its own directories.
pub fn durable_dir(path: &std::path::Path) -> Result<()> {
    durable_fs::create_dir_all(path).map_err(|e| Error::internal(format!("creating {}: {e}", path.display())))
}

/// Names of the engine's failpoints (active with the `failpoints` feature):
/// the write path's steps and each background worker.
pub const FAILPOINTS: &[&str] = &[
    "engram.apply",
    "engram.log",
    "engram.purge.documents",
    "engram.purge.idempotency",
    "engram.index.catch_up",
    "engram.index.save",
];
pub use engine::{Engine, EngineStats, SpaceInfo};
pub use engram_core::backend::{Capabilities, CollectionSpec, IndexSpec};
pub use engram_core::changelog::{ChangeEntry, ChangeOp};
pub use engram_core::json_numbers::check_integer_range;
pub use engram_core::names::SpaceName;
pub use engram_core::search_spec::{
    EmbedSpec, EmbeddingModel, HnswSpec, NextEmbedding, SearchSpec, TextFieldSpec, VectorFieldSpec, VectorMetric,
};
pub use engram_core::{Error, ErrorKind, Result, embed, limits};
pub use facts::types::{Fact, FactInput, FactQuery, Facts, Term};
pub use feed::api::Published;
pub use feed::types::{
    ConsumerInfo, ConsumerStart, FeedEntry, FeedFilter, FeedOp, FeedPage, FeedSource, NewConsumer, check_topic,
};
pub use graph::types::{
    DecayReport, DecayRequest, Direction, Edge, EdgeInput, Hop, Neighbor, Neighbors, NeighborsRequest, NodeRef,
    PathRequest, PathResult,
};
pub use graph::write::edge_id;
#[cfg(feature = "openapi")]
pub use json_object::JsonObject;
pub use objects::types::{
    BlobInfo, BlobInput, DEFAULT_CONTENT_TYPE, ListObjects, ObjectInfo, ObjectList, ObjectPut, ObjectWritten, Staged,
    check_content_type, check_digest, check_metadata, chunk_count,
};
pub use objects::write::NOT_STAGED;
pub use ops::{Batch, CommitResult, Expect, Op, OpResult, WriteOptions, WriteResult};
pub use query::{Page, Query, SortField, SortOrder};
pub use queues::api::ReceiveAttempt;
pub use queues::types::{
    AckOutcome, DeadLetter, Enqueued, Message, MessageInput, NackOutcome, NackRequest, QueueConfig, QueueInfo,
    QueueStats, ReceiveRequest,
};
pub use search::api::{IndexStatus, RebuildReport};
pub use search::check::{CollectionCheck, IndexCheck};
pub use search::manager::IndexFileStats;
pub use search::request::{Fusion, SearchHit, SearchPlan, SearchRequest, SearchResults, Snippet, VectorPlan};
pub use search::store::{DirStore, IndexStore, IndexWriter};
pub use space::{ChainReport, CollectionInfo, Document, Space};

/// Ids one [`Space::get_many`] reads at most.
pub const GET_MANY_IDS_MAX: usize = 1_000;
pub use streams::types::{
    AppendRequest, AppendResult, Appended, Event, EventInput, EventPage, ExpectedVersion, ReadDirection, Snapshot,
    StreamInfo,
};
pub use wake::{InLine, Line, Listening, Signal};
pub use webhooks::CIRCUIT_OPEN_FAILURES;
pub use webhooks::api::WebhookTarget;
pub use webhooks::types::{
    DeliveryAttempt, Due, NewWebhook, Outcome, WebhookCreated, WebhookDeadLetter, WebhookInfo, check_url, secret_key,
};
