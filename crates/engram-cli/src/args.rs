//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Engram: one storage engine for AI-agent platforms.
#[derive(Debug, Parser)]
#[command(name = "engram", version, about)]
pub struct Cli {
    /// Data directory (created if missing).
    #[arg(long, global = true, env = "ENGRAM_DATA_DIR", default_value = engram_server::config::DATA_DIR_DEFAULT)]
    pub data_dir: PathBuf,
    /// Talk to this server (e.g. http://127.0.0.1:7171) instead of opening
    /// the data directory. Chosen automatically when a server holds it.
    #[arg(long, global = true, env = "ENGRAM_SERVER")]
    pub server: Option<String>,
    /// API key for the server (default: the data directory's `cli.key`,
    /// which a running server writes for local commands).
    #[arg(long, global = true, env = "ENGRAM_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Log more.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// Log format on standard error: text, or json (one object per line,
    /// with the request id of each request's records).
    #[arg(long, global = true, env = "ENGRAM_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server on the data directory.
    Serve(Box<ServeArgs>),
    /// Create, list or delete spaces.
    #[command(subcommand)]
    Space(SpaceCommand),
    /// Create or update a collection's spec (schema, default TTL, indexes).
    Collection(CollectionArgs),
    /// Create or replace a document.
    Put(PutArgs),
    /// Print a document.
    Get(DocArgs),
    /// Delete a document.
    Delete(DocArgs),
    /// Query a collection.
    Query(QueryArgs),
    /// Read the change log, or verify its hash chain.
    Changes(ChangesArgs),
    /// Search a collection by text, vector, or both (hybrid).
    Search(SearchArgs),
    /// Operate a space's search index: status, check, rebuild.
    #[command(subcommand)]
    Index(IndexCommand),
    /// A collection's embedded vector fields: model, a model switch in
    /// progress, documents left to embed (--backfill: embed them now).
    Embeddings(EmbeddingsArgs),
    /// Graph edges between documents: link, unlink, neighbors, path.
    #[command(subcommand)]
    Graph(crate::memory::GraphCommand),
    /// Facts with valid and transaction time: assert, query.
    #[command(subcommand)]
    Fact(crate::memory::FactCommand),
    /// Event streams: append, read.
    #[command(subcommand)]
    Stream(crate::memory::StreamCommand),
    /// Queues: enqueue, receive, ack, nack, extend, stats, dead letters.
    #[command(subcommand)]
    Queue(crate::queue::QueueCommand),
    /// The change feed, the outbox and durable consumers.
    #[command(subcommand)]
    Feed(crate::feed::FeedCommand),
    /// Webhook endpoints: create, list, attempts, dead letters, replay.
    #[command(subcommand)]
    Webhook(crate::feed::WebhookCommand),
    /// Objects (bytes under keys): put, get, ls, rm, cp.
    #[command(subcommand)]
    Object(crate::object::ObjectCommand),
    /// Copy spaces between storages (a data directory, a postgres:// URL),
    /// resumably, and verify them.
    Copy(CopyArgs),
    /// Audit: signing keys, signed checkpoints and receipts of a space's
    /// log, and `verify` (chain, stored rows, published checkpoints, receipts).
    #[command(subcommand)]
    Audit(crate::audit::AuditCommand),
    /// Serve memory tools to agents over the Model Context Protocol: on
    /// standard input and output, or over streamable HTTP with --http.
    Mcp(McpArgs),
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// The space every tool acts on (created if missing).
    #[arg(long, env = "ENGRAM_MCP_SPACE", default_value = "default")]
    pub space: String,
    /// The collection memories are kept in (declared with a searchable
    /// `text` field if missing).
    #[arg(long, env = "ENGRAM_MCP_COLLECTION", default_value = "memories")]
    pub collection: String,
    /// Serve streamable HTTP at http://ADDR/mcp instead of stdio; every
    /// request must carry an Engram API key, and the tools act with it.
    #[arg(long, env = "ENGRAM_MCP_HTTP")]
    pub http: Option<SocketAddr>,
    /// With --http on a data directory: an admin key (24+ characters) MCP
    /// clients may present, besides the keys stored in the directory.
    #[arg(long, env = "ENGRAM_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Declare a vector field `embedding` of this many dimensions on a new
    /// memory collection (remember and recall then accept vectors).
    #[arg(long, conflicts_with = "embed_model")]
    pub vector_dims: Option<u32>,
    /// Embedders for a data directory opened in this process (as `serve
    /// --embedder`); a server uses its own.
    #[arg(long = "embedder", env = "ENGRAM_EMBEDDERS", value_delimiter = ';')]
    pub embedders: Vec<String>,
    /// Declare the new memory collection's `embedding` computed from the
    /// text by this embedder: remember stores text only, recall embeds the
    /// query. Defaults to the first --embedder, if any.
    #[arg(long)]
    pub embed_model: Option<String>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    pub space: String,
    pub collection: String,
    /// Full-text query: words (OR), +required, -excluded, "a phrase", pre*, field:word.
    #[arg(long)]
    pub text: Option<String>,
    /// Query vector as a JSON array, e.g. '[0.1, 0.2, 0.3]'.
    #[arg(long)]
    pub vector: Option<String>,
    /// Vector field (the collection's default when omitted).
    #[arg(long)]
    pub vector_field: Option<String>,
    /// Filter as JSON.
    #[arg(long)]
    pub filter: Option<String>,
    /// Results wanted (default 10).
    #[arg(long, short)]
    pub k: Option<usize>,
    /// The whole request as JSON instead of the options above.
    #[arg(long, conflicts_with_all = ["text", "vector", "vector_field", "filter", "k"])]
    pub request: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Documents and vectors indexed for one collection, and the log position covered.
    Status { space: String, collection: String },
    /// Compare the space's search index with the records; report divergences.
    Check { space: String },
    /// Drop the space's search index and build it again from the records.
    Rebuild { space: String },
}

