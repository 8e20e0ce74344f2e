//! Backpressure: per-key request rates (429 with Retry-After), failed
//! authentication per client address, concurrent requests (503 instead of
//! an unbounded queue) and request timeouts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed authentications a client address may make per window, by default.
pub const AUTH_FAILURES_MAX: u32 = 20;
/// The window failed authentications are counted over.
pub const AUTH_FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Bodies above this many bytes (or of unknown length) are "large": they
/// need one of [`Limits::large_requests`] permits besides the usual one.
pub const LARGE_BODY_BYTES: u64 = 1024 * 1024;
/// Clients or keys tracked at most; older entries are dropped beyond it.
const TRACKED_MAX: usize = 100_000;

/// Server limits, from configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Requests per second per key (0 = unlimited); bursts of twice that.
    pub rate_per_key: f64,
    /// Open connections at once; more wait in the kernel's backlog.
    pub connections: usize,
    /// Requests in flight at once; more get 503 at once.
    pub concurrent_requests: usize,
    /// Requests with large bodies in flight at once, so buffered bodies stay
    /// bounded (this times the 40 MiB body limit) under floods.
    pub large_requests: usize,
    /// Longest a request may run before it gets 503.
    pub request_timeout: Duration,
    /// Failed authentications one client address may make per minute;
    /// beyond it, 429 until the minute is over.
    pub auth_failures_per_window: u32,
    /// Server-Sent Events feed streams open at once; more get 503.
    pub feed_streams: usize,
    /// Longest one feed stream stays open; the client then reconnects with
    /// `Last-Event-ID` (as SSE clients do), so a stream never holds
    /// resources forever.
    pub feed_stream_max: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            rate_per_key: 5_000.0,
            connections: 4_096,
            concurrent_requests: 512,
            large_requests: 16,
            request_timeout: Duration::from_secs(30),
            auth_failures_per_window: AUTH_FAILURES_MAX,
            feed_streams: 256,
            feed_stream_max: Duration::from_secs(300),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Token buckets, one per key.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// Takes a token for `key`; on refusal, the seconds until one is back.
    pub fn take(&self, key: &str, rate: f64) -> Result<(), u64> {
        if rate <= 0.0 {
            return Ok(());
        }
        let burst = rate * 2.0;
        let now = Instant::now();
        let mut buckets = lock(&self.buckets);
        if buckets.len() >= TRACKED_MAX && !buckets.contains_key(key) {
            buckets.clear();
        }
        let (tokens, last) = buckets.entry(key.to_owned()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return Ok(());
        }
        Err(((1.0 - *tokens) / rate).ceil().max(1.0) as u64)
    }
}

/// Failed authentications per client address in a fixed window.
#[derive(Default)]
pub struct AuthFailures {
    clients: Mutex<HashMap<Option<IpAddr>, (Instant, u32)>>,
}

impl AuthFailures {
    /// `Err(seconds)` while the client is over its failures.
    pub fn check(&self, client: Option<IpAddr>, max: u32) -> Result<(), u64> {
        let clients = lock(&self.clients);
        match clients.get(&client) {
            Some((start, n)) if *n >= max && start.elapsed() < AUTH_FAILURE_WINDOW => {
                Err((AUTH_FAILURE_WINDOW - start.elapsed()).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    pub fn record(&self, client: Option<IpAddr>) {
        let mut clients = lock(&self.clients);
        if clients.len() >= TRACKED_MAX {
            clients.retain(|_, (start, _)| start.elapsed() < AUTH_FAILURE_WINDOW);
        }
        let entry = clients.entry(client).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= AUTH_FAILURE_WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_and_refuse() {
        let r = RateLimiter::default();
        for _ in 0..20 {
            assert!(r.take("k", 10.0).is_ok(), "a burst of twice the rate passes");
        }
        assert_eq!(r.take("k", 10.0), Err(1));
        assert!(r.take("other", 10.0).is_ok(), "keys have their own buckets");
        assert!(r.take("k", 0.0).is_ok(), "rate 0 is unlimited");
    }

    #[test]
    fn failures_block_after_the_limit() {
        let f = AuthFailures::default();
        let ip = Some("10.0.0.1".parse().expect("ip"));
        for _ in 0..AUTH_FAILURES_MAX {
            assert!(f.check(ip, AUTH_FAILURES_MAX).is_ok());
            f.record(ip);
        }
        assert!(f.check(ip, AUTH_FAILURES_MAX).is_err());
        assert!(f.check(Some("10.0.0.2".parse().expect("ip")), AUTH_FAILURES_MAX).is_ok());
    }
}
