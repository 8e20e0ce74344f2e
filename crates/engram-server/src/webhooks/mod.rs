//! Webhook delivery: the dispatcher that follows every space's outbox and
//! POSTs each message to the endpoints that want it, signed per Standard
//! Webhooks, with the published retry schedule, SSRF rules and timeouts.

pub mod dispatch;
pub mod sign;
pub mod ssrf;

use std::time::Duration;

/// The published retry schedule: after a failed attempt, the next comes
/// after these delays in turn (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h:
/// 8 attempts over about 27.6 hours), then the message is dead-lettered.
pub const RETRY_SCHEDULE_SECONDS: [u64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// How the dispatcher delivers.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// Delays between attempts of one message (see [`RETRY_SCHEDULE_SECONDS`]).
    pub schedule: Vec<Duration>,
    /// Longest one attempt may take (connect, send, answer).
    pub timeout: Duration,
    /// Whether endpoints may resolve to private or loopback addresses.
    pub allow_private: bool,
    /// Endpoints delivered to at once.
    pub concurrency: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            schedule: RETRY_SCHEDULE_SECONDS.iter().map(|s| Duration::from_secs(*s)).collect(),
            timeout: Duration::from_secs(10),
            allow_private: false,
            concurrency: 16,
        }
    }
}