#[derive(Debug, Args)]
pub struct EmbeddingsArgs {
    pub space: String,
    pub collection: String,
    /// Run the backfill now (the server also runs it in the background)
    /// and report what is left.
    #[arg(long)]
    pub backfill: bool,
}

#[derive(Debug, Subcommand)]
pub enum SpaceCommand {
    Create { name: String },
    List,
    Delete { name: String },
}

#[derive(Debug, Args)]
pub struct CollectionArgs {
    pub space: String,
    pub collection: String,
    /// The spec as JSON, e.g. '{"indexes":[{"name":"by_status","paths":["status"]}]}'.
    #[arg(long, default_value = "{}")]
    pub spec: String,
}

#[derive(Debug, Args)]
pub struct DocArgs {
    pub space: String,
    pub collection: String,
    pub id: String,
    /// Only if the document is at this version.
    #[arg(long)]
    pub if_version: Option<u64>,
}

#[derive(Debug, Args)]
pub struct PutArgs {
    #[command(flatten)]
    pub doc: DocArgs,
    /// The document as JSON; '-' or absent reads standard input.
    pub body: Option<String>,
    /// Only create: fail if the document exists.
    #[arg(long, conflicts_with = "if_version")]
    pub create: bool,
    /// Time-to-live in seconds.
    #[arg(long)]
    pub ttl: Option<u64>,
    /// Idempotency key: a repeat returns the first result.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    pub space: String,
    pub collection: String,
    /// Filter as JSON, e.g. '{"status":"open","age":{"$gte":18}}'.
    #[arg(long)]
    pub filter: Option<String>,
    /// Comma-separated sort fields; '-field' for descending.
    #[arg(long, allow_hyphen_values = true)]
    pub sort: Option<String>,
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long)]
    pub cursor: Option<String>,
    /// Print only the number of matching documents.
    #[arg(long)]
    pub count: bool,
}

#[derive(Debug, Args)]
pub struct ChangesArgs {
    pub space: String,
    /// Entries after this position.
    #[arg(long, default_value_t = 0)]
    pub after: u64,
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Verify the whole chain instead of listing entries.
    #[arg(long)]
    pub verify: bool,
}

