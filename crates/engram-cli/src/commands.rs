//! Running each command and printing its result as JSON.

use crate::args::{Cli, Command, IndexCommand, PutArgs, QueryArgs, SearchArgs, SpaceCommand};
use crate::client::{Client, connect};
use crate::memory;
use engram::{Expect, Query, SortField, WriteOptions};
use serde_json::Value;
use std::io::Read;

/// Bytes read from standard input for a document body.
const STDIN_BYTES_MAX: u64 = 64 * 1024 * 1024;

pub fn run(cli: Cli) -> Result<(), String> {
    if let Command::Serve(a) = cli.command {
        return serve(cli.data_dir, *a);
    }
    if let Command::Copy(a) = cli.command {
        return crate::copy::run(&a);
    }
    if let Command::Mcp(a) = cli.command {
        return crate::mcp::run(&cli.data_dir, cli.server.as_deref(), cli.key.as_deref(), a);
    }
    if let Command::Audit(a) = cli.command {
        return crate::audit::run(&cli.data_dir, cli.server.as_deref(), cli.key.as_deref(), a);
    }
    if let Command::Object(o) = cli.command {
        let client = connect(&cli.data_dir, cli.server.as_deref(), cli.key.as_deref(), "object")?;
        return crate::object::run(client.as_ref(), &cli.data_dir, o);
    }
    let name = command_name(&cli.command);
    let is_check = matches!(cli.command, Command::Index(IndexCommand::Check { .. }));
    let client = connect(&cli.data_dir, cli.server.as_deref(), cli.key.as_deref(), name)?;
    let out = dispatch(client.as_ref(), cli.command)?;
    println!("{}", serde_json::to_string_pretty(&out).expect("JSON prints"));
    if is_check && out["ok"] != Value::Bool(true) {
        return Err("the search index diverges from the records (see above); `engram index rebuild` rebuilds it".into());
    }
    Ok(())
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Serve(_) => "serve",
        Command::Space(_) => "space",
        Command::Collection(_) => "collection",
        Command::Put(_) => "put",
        Command::Get(_) => "get",
        Command::Delete(_) => "delete",
        Command::Query(_) => "query",
        Command::Changes(_) => "changes",
        Command::Search(_) => "search",
        Command::Index(_) => "index",
        Command::Embeddings(_) => "embeddings",
        Command::Graph(_) => "graph",
        Command::Fact(_) => "fact",
        Command::Stream(_) => "stream",
        Command::Queue(_) => "queue",
        Command::Feed(_) => "feed",
        Command::Webhook(_) => "webhook",
        Command::Copy(_) => "copy",
        Command::Audit(_) => "audit",
        Command::Object(_) => "object",
        Command::Mcp(_) => "mcp",
    }
}

/// Parses `--webhook-retry-schedule`: 1 to 20 delays in seconds (decimals
/// allowed), each at most a day.
fn webhook_schedule(text: &str) -> Result<Vec<std::time::Duration>, String> {
    let bad = || {
        format!("--webhook-retry-schedule {text:?}: give 1 to 20 comma-separated delays in seconds, each at most 86400")
    };
    let delays = text
        .split(',')
        .map(|p| p.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0 && *s <= 86_400.0).ok_or_else(bad))
        .collect::<Result<Vec<_>, String>>()?;
    if delays.is_empty() || delays.len() > 20 {
        return Err(bad());
    }
    Ok(delays.into_iter().map(std::time::Duration::from_secs_f64).collect())
}

fn serve(data_dir: std::path::PathBuf, a: crate::args::ServeArgs) -> Result<(), String> {
    if !(a.rate_limit_per_key >= 0.0 && a.rate_limit_per_key.is_finite()) {
        return Err("--rate-limit-per-key must be a number >= 0".into());
    }
    if a.max_concurrent_requests == 0 || a.max_large_requests == 0 || a.request_timeout_ms == 0 {
        return Err(
            "--max-concurrent-requests, --max-large-requests and --request-timeout-ms must be at least 1".into()
        );
    }
    if a.max_feed_streams == 0 || a.feed_stream_seconds == 0 || a.webhook_timeout_ms == 0 {
        return Err("--max-feed-streams, --feed-stream-seconds and --webhook-timeout-ms must be at least 1".into());
    }
    if a.objects_collect_seconds == 0 || a.objects_transfer_timeout_seconds == 0 {
        return Err("--objects-collect-seconds and --objects-transfer-timeout-seconds must be at least 1".into());
    }
    let schedule = webhook_schedule(&a.webhook_retry_schedule)?;
    let embedders = engram_embed::parse_all(a.embedders.iter().map(String::as_str)).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let config = engram_server::ServerConfig {
        listen: a.listen,
        data_dir,
        database: a.database,
        database_replica: a.database_replica,
        redis: a.redis,
        index_save_interval: Some(std::time::Duration::from_millis(a.index_save_interval_ms)),
        admin_key: a.admin_key,
        limits: engram_server::limits::Limits {
            rate_per_key: a.rate_limit_per_key,
            connections: a.max_connections,
            concurrent_requests: a.max_concurrent_requests,
            large_requests: a.max_large_requests,
            request_timeout: std::time::Duration::from_millis(a.request_timeout_ms),
            auth_failures_per_window: a.auth_failures_per_minute,
            feed_streams: a.max_feed_streams,
            feed_stream_max: std::time::Duration::from_secs(a.feed_stream_seconds),
        },
        tls: a.tls_cert.zip(a.tls_key),
        webhooks: engram_server::webhooks::WebhookSettings {
            schedule,
            timeout: std::time::Duration::from_millis(a.webhook_timeout_ms),
            allow_private: a.webhook_allow_private,
            ..Default::default()
        },
        objects: a.objects,
        objects_grace: std::time::Duration::from_secs(a.objects_grace_seconds),
        objects_collect_every: std::time::Duration::from_secs(a.objects_collect_seconds),
        objects_transfer_timeout: std::time::Duration::from_secs(a.objects_transfer_timeout_seconds),
        embedders,
        audit_key_file: a.audit_key_file,
    };
    rt.block_on(engram_server::serve(config)).map_err(|e| e.to_string())
}

