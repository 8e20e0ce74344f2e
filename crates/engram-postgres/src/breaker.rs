//! A circuit breaker on connecting: while PostgreSQL cannot be reached,
//! callers fail at once with `Unavailable` (a 503 with `Retry-After` over
//! HTTP) instead of each waiting out a connect timeout, and a probe is let
//! through now and then so service resumes by itself when it returns.
//!
//! One breaker per database URL in the process, shared by every backend on
//! it (the pool's, the writer's and the leases' connections): they all
//! fail together when the database is gone.

use engram_core::{Error, ErrorKind, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Consecutive failed connection attempts that open the breaker.
const FAILURES_TO_OPEN: u32 = 3;
/// How long the breaker first stays open; doubled per failed probe.
const OPEN_FIRST: Duration = Duration::from_millis(250);
/// Longest the breaker stays open before letting a probe through.
const OPEN_MAX: Duration = Duration::from_secs(4);

#[derive(Debug, Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    open_for: Duration,
}

/// The breaker of one database URL.
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    state: Mutex<State>,
}

/// The breaker shared by every connection to `url` in this process.
pub(crate) fn for_url(url: &str) -> Arc<Breaker> {
    static ALL: OnceLock<Mutex<HashMap<String, Arc<Breaker>>>> = OnceLock::new();
    let mut all = ALL.get_or_init(Mutex::default).lock().unwrap_or_else(PoisonError::into_inner);
    all.entry(url.to_owned()).or_default().clone()
}

impl Breaker {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Fails at once while the breaker is open.
    pub(crate) fn check(&self) -> Result<()> {
        let st = self.lock();
        match st.open_until {
            Some(until) if Instant::now() < until => Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "PostgreSQL cannot be reached ({} connection attempts failed in a row); failing fast for {} ms \
                     before trying again",
                    st.failures,
                    until.saturating_duration_since(Instant::now()).as_millis()
                ),
            )),
            _ => Ok(()),
        }
    }

    pub(crate) fn succeeded(&self) {
        *self.lock() = State::default();
    }

    pub(crate) fn failed(&self) {
        let mut st = self.lock();
        st.failures = st.failures.saturating_add(1);
        if st.failures >= FAILURES_TO_OPEN {
            st.open_for = if st.open_for.is_zero() { OPEN_FIRST } else { (st.open_for * 2).min(OPEN_MAX) };
            st.open_until = Some(Instant::now() + st.open_for);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_repeated_failures_and_closes_on_success() {
        let b = Breaker::default();
        for _ in 0..FAILURES_TO_OPEN - 1 {
            b.failed();
            assert!(b.check().is_ok(), "still closed below the threshold");
        }
        b.failed();
        let e = b.check().expect_err("open");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.message().contains("failing fast"), "{e}");
        std::thread::sleep(OPEN_FIRST + Duration::from_millis(20));
        assert!(b.check().is_ok(), "a probe is let through once the open period ends");
        b.failed();
        assert!(b.check().is_err(), "a failed probe opens it again");
        assert_eq!(b.lock().open_for, OPEN_FIRST * 2, "for longer");
        b.succeeded();
        assert!(b.check().is_ok(), "a success closes it");
        assert_eq!(b.lock().failures, 0);
    }

    #[test]
    fn one_breaker_per_url() {
        assert!(Arc::ptr_eq(&for_url("postgres://a/x"), &for_url("postgres://a/x")));
        assert!(!Arc::ptr_eq(&for_url("postgres://a/x"), &for_url("postgres://a/y")));
    }
}
