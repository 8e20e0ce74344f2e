//! The Engram side: `Space::enqueue`, the long-polling `Space::receive`
//! and `Space::ack` on one engine (SQLite data directory or a PostgreSQL
//! schema), shared by every thread as a server's request handlers would.

use super::load::Side;
use crate::postgres::engine::Store;
use engram::{MessageInput, QueueConfig, ReceiveRequest};
use serde_json::Value;
use std::time::Duration;

pub const QUEUE: &str = "jobs";

/// Seconds a receive waits for a message when none is ready (the long
/// poll; woken by an enqueue, not by polling).
const WAIT_SECONDS: u64 = 1;

pub struct EngramSide {
    store: Store,
    /// The run database's name, to count its server processes' CPU (on
    /// PostgreSQL).
    dbname: Option<String>,
    /// The PostgreSQL writer's (commits, writes) when the side opened.
    commits_before: Option<(u64, u64)>,
    /// Write transactions completed when the side opened.
    writes_before: u64,
}

impl EngramSide {
    /// Creates the queue with its default settings (a 30 s lease, far
    /// longer than a measurement, so no lease expires in one).
    pub fn new(store: Store, dbname: Option<String>) -> Self {
        store.space.configure_queue(QUEUE, QueueConfig::default()).expect("configure the queue");
        let (commits_before, writes_before) = (store.commits(), store.stats().writes);
        Self { store, dbname, commits_before, writes_before }
    }

    /// Closes the engine, first printing its write transactions per
    /// message (every enqueue, receive attempt and ack is one; a long poll
    /// makes an attempt each time it is woken) and how many writes the
    /// PostgreSQL writer batched per commit.
    pub fn close(self, delivered: u64) {
        let writes = self.store.stats().writes - self.writes_before;
        let per = writes as f64 / delivered.max(1) as f64;
        println!("    Engram: {writes} write transactions, {per:.1} per message delivered");
        if let (Some(b), Some(a)) = (self.commits_before, self.store.commits()) {
            let (commits, writes) = (a.0 - b.0, a.1 - b.1);
            let per = writes as f64 / commits.max(1) as f64;
            println!("    Engram-PG writer: {commits} commits for {writes} writes ({per:.1} per commit)");
        }
        self.store.close();
    }
}

impl Side for EngramSide {
    type Receipt = String;

    fn enqueue(&self, _producer: usize, body: &Value) {
        self.store.space.enqueue(QUEUE, vec![MessageInput::new(body.clone())]).expect("enqueue");
    }

    fn receive(&self, _consumer: usize, max: usize) -> Vec<(String, Value)> {
        let req = ReceiveRequest {
            max_messages: Some(max),
            visibility_timeout_seconds: None,
            wait_seconds: Some(WAIT_SECONDS),
        };
        let messages = self.store.space.receive(QUEUE, req).expect("receive");
        messages.into_iter().map(|m| (m.receipt, m.body)).collect()
    }

    fn ack(&self, _consumer: usize, receipts: Vec<String>) -> usize {
        self.store.space.ack(QUEUE, receipts).expect("ack").iter().filter(|o| o.acked).count()
    }

    fn server_cpu(&self) -> Duration {
        self.dbname.as_deref().map_or(Duration::ZERO, crate::postgres::server_cpu)
    }
}