fn dispatch(c: &dyn Client, command: Command) -> Result<Value, String> {
    match command {
        Command::Serve(_) | Command::Copy(_) | Command::Object(_) | Command::Mcp(_) | Command::Audit(_) => {
            unreachable!("handled before connecting")
        }
        Command::Space(SpaceCommand::Create { name }) => c.create_space(&name),
        Command::Space(SpaceCommand::List) => c.list_spaces(),
        Command::Space(SpaceCommand::Delete { name }) => c.delete_space(&name),
        Command::Collection(a) => c.put_collection(&a.space, &a.collection, parse_json("--spec", &a.spec)?),
        Command::Put(a) => put(c, a),
        Command::Get(a) => c.get(&a.space, &a.collection, &a.id),
        Command::Delete(a) => {
            let opts =
                WriteOptions { expect: a.if_version.map_or(Expect::Any, Expect::Version), ..WriteOptions::default() };
            c.delete(&a.space, &a.collection, &a.id, opts)
        }
        Command::Query(a) => query(c, a),
        Command::Changes(a) if a.verify => c.verify(&a.space),
        Command::Changes(a) => c.changes(&a.space, a.after, a.limit),
        Command::Search(a) => search(c, a),
        Command::Index(IndexCommand::Status { space, collection }) => c.index_status(&space, &collection),
        Command::Index(IndexCommand::Check { space }) => c.index_check(&space),
        Command::Index(IndexCommand::Rebuild { space }) => c.index_rebuild(&space),
        Command::Embeddings(a) => c.embeddings(&a.space, &a.collection, a.backfill),
        Command::Graph(g) => memory(c, memory::graph_call(g)?),
        Command::Fact(f) => memory(c, memory::fact_call(f)?),
        Command::Stream(s) => memory(c, memory::stream_call(s)?),
        Command::Queue(q) => {
            let (space, call) = crate::queue::queue_call(q)?;
            c.queue(&space, call)
        }
        Command::Feed(f) => {
            let (space, call) = crate::feed::feed_call(f)?;
            c.feed(&space, call)
        }
        Command::Webhook(w) => {
            let (space, call) = crate::feed::webhook_call(w);
            c.feed(&space, call)
        }
    }
}

fn memory(c: &dyn Client, (space, call): (String, memory::Call)) -> Result<Value, String> {
    c.memory(&space, call)
}

fn search(c: &dyn Client, a: SearchArgs) -> Result<Value, String> {
    let req: engram::SearchRequest = match &a.request {
        Some(text) => serde_json::from_value(parse_json("--request", text)?).map_err(|e| format!("--request: {e}"))?,
        None => engram::SearchRequest {
            text: a.text.clone(),
            vector: a
                .vector
                .as_deref()
                .map(|v| serde_json::from_value(parse_json("--vector", v)?).map_err(|e| format!("--vector: {e}")))
                .transpose()?,
            vector_field: a.vector_field.clone(),
            filter: a.filter.as_deref().map(|f| parse_json("--filter", f)).transpose()?,
            k: a.k,
            ..engram::SearchRequest::default()
        },
    };
    c.search(&a.space, &a.collection, req)
}

pub(crate) fn parse_json(what: &str, text: &str) -> Result<Value, String> {
    let value = serde_json::from_str(text).map_err(|e| format!("{what} is not valid JSON: {e}"))?;
    engram::check_integer_range(text.as_bytes()).map_err(|e| format!("{what}: {}", e.message()))?;
    Ok(value)
}

fn put(c: &dyn Client, a: PutArgs) -> Result<Value, String> {
    let text = match a.body.as_deref() {
        Some(t) if t != "-" => t.to_owned(),
        _ => {
            let mut buf = String::new();
            std::io::stdin()
                .take(STDIN_BYTES_MAX)
                .read_to_string(&mut buf)
                .map_err(|e| format!("reading standard input: {e}"))?;
            buf
        }
    };
    let expect = match (a.create, a.doc.if_version) {
        (true, _) => Expect::Absent,
        (false, Some(v)) => Expect::Version(v),
        (false, None) => Expect::Any,
    };
    let opts = WriteOptions { expect, ttl_seconds: a.ttl, idempotency_key: a.idempotency_key };
    c.put(&a.doc.space, &a.doc.collection, &a.doc.id, parse_json("the document", &text)?, opts)
}

fn query(c: &dyn Client, a: QueryArgs) -> Result<Value, String> {
    let filter = a.filter.as_deref().map(|f| parse_json("--filter", f)).transpose()?.unwrap_or(Value::Null);
    if a.count {
        return c.count(&a.space, &a.collection, filter);
    }
    let sort = a
        .sort
        .as_deref()
        .map(|s| s.split(',').filter(|f| !f.is_empty()).map(SortField::parse).collect())
        .unwrap_or_default();
    c.query(&a.space, &a.collection, Query { filter, sort, limit: a.limit, cursor: a.cursor, offset: None })
}
