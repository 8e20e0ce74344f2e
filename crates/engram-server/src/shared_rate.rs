//! Per-key request rates shared by every server through Redis: the same
//! token bucket as [`crate::limits::RateLimiter`] (bursts of twice the
//! rate), kept in Redis and updated by one Lua script, so a key gets its
//! rate across all servers together instead of per server.
//!
//! Time comes from Redis (`TIME`), so servers whose clocks differ share one
//! bucket correctly. When Redis cannot be reached the request passes (and
//! a warning is logged at most once a minute): the limit sheds load, it
//! does not guard data, and an outage of Redis must not stop the service.

use redis::{Client, Connection, Script};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Bound on every Redis call, so a hung Redis cannot hang requests.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
/// Idle connections kept for reuse.
const IDLE_CONNECTIONS_MAX: usize = 32;
/// Warnings about an unreachable Redis, at most one per this interval.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// KEYS[1]: the bucket. ARGV[1]: tokens per second. Returns the
/// milliseconds until a token is back (0: taken).
const TAKE: &str = r"
local rate = tonumber(ARGV[1])
local burst = rate * 2
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
";

/// Where a server keeps its per-key request rates.
pub enum Rates {
    /// In this process: each server limits a key on its own.
    Local(crate::limits::RateLimiter),
    /// In Redis: all servers limit a key together.
    Shared(SharedRate),
}

impl Rates {
    /// Takes a token for `key`; on refusal, the seconds until one is back.
    /// Shared rates make a Redis round trip: call them off the runtime.
    pub fn take(&self, key: &str, rate: f64) -> Result<(), u64> {
        match self {
            Self::Local(r) => r.take(key, rate),
            Self::Shared(r) => r.take(key, rate),
        }
    }

    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Shared(_))
    }
}

impl Default for Rates {
    fn default() -> Self {
        Self::Local(crate::limits::RateLimiter::default())
    }
}

/// The Redis-backed limiter of one server.
pub struct SharedRate {
    client: Client,
    script: Script,
    idle: Mutex<Vec<Connection>>,
    /// Prefix of bucket keys (one Redis may serve several deployments).
    prefix: String,
    warned: Mutex<Option<Instant>>,
}

impl SharedRate {
    /// Connects to `url` (`redis://host:port[/db]`) and checks it answers.
    pub fn connect(url: &str, prefix: &str) -> Result<Self, String> {
        let client = Client::open(url).map_err(|e| format!("the Redis URL is not valid: {e}"))?;
        let me = Self {
            client,
            script: Script::new(TAKE),
            idle: Mutex::default(),
            prefix: prefix.to_owned(),
            warned: Mutex::default(),
        };
        let mut conn = me.connection().map_err(|e| format!("Redis at {url} does not answer: {e}"))?;
        redis::cmd("PING").query::<String>(&mut conn).map_err(|e| format!("Redis at {url} does not answer: {e}"))?;
        me.give_back(conn);
        Ok(me)
    }

    fn connection(&self) -> redis::RedisResult<Connection> {
        if let Some(c) = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop() {
            return Ok(c);
        }
        let conn = self.client.get_connection_with_timeout(REDIS_TIMEOUT)?;
        conn.set_read_timeout(Some(REDIS_TIMEOUT))?;
        conn.set_write_timeout(Some(REDIS_TIMEOUT))?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_CONNECTIONS_MAX {
            idle.push(conn);
        }
    }

    /// Takes a token for `key`; on refusal, the seconds until one is back.
    /// Blocking (a Redis round trip): call it off the async runtime.
    pub fn take(&self, key: &str, rate: f64) -> Result<(), u64> {
        if rate <= 0.0 {
            return Ok(());
        }
        match self.try_take(key, rate) {
            Ok(0) => Ok(()),
            Ok(wait_ms) => Err(wait_ms.div_ceil(1000).max(1)),
            Err(e) => {
                self.warn(&e);
                Ok(())
            }
        }
    }

    fn try_take(&self, key: &str, rate: f64) -> redis::RedisResult<u64> {
        let mut conn = self.connection()?;
        let bucket = format!("{}:rate:{key}", self.prefix);
        let wait: u64 = self.script.key(bucket).arg(rate).invoke(&mut conn)?;
        self.give_back(conn);
        Ok(wait)
    }

    fn warn(&self, e: &redis::RedisError) {
        let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        if warned.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            tracing::warn!(error = %e, "Redis is unreachable: request rates are not limited until it returns");
            *warned = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A limiter on the machine's Redis with a fresh prefix, or `None` with
    /// a visible message outside CI (under CI a missing Redis fails).
    fn limiter() -> Option<SharedRate> {
        let url = std::env::var("ENGRAM_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let prefix = format!("engram-test-{:016x}", getrandom::u64().expect("randomness"));
        match SharedRate::connect(&url, &prefix) {
            Ok(l) => Some(l),
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!("skipped: {e}");
                None
            }
            Err(e) => panic!("no Redis under CI: {e}"),
        }
    }

    #[test]
    fn two_servers_share_one_bucket_per_key() {
        let (Some(a), Some(b)) = (limiter(), limiter()) else { return };
        // Same deployment: the second server uses the first one's prefix.
        let b = SharedRate { prefix: a.prefix.clone(), ..b };
        let rate = 5.0;
        let mut passed = 0;
        for i in 0..20 {
            let server = if i % 2 == 0 { &a } else { &b };
            if server.take("k1", rate).is_ok() {
                passed += 1;
            }
        }
        // A burst of twice the rate in all, not per server (a token may
        // come back while the loop runs).
        assert!((10..=11).contains(&passed), "passed {passed} of 20 across two servers");
        let refused = a.take("k1", rate).expect_err("the bucket is empty");
        assert!(refused >= 1, "Retry-After in whole seconds: {refused}");
        assert!(b.take("k2", rate).is_ok(), "keys have their own buckets");
        assert!(a.take("k1", 0.0).is_ok(), "rate 0 is unlimited");
    }

    #[test]
    fn an_unreachable_redis_lets_requests_through() {
        let Some(l) = limiter() else { return };
        // Point the pooled client at a port nothing listens on.
        let dead =
            SharedRate { client: Client::open("redis://127.0.0.1:1").expect("url"), idle: Mutex::default(), ..l };
        for _ in 0..50 {
            assert!(dead.take("k", 1.0).is_ok());
        }
    }
}