/// `engram serve`: every option can also be set by its environment variable.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML file of settings: any option of this command by its long name
    /// with `_` for `-` (e.g. `listen = "0.0.0.0:7171"`, `rate_limit_per_key
    /// = 100`), and `data_dir`, `log_format`. Flags win over environment
    /// variables, which win over the file.
    #[arg(long, env = "ENGRAM_CONFIG")]
    pub config: Option<PathBuf>,
    /// A PostgreSQL URL (`postgres://user@host:port/db`): keep the data and
    /// the API keys there, shared by every server given the same URL. The
    /// data directory then holds only this server's search index files.
    /// Without it, the embedded SQLite database in the data directory.
    #[arg(long, env = "ENGRAM_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// A read replica of --database (a PostgreSQL hot standby): document
    /// reads sent with `Engram-Consistency: eventual` go there (and to the
    /// primary while it is unreachable).
    #[arg(long, env = "ENGRAM_DATABASE_REPLICA", hide_env_values = true, requires = "database")]
    pub database_replica: Option<String>,
    /// A Redis URL (`redis://host:port`): count per-key request rates
    /// there, shared by every server given the same URL (per server
    /// without it). While Redis is unreachable, rates are not limited.
    #[arg(long, env = "ENGRAM_REDIS", hide_env_values = true)]
    pub redis: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "ENGRAM_LISTEN", default_value = engram_server::config::LISTEN_DEFAULT)]
    pub listen: SocketAddr,
    /// Longest time, in milliseconds, search-index progress stays unsaved
    /// (a crash replays it from the change log).
    #[arg(long, env = "ENGRAM_INDEX_SAVE_INTERVAL_MS", default_value_t = engram::config::INDEX_SAVE_INTERVAL_MS_DEFAULT)]
    pub index_save_interval_ms: u64,
    /// An all-spaces admin API key (at least 24 characters), never stored.
    /// Without it, the first start creates an admin key and prints it once.
    #[arg(long, env = "ENGRAM_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Requests per second per API key (bursts of twice that); 0 = unlimited.
    /// Beyond it: 429 with Retry-After.
    #[arg(long, env = "ENGRAM_RATE_LIMIT_PER_KEY", default_value_t = 5000.0)]
    pub rate_limit_per_key: f64,
    /// Open connections at once; more wait in the kernel's backlog (bounds
    /// memory under idle or slow clients).
    #[arg(long, env = "ENGRAM_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Requests served at once; more get 503 at once instead of queueing.
    #[arg(long, env = "ENGRAM_MAX_CONCURRENT_REQUESTS", default_value_t = 512)]
    pub max_concurrent_requests: usize,
    /// Requests with bodies over 1 MiB served at once (bounds buffered
    /// bodies); more get 503 at once.
    #[arg(long, env = "ENGRAM_MAX_LARGE_REQUESTS", default_value_t = 16)]
    pub max_large_requests: usize,
    /// Longest a request may run, in milliseconds, before it gets 503.
    #[arg(long, env = "ENGRAM_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,
    /// Wrong API keys one client address may present per minute; beyond it,
    /// 429 until the minute is over.
    #[arg(long, env = "ENGRAM_AUTH_FAILURES_PER_MINUTE", default_value_t = engram_server::limits::AUTH_FAILURES_MAX)]
    pub auth_failures_per_minute: u32,
    /// Server-Sent Events feed streams open at once; more get 503.
    #[arg(long, env = "ENGRAM_MAX_FEED_STREAMS", default_value_t = 256)]
    pub max_feed_streams: usize,
    /// Longest a feed stream stays open, in seconds; clients reconnect with
    /// Last-Event-ID.
    #[arg(long, env = "ENGRAM_FEED_STREAM_SECONDS", default_value_t = 300)]
    pub feed_stream_seconds: u64,
    /// Let webhook endpoints resolve to private and loopback addresses
    /// (refused by default: SSRF).
    #[arg(long, env = "ENGRAM_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
    /// Longest one webhook delivery attempt may take, in milliseconds.
    #[arg(long, env = "ENGRAM_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,
    /// Delays between attempts of one webhook message, in seconds,
    /// comma-separated; after the last, the message is dead-lettered.
    #[arg(long, env = "ENGRAM_WEBHOOK_RETRY_SCHEDULE", default_value = "5,300,1800,7200,18000,36000,36000")]
    pub webhook_retry_schedule: String,
    /// Where objects' bytes are kept: a directory, `s3://bucket[/prefix]?
    /// endpoint=…&region=…` (credentials from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY), or `az://container[/prefix]?account=…`
    /// (key from AZURE_STORAGE_ACCOUNT_KEY). Default: `objects/` in the
    /// data directory. Servers sharing a database need a shared store.
    #[arg(long, env = "ENGRAM_OBJECTS")]
    pub objects: Option<String>,
    /// Seconds unreferenced object bytes are kept before they are
    /// collected (an upload must commit within half of it).
    #[arg(long, env = "ENGRAM_OBJECTS_GRACE_SECONDS", default_value_t = 900)]
    pub objects_grace_seconds: u64,
    /// Seconds between passes of the object collector.
    #[arg(long, env = "ENGRAM_OBJECTS_COLLECT_SECONDS", default_value_t = 60)]
    pub objects_collect_seconds: u64,
    /// Longest one object upload or download may take, in seconds.
    #[arg(long, env = "ENGRAM_OBJECTS_TRANSFER_TIMEOUT_SECONDS", default_value_t = 3600)]
    pub objects_transfer_timeout_seconds: u64,
    /// An embedder collections can name in `embed.model`, repeatable:
    /// `NAME=local:DIR[,threads=N]` (a sentence-transformers BERT model
    /// directory: model.safetensors, tokenizer.json, config.json) or
    /// `NAME=http:URL,model=M,dims=N[,key_env=VAR|key_file=PATH][,batch=N]
    /// [,timeout_ms=N][,attempts=N][,threads=N]` (an OpenAI-compatible
    /// endpoint). In the environment, separate several with `;`.
    #[arg(long = "embedder", env = "ENGRAM_EMBEDDERS", value_delimiter = ';')]
    pub embedders: Vec<String>,
    /// The key that signs audit checkpoints and receipts: a file of 64 hex
    /// characters (`engram audit keygen`). Default: audit.key in the data
    /// directory, created at first start. Give servers sharing a database one key.
    #[arg(long, env = "ENGRAM_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<PathBuf>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, env = "ENGRAM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the certificate (with --tls-cert).
    #[arg(long, env = "ENGRAM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Source: a data directory, or a postgres:// URL.
    pub from: String,
    /// Target: a data directory (created if missing), or a postgres:// URL.
    pub to: String,
    /// Copy this space only (default: every space but the reserved ones).
    #[arg(long)]
    pub space: Option<String>,
}
