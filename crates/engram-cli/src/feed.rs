//! `engram feed …` and `engram webhook …`: read the change feed, publish
//! to the outbox, manage durable consumers and webhook endpoints, on the
//! data directory or through a server.

use crate::commands::parse_json;
use crate::memory::to_json;
use clap::Subcommand;
use engram::{ConsumerStart, FeedFilter, FeedOp, FeedSource, NewConsumer, NewWebhook, Space};
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum FeedCommand {
    /// Read entries after a position (document changes, or the outbox).
    Read {
        space: String,
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Read outbox messages instead of document changes.
        #[arg(long)]
        outbox: bool,
        /// Comma-separated collections (documents).
        #[arg(long)]
        collections: Option<String>,
        /// Comma-separated operations: put, patch, delete, expire.
        #[arg(long)]
        ops: Option<String>,
        /// Comma-separated topics (outbox).
        #[arg(long)]
        topics: Option<String>,
        /// Attach each document while it is still current.
        #[arg(long)]
        include_documents: bool,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Wait up to this many seconds (0 to 20) when nothing is new.
        #[arg(long, default_value_t = 0)]
        wait_seconds: u64,
    },
    /// Publish an outbox message.
    Publish { space: String, topic: String, payload: String },
    /// Create a durable consumer with a filter given as JSON (e.g.
    /// '{"source": "outbox", "topics": ["order.created"]}').
    CreateConsumer {
        space: String,
        name: String,
        #[arg(default_value = "{}")]
        filter: String,
        /// Start after the current head instead of the beginning.
        #[arg(long)]
        from_end: bool,
    },
    /// A consumer's position and lag.
    Consumer { space: String, name: String },
    /// Entries after a consumer's acknowledged position.
    Poll {
        space: String,
        name: String,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long, default_value_t = 0)]
        wait_seconds: u64,
    },
    /// Store a consumer's processed position.
    Ack { space: String, name: String, position: u64 },
    /// Delete a consumer.
    DeleteConsumer { space: String, name: String },
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Create an endpoint (prints its secret, shown only once).
    Create {
        space: String,
        name: String,
        url: String,
        /// Comma-separated topics (all when absent).
        #[arg(long)]
        topics: Option<String>,
    },
    /// List a space's endpoints.
    List { space: String },
    /// An endpoint's state.
    Get { space: String, name: String },
    /// An endpoint's latest delivery attempts.
    Attempts {
        space: String,
        name: String,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// An endpoint's dead letters.
    Dead {
        space: String,
        name: String,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Queue dead letters for another delivery (one, or all).
    Replay {
        space: String,
        name: String,
        #[arg(long)]
        message_id: Option<String>,
    },
    /// Delete an endpoint.
    Delete { space: String, name: String },
}

/// One feed or webhook call, parsed.
pub enum FeedCall {
    Read(u64, FeedFilter, usize, u64),
    Publish(String, Value),
    CreateConsumer(String, NewConsumer),
    Consumer(String),
    Poll(String, usize, u64),
    Ack(String, u64),
    DeleteConsumer(String),
    CreateWebhook(String, NewWebhook),
    Webhooks,
    Webhook(String),
    Attempts(String, usize),
    WebhookDead(String, usize),
    Replay(String, Option<String>),
    DeleteWebhook(String),
}

fn list(s: Option<&str>) -> Vec<String> {
    s.map(|s| s.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
}

/// The space and call of a feed command.
pub fn feed_call(c: FeedCommand) -> Result<(String, FeedCall), String> {
    use FeedCommand as C;
    Ok(match c {
        C::Read { space, after, outbox, collections, ops, topics, include_documents, limit, wait_seconds } => {
            let ops = list(ops.as_deref())
                .iter()
                .map(|o| {
                    serde_json::from_value::<FeedOp>(json!(o)).map_err(|_| format!("--ops: unknown operation {o:?}"))
                })
                .collect::<Result<Vec<_>, String>>()?;
            let filter = FeedFilter {
                source: if outbox { FeedSource::Outbox } else { FeedSource::Documents },
                collections: list(collections.as_deref()),
                ops,
                topics: list(topics.as_deref()),
                include_documents,
            };
            (space, FeedCall::Read(after, filter, limit, wait_seconds))
        }
        C::Publish { space, topic, payload } => (space, FeedCall::Publish(topic, parse_json("the payload", &payload)?)),
        C::CreateConsumer { space, name, filter, from_end } => {
            let filter =
                serde_json::from_value(parse_json("the filter", &filter)?).map_err(|e| format!("the filter: {e}"))?;
            let start = if from_end { ConsumerStart::End } else { ConsumerStart::Beginning };
            (space, FeedCall::CreateConsumer(name, NewConsumer { filter, start }))
        }
        C::Consumer { space, name } => (space, FeedCall::Consumer(name)),
        C::Poll { space, name, limit, wait_seconds } => (space, FeedCall::Poll(name, limit, wait_seconds)),
        C::Ack { space, name, position } => (space, FeedCall::Ack(name, position)),
        C::DeleteConsumer { space, name } => (space, FeedCall::DeleteConsumer(name)),
    })
}

/// The space and call of a webhook command.
pub fn webhook_call(c: WebhookCommand) -> (String, FeedCall) {
    use WebhookCommand as C;
    match c {
        C::Create { space, name, url, topics } => {
            let req = NewWebhook { url, topics: list(topics.as_deref()), secret: None };
            (space, FeedCall::CreateWebhook(name, req))
        }
        C::List { space } => (space, FeedCall::Webhooks),
        C::Get { space, name } => (space, FeedCall::Webhook(name)),
        C::Attempts { space, name, limit } => (space, FeedCall::Attempts(name, limit)),
        C::Dead { space, name, limit } => (space, FeedCall::WebhookDead(name, limit)),
        C::Replay { space, name, message_id } => (space, FeedCall::Replay(name, message_id)),
        C::Delete { space, name } => (space, FeedCall::DeleteWebhook(name)),
    }
}

/// Makes the call on an engine in this process. (Webhooks are delivered by
/// a running server; locally they are only configured.)
pub fn call_local(space: &Space, call: FeedCall) -> Result<Value, String> {
    use FeedCall as F;
    match call {
        F::Read(after, f, limit, wait) => to_json(space.feed_wait(after, &f, limit, Duration::from_secs(wait.min(20)))),
        F::Publish(t, p) => to_json(space.publish(&t, p)),
        F::CreateConsumer(n, c) => to_json(space.create_consumer(&n, c)),
        F::Consumer(n) => to_json(space.consumer(&n)),
        F::Poll(n, limit, wait) => to_json(space.consumer_poll(&n, limit, Duration::from_secs(wait.min(20)))),
        F::Ack(n, p) => to_json(space.consumer_ack(&n, p)),
        F::DeleteConsumer(n) => to_json(space.delete_consumer(&n).map(|()| json!({ "deleted": n }))),
        F::CreateWebhook(n, w) => to_json(space.create_webhook(&n, w)),
        F::Webhooks => to_json(space.webhooks().map(|webhooks| json!({ "webhooks": webhooks }))),
        F::Webhook(n) => to_json(space.webhook(&n)),
        F::Attempts(n, l) => to_json(space.webhook_attempts(&n, l).map(|attempts| json!({ "attempts": attempts }))),
        F::WebhookDead(n, l) => {
            to_json(space.webhook_dead_letters(&n, l).map(|messages| json!({ "messages": messages })))
        }
        F::Replay(n, m) => to_json(space.replay_webhook(&n, m.as_deref()).map(|count| json!({ "count": count }))),
        F::DeleteWebhook(n) => to_json(space.delete_webhook(&n).map(|()| json!({ "deleted": n }))),
    }
}

/// The HTTP method, path under `/v1/spaces/{space}`, query and body of a call.
pub fn http_request(
    call: FeedCall,
    enc: impl Fn(&str) -> String,
) -> (&'static str, String, Vec<(String, String)>, Value) {
    use FeedCall as F;
    let none = Vec::new;
    let null = Value::Null;
    match call {
        F::Read(after, f, limit, wait) => {
            let mut q = vec![
                ("after".to_owned(), after.to_string()),
                ("limit".to_owned(), limit.to_string()),
                ("wait_seconds".to_owned(), wait.to_string()),
            ];
            if f.source == FeedSource::Outbox {
                q.push(("source".into(), "outbox".into()));
            }
            let join = |v: &[String]| v.join(",");
            let ops: Vec<String> = f.ops.iter().map(|o| json!(o).as_str().unwrap_or_default().to_owned()).collect();
            for (k, v) in [("collections", join(&f.collections)), ("ops", join(&ops)), ("topics", join(&f.topics))] {
                if !v.is_empty() {
                    q.push((k.to_owned(), v));
                }
            }
            if f.include_documents {
                q.push(("include_documents".into(), "true".into()));
            }
            ("GET", "/feed".into(), q, null)
        }
        F::Publish(t, p) => ("POST", "/outbox".into(), none(), json!({ "topic": t, "payload": p })),
        F::CreateConsumer(n, c) => ("PUT", format!("/consumers/{}", enc(&n)), none(), json!(c)),
        F::Consumer(n) => ("GET", format!("/consumers/{}", enc(&n)), none(), null),
        F::Poll(n, limit, wait) => {
            ("POST", format!("/consumers/{}/poll", enc(&n)), none(), json!({ "limit": limit, "wait_seconds": wait }))
        }
        F::Ack(n, p) => ("POST", format!("/consumers/{}/ack", enc(&n)), none(), json!({ "position": p })),
        F::DeleteConsumer(n) => ("DELETE", format!("/consumers/{}", enc(&n)), none(), null),
        F::CreateWebhook(n, w) => ("PUT", format!("/webhooks/{}", enc(&n)), none(), json!(w)),
        F::Webhooks => ("GET", "/webhooks".into(), none(), null),
        F::Webhook(n) => ("GET", format!("/webhooks/{}", enc(&n)), none(), null),
        F::Attempts(n, l) => {
            ("GET", format!("/webhooks/{}/attempts", enc(&n)), vec![("limit".into(), l.to_string())], null)
        }
        F::WebhookDead(n, l) => {
            ("GET", format!("/webhooks/{}/dead-letters", enc(&n)), vec![("limit".into(), l.to_string())], null)
        }
        F::Replay(n, m) => ("POST", format!("/webhooks/{}/replay", enc(&n)), none(), json!({ "message_id": m })),
        F::DeleteWebhook(n) => ("DELETE", format!("/webhooks/{}", enc(&n)), none(), null),
    }
}
