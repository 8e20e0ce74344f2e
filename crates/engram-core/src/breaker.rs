//! A circuit breaker around a remote service (an object store, an
//! embedding endpoint): after a run of failures, calls fail at once with
//! `Unavailable` (a 503 with `Retry-After` over HTTP) instead of each
//! waiting out retries and timeouts; one call is let through now and then
//! as a probe, so service resumes by itself when the remote is back.

use crate::{Error, ErrorKind, Result};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Consecutive failed calls that open the breaker.
const FAILURES_TO_OPEN: u32 = 5;
/// How long the breaker first stays open; doubled per failed probe.
const OPEN_FIRST: Duration = Duration::from_millis(500);
/// Longest the breaker stays open before letting a probe through.
const OPEN_MAX: Duration = Duration::from_secs(8);

#[derive(Debug, Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    open_for: Duration,
}

/// One remote's breaker.
#[derive(Debug, Default)]
pub struct Breaker {
    state: Mutex<State>,
}

impl Breaker {
    /// Fails while open; once the open period ends, lets calls through
    /// (the first failure among them reopens it, for longer).
    /// `what` names the remote in the error ("the s3 object store").
    pub fn check(&self, what: impl std::fmt::Display) -> Result<()> {
        let st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match st.open_until {
            Some(until) if Instant::now() < until => {
                Err(Error::new(ErrorKind::Unavailable, format!("{what} is failing; calls are suspended for a moment")))
            }
            _ => Ok(()),
        }
    }

    /// Whether calls are suspended right now.
    pub fn is_open(&self) -> bool {
        let st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.open_until.is_some_and(|until| Instant::now() < until)
    }

    pub fn success(&self) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        *st = State::default();
    }

    pub fn failure(&self) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
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
    fn opens_after_a_run_of_failures_and_closes_on_success() {
        let b = Breaker::default();
        for _ in 0..FAILURES_TO_OPEN - 1 {
            b.failure();
        }
        assert!(b.check("s3").is_ok());
        b.failure();
        assert_eq!(b.check("s3").map_err(|e| e.kind()), Err(ErrorKind::Unavailable));
        b.success();
        assert!(b.check("s3").is_ok());
    }
}
