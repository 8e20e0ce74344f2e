//! Hybrid logical clock: wall-clock milliseconds with a logical counter.
//!
//! A timestamp is `physical_ms << 16 | logical`. Invariant: `tick` returns
//! strictly increasing values even when the wall clock stalls or steps back,
//! and never less than the floor it was started from (the newest stored
//! timestamp), so the change log's clock is monotonic across restarts.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

const LOGICAL_BITS: u32 = 16;

/// Source of wall-clock time, injected so tests can be deterministic.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    }
}

/// A hybrid logical clock.
pub struct Hlc {
    clock: Arc<dyn Clock>,
    last: Mutex<u64>,
}

impl Hlc {
    /// A clock that never returns a value at or below `floor`.
    pub fn new(clock: Arc<dyn Clock>, floor: u64) -> Self {
        Self { clock, last: Mutex::new(floor) }
    }

    /// The next timestamp.
    pub fn tick(&self) -> u64 {
        let wall = self.clock.now_ms() << LOGICAL_BITS;
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *last = wall.max(*last + 1);
        *last
    }

    /// Wall-clock milliseconds of the underlying clock (for TTLs).
    pub fn wall_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Raises the floor to a timestamp seen elsewhere.
    pub fn observe(&self, seen: u64) {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *last = (*last).max(seen);
    }
}

/// Milliseconds part of an HLC timestamp.
pub fn physical_ms(ts: u64) -> u64 {
    ts >> LOGICAL_BITS
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u64);
    impl Clock for Fixed {
        fn now_ms(&self) -> u64 {
            self.0
        }
    }

    #[test]
    fn monotonic_when_clock_stalls_or_steps_back() {
        let hlc = Hlc::new(Arc::new(Fixed(1000)), 0);
        let a = hlc.tick();
        let b = hlc.tick();
        assert!(b > a && physical_ms(b) == 1000);
        let back = Hlc::new(Arc::new(Fixed(10)), b);
        assert!(back.tick() > b);
    }
}
