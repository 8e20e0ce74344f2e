//! Redis Streams, as context: `XADD`, `XREADGROUP` with one consumer group
//! (blocking), `XACK`; one connection per thread, a fresh stream per
//! measurement. Redis acknowledges before any fsync (at best `appendfsync
//! everysec`), so it is not durable the way the other sides are.

use super::load::Side;
use crate::measure::parse_stat_cpu;
use redis::{Connection, Value, cmd};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

const GROUP: &str = "workers";
/// How long an `XREADGROUP` blocks when the stream has nothing new.
const BLOCK_MS: u64 = 100;

pub struct RedisSide {
    key: String,
    producers: Vec<Mutex<Connection>>,
    consumers: Vec<Mutex<Connection>>,
    admin: Mutex<Connection>,
    /// The server's process (from `INFO server`), to count its CPU.
    server_pid: Option<u32>,
}

fn connect(url: &str) -> Connection {
    let client = redis::Client::open(url).expect("a valid Redis URL");
    client.get_connection().unwrap_or_else(|e| panic!("connect to Redis at {url}: {e}"))
}

fn lock(conn: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The persistence settings, for the report (e.g. `appendonly=no`).
pub fn persistence(url: &str) -> String {
    let mut conn = connect(url);
    ["appendonly", "appendfsync", "save"]
        .iter()
        .map(|name| {
            let pair: Vec<String> = cmd("CONFIG").arg("GET").arg(name).query(&mut conn).unwrap_or_default();
            format!("{name}={:?}", pair.get(1).map_or("?", String::as_str))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl RedisSide {
    /// A fresh stream with its consumer group, and a connection per thread.
    pub fn open(url: &str, producers: usize, consumers: usize) -> Self {
        let key = format!("engram-bench-queue-{:016x}", rand::random::<u64>());
        let mut admin = connect(url);
        let _: () = cmd("XGROUP")
            .arg("CREATE")
            .arg(&key)
            .arg(GROUP)
            .arg("$")
            .arg("MKSTREAM")
            .query(&mut admin)
            .expect("XGROUP CREATE");
        let info: String = cmd("INFO").arg("server").query(&mut admin).expect("INFO server");
        let server_pid = info.lines().find_map(|l| l.strip_prefix("process_id:")).and_then(|v| v.trim().parse().ok());
        let conns = |n| (0..n).map(|_| Mutex::new(connect(url))).collect();
        Self { key, producers: conns(producers), consumers: conns(consumers), admin: Mutex::new(admin), server_pid }
    }

    /// Deletes the stream.
    pub fn close(self) {
        let _: i64 = cmd("DEL").arg(&self.key).query(&mut *lock(&self.admin)).expect("DEL the stream");
    }
}

/// The entries of an `XREADGROUP` reply: `[[key, [[id, [field, value]], …]]]`,
/// or nil when the block timed out.
fn entries(reply: Value) -> Vec<(String, serde_json::Value)> {
    let Value::Array(streams) = reply else { return Vec::new() };
    let mut out = Vec::new();
    for stream in streams {
        let Value::Array(mut parts) = stream else { continue };
        let Some(Value::Array(items)) = parts.pop() else { continue };
        for item in items {
            let Value::Array(fields) = item else { continue };
            let (Some(Value::BulkString(id)), Some(Value::Array(kv))) = (fields.first(), fields.get(1)) else {
                continue;
            };
            let Some(Value::BulkString(body)) = kv.get(1) else { continue };
            let body = serde_json::from_slice(body).expect("a stream entry's body is JSON");
            out.push((String::from_utf8_lossy(id).into_owned(), body));
        }
    }
    out
}

impl Side for RedisSide {
    type Receipt = String;

    fn enqueue(&self, producer: usize, body: &serde_json::Value) {
        let text = serde_json::to_string(body).expect("serialize a body");
        let conn = &mut *lock(&self.producers[producer]);
        let _: String = cmd("XADD").arg(&self.key).arg("*").arg("body").arg(text).query(conn).expect("XADD");
    }

    fn receive(&self, consumer: usize, max: usize) -> Vec<(String, serde_json::Value)> {
        let conn = &mut *lock(&self.consumers[consumer]);
        let reply: Value = cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(format!("c{consumer}"))
            .arg("COUNT")
            .arg(max)
            .arg("BLOCK")
            .arg(BLOCK_MS)
            .arg("STREAMS")
            .arg(&self.key)
            .arg(">")
            .query(conn)
            .expect("XREADGROUP");
        entries(reply)
    }

    fn ack(&self, consumer: usize, receipts: Vec<String>) -> usize {
        let conn = &mut *lock(&self.consumers[consumer]);
        let n: i64 = cmd("XACK").arg(&self.key).arg(GROUP).arg(&receipts).query(conn).expect("XACK");
        n as usize
    }

    fn server_cpu(&self) -> Duration {
        self.server_pid
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
            .and_then(|s| parse_stat_cpu(&s))
            .unwrap_or(Duration::ZERO)
    }
}
