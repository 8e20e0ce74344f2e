//! Bounded retries with jitter for writes that lost a race.
//!
//! A backend reports a transaction that wrote nothing and may simply run
//! again (a serialization failure, a deadlock, a connection dropped before
//! the commit) as `ErrorKind::Contention`. The engine re-runs the work in a
//! new transaction a bounded number of times, with exponential backoff and
//! full jitter so that writers that collided do not collide again in step.
//! A failure whose outcome is unknown (the connection dropped during the
//! commit) is never `Contention`: re-running it could apply a write twice.

use engram_core::backend::{Backend, BackendExt, WriteTx};
use engram_core::{ErrorKind, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Attempts of one write before its contention error reaches the caller.
pub const WRITE_ATTEMPTS_MAX: u32 = 6;
/// The first backoff's upper bound; doubled per attempt.
const BACKOFF_BASE_MS: u64 = 2;
/// Upper bound of any one backoff.
const BACKOFF_MAX_MS: u64 = 250;

/// Runs `work` in a transaction, again after each contention failure, at
/// most [`WRITE_ATTEMPTS_MAX`] times; counts re-runs in `retries`.
pub fn write_retrying<T, F>(backend: &dyn Backend, retries: &AtomicU64, work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnMut(&mut dyn WriteTx) -> Result<T> + Send + 'static,
{
    let work = Arc::new(Mutex::new(work));
    let mut attempt = 1;
    loop {
        let w = work.clone();
        let run = move |tx: &mut dyn WriteTx| (w.lock().unwrap_or_else(PoisonError::into_inner))(tx);
        match backend.write_with(run) {
            Err(e) if e.kind() == ErrorKind::Contention && attempt < WRITE_ATTEMPTS_MAX => {
                retries.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(backoff(attempt));
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// A random wait in [0, min(max, base·2^attempt)] ("full jitter").
fn backoff(attempt: u32) -> Duration {
    let cap = BACKOFF_BASE_MS.saturating_mul(1 << attempt.min(16)).min(BACKOFF_MAX_MS);
    let r = getrandom::u64().unwrap_or(u64::from(attempt));
    Duration::from_micros(r % (cap * 1000 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use engram_core::Error;
    use engram_core::memory::MemoryBackend;

    #[test]
    fn contention_is_retried_a_bounded_number_of_times() {
        let backend = MemoryBackend::new();
        let retries = AtomicU64::new(0);
        let mut calls = 0;
        let out = write_retrying(&backend, &retries, move |_tx| {
            calls += 1;
            if calls < 3 { Err(Error::new(ErrorKind::Contention, "lost a race")) } else { Ok(calls) }
        });
        assert_eq!(out, Ok(3), "the third attempt succeeds");
        assert_eq!(retries.load(Ordering::Relaxed), 2);
        let always = write_retrying(&backend, &retries, |_tx| -> Result<()> {
            Err(Error::new(ErrorKind::Contention, "always"))
        });
        assert_eq!(always.map_err(|e| e.kind()), Err(ErrorKind::Contention));
        assert_eq!(retries.load(Ordering::Relaxed), 2 + u64::from(WRITE_ATTEMPTS_MAX) - 1);
        let other = write_retrying(&backend, &retries, |_tx| -> Result<()> { Err(Error::conflict("version")) });
        assert_eq!(other.map_err(|e| e.kind()), Err(ErrorKind::Conflict), "other errors are not retried");
        assert_eq!(retries.load(Ordering::Relaxed), 2 + u64::from(WRITE_ATTEMPTS_MAX) - 1);
    }

    #[test]
    fn backoff_stays_within_its_cap() {
        for attempt in 1..40 {
            assert!(backoff(attempt) <= Duration::from_millis(BACKOFF_MAX_MS));
        }
    }
}
