//! `engram queue …`: enqueue, receive, ack, nack, extend, stats, settings,
//! dead letters, redrive, purge and delete, on the data directory or
//! through a server.

use crate::commands::parse_json;
use crate::memory::{body, to_json};
use clap::Subcommand;
use engram::{MessageInput, NackRequest, QueueConfig, ReceiveRequest, Space};
use serde_json::{Value, json};

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Enqueue messages, each given as a JSON body, in one transaction.
    Enqueue {
        space: String,
        queue: String,
        #[arg(required = true)]
        bodies: Vec<String>,
        /// Seconds before the messages can be received.
        #[arg(long)]
        delay_seconds: Option<u64>,
        /// 0 (default) to 9; higher is received first.
        #[arg(long)]
        priority: Option<u8>,
        /// Messages of one group are received one at a time, in order.
        #[arg(long)]
        group: Option<String>,
        /// A live message with this key makes the enqueue a no-op.
        #[arg(long)]
        dedup_key: Option<String>,
    },
    /// Receive messages under a lease (long-polls with --wait-seconds).
    Receive {
        space: String,
        queue: String,
        #[arg(long, default_value_t = 1)]
        max_messages: usize,
        #[arg(long)]
        visibility_timeout_seconds: Option<u64>,
        #[arg(long, default_value_t = 0)]
        wait_seconds: u64,
    },
    /// Acknowledge deliveries by their receipts.
    Ack {
        space: String,
        queue: String,
        #[arg(required = true)]
        receipts: Vec<String>,
    },
    /// Return a delivery to the queue: retried after the backoff (or
    /// --delay-seconds), dead-lettered when its attempts are spent.
    Nack {
        space: String,
        queue: String,
        receipt: String,
        #[arg(long)]
        delay_seconds: Option<u64>,
        #[arg(long)]
        error: Option<String>,
    },
    /// Extend a delivery's lease (a heartbeat).
    Extend {
        space: String,
        queue: String,
        receipt: String,
        #[arg(long)]
        visibility_timeout_seconds: u64,
    },
    /// A queue's settings and counts.
    Stats { space: String, queue: String },
    /// A space's queues.
    List { space: String },
    /// Set a queue's settings, as JSON (e.g. '{"max_attempts": 3}').
    Configure { space: String, queue: String, settings: String },
    /// List dead letters, oldest first.
    Dead {
        space: String,
        queue: String,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Return dead letters to the queue with fresh attempts.
    Redrive {
        space: String,
        queue: String,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Delete every live message (and the dead letters with --dead-letters).
    Purge {
        space: String,
        queue: String,
        #[arg(long)]
        dead_letters: bool,
    },
    /// Delete the queue with its messages and settings.
    Delete { space: String, queue: String },
}

/// One queue call with its arguments parsed.
pub enum QueueCall {
    Enqueue(String, Vec<MessageInput>),
    Receive(String, ReceiveRequest),
    Ack(String, Vec<String>),
    Nack(String, String, NackRequest),
    Extend(String, String, u64),
    Stats(String),
    List,
    Configure(String, QueueConfig),
    Dead(String, usize),
    Redrive(String, usize),
    Purge(String, bool),
    Delete(String),
}

/// The space and the call a command names.
pub fn queue_call(c: QueueCommand) -> Result<(String, QueueCall), String> {
    use QueueCommand as C;
    Ok(match c {
        C::Enqueue { space, queue, bodies, delay_seconds, priority, group, dedup_key } => {
            let messages = bodies
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    Ok(MessageInput {
                        body: parse_json(&format!("message {}", i + 1), b)?,
                        delay_seconds,
                        priority,
                        group: group.clone(),
                        dedup_key: dedup_key.clone(),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            (space, QueueCall::Enqueue(queue, messages))
        }
        C::Receive { space, queue, max_messages, visibility_timeout_seconds, wait_seconds } => {
            let req = ReceiveRequest {
                max_messages: Some(max_messages),
                visibility_timeout_seconds,
                wait_seconds: Some(wait_seconds),
            };
            (space, QueueCall::Receive(queue, req))
        }
        C::Ack { space, queue, receipts } => (space, QueueCall::Ack(queue, receipts)),
        C::Nack { space, queue, receipt, delay_seconds, error } => {
            (space, QueueCall::Nack(queue, receipt, NackRequest { delay_seconds, error }))
        }
        C::Extend { space, queue, receipt, visibility_timeout_seconds } => {
            (space, QueueCall::Extend(queue, receipt, visibility_timeout_seconds))
        }
        C::Stats { space, queue } => (space, QueueCall::Stats(queue)),
        C::List { space } => (space, QueueCall::List),
        C::Configure { space, queue, settings } => {
            let config = serde_json::from_value(parse_json("the settings", &settings)?)
                .map_err(|e| format!("the settings: {e}"))?;
            (space, QueueCall::Configure(queue, config))
        }
        C::Dead { space, queue, limit } => (space, QueueCall::Dead(queue, limit)),
        C::Redrive { space, queue, limit } => (space, QueueCall::Redrive(queue, limit)),
        C::Purge { space, queue, dead_letters } => (space, QueueCall::Purge(queue, dead_letters)),
        C::Delete { space, queue } => (space, QueueCall::Delete(queue)),
    })
}

/// Makes the call on an engine in this process (a receive with a wait
/// blocks, woken by an enqueue).
pub fn call_local(space: &Space, call: QueueCall) -> Result<Value, String> {
    match call {
        QueueCall::Enqueue(q, m) => to_json(space.enqueue(&q, m).map(|messages| json!({ "messages": messages }))),
        QueueCall::Receive(q, r) => to_json(space.receive(&q, r).map(|messages| json!({ "messages": messages }))),
        QueueCall::Ack(q, r) => to_json(space.ack(&q, r).map(|results| json!({ "results": results }))),
        QueueCall::Nack(q, r, n) => to_json(space.nack(&q, &r, n)),
        QueueCall::Extend(q, r, s) => {
            to_json(space.extend_lease(&q, &r, s).map(|at| json!({ "lease_expires_at_ms": at })))
        }
        QueueCall::Stats(q) => to_json(space.queue_stats(&q)),
        QueueCall::List => to_json(space.queues().map(|queues| json!({ "queues": queues }))),
        QueueCall::Configure(q, c) => to_json(space.configure_queue(&q, c)),
        QueueCall::Dead(q, l) => to_json(space.dead_letters(&q, l).map(|messages| json!({ "messages": messages }))),
        QueueCall::Redrive(q, l) => to_json(space.redrive(&q, l).map(|n| json!({ "count": n }))),
        QueueCall::Purge(q, d) => to_json(space.purge_queue(&q, d).map(|n| json!({ "count": n }))),
        QueueCall::Delete(q) => to_json(space.delete_queue(&q).map(|n| json!({ "count": n }))),
    }
}

/// The HTTP method, path under `/v1/spaces/{space}`, query and body of a call.
pub fn http_request(
    call: QueueCall,
    enc: impl Fn(&str) -> String,
) -> (&'static str, String, Vec<(String, String)>, Value) {
    let path = |q: &str, rest: &str| format!("/queues/{}{rest}", enc(q));
    let none = Vec::new();
    match call {
        QueueCall::Enqueue(q, m) => ("POST", path(&q, "/messages"), none, json!({ "messages": m })),
        QueueCall::Receive(q, r) => ("POST", path(&q, "/receive"), none, body(&r)),
        QueueCall::Ack(q, r) => ("POST", path(&q, "/ack"), none, json!({ "receipts": r })),
        QueueCall::Nack(q, receipt, n) => {
            let b = json!({ "receipt": receipt, "delay_seconds": n.delay_seconds, "error": n.error });
            ("POST", path(&q, "/nack"), none, b)
        }
        QueueCall::Extend(q, receipt, s) => {
            ("POST", path(&q, "/extend"), none, json!({ "receipt": receipt, "visibility_timeout_seconds": s }))
        }
        QueueCall::Stats(q) => ("GET", path(&q, ""), none, Value::Null),
        QueueCall::List => ("GET", "/queues".into(), none, Value::Null),
        QueueCall::Configure(q, c) => ("PUT", path(&q, ""), none, body(&c)),
        QueueCall::Dead(q, l) => ("GET", path(&q, "/dead-letters"), vec![("limit".into(), l.to_string())], Value::Null),
        QueueCall::Redrive(q, l) => ("POST", path(&q, "/redrive"), none, json!({ "limit": l })),
        QueueCall::Purge(q, d) => ("POST", path(&q, "/purge"), none, json!({ "dead_letters": d })),
        QueueCall::Delete(q) => ("DELETE", path(&q, ""), none, Value::Null),
    }
}
