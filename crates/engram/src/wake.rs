//! Wake-ups for whoever waits on a space's changes (a long-polling queue
//! receiver, a change-feed follower): a counter per space, bumped after
//! every commit that wrote the space, by this process or (when the backend
//! tells of them) another server.
//!
//! Invariant: a waiter reads the counter before it looks at the data and
//! waits only while the counter still has that value, so a commit between
//! its look and its wait wakes it at once (no lost wake-up).

use engram_core::backend::SpaceId;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

type Callback = Box<dyn FnOnce() + Send>;

/// Every space's signal that someone waited on.
#[derive(Default)]
pub(crate) struct Signals {
    spaces: RwLock<HashMap<SpaceId, Arc<Signal>>>,
    /// Bumped with every space's signal (for who follows every space: the
    /// webhook dispatcher).
    any: Arc<Signal>,
}

impl Signals {
    /// The space's signal, made on first use.
    pub fn get(&self, space: SpaceId) -> Arc<Signal> {
        if let Some(s) = self.spaces.read().expect("signals lock").get(&space) {
            return s.clone();
        }
        self.spaces.write().expect("signals lock").entry(space).or_default().clone()
    }

    /// The signal of every space's changes.
    pub fn any(&self) -> Arc<Signal> {
        self.any.clone()
    }

    /// The space changed: wakes its waiters (none when nobody ever waited).
    pub fn bump(&self, space: SpaceId) {
        let signal = self.spaces.read().expect("signals lock").get(&space).cloned();
        if let Some(s) = signal {
            s.bump();
        }
        self.any.bump();
    }

    /// Something changed, unknown where (a lost notification connection):
    /// wakes every waiter, which then looks for itself.
    pub fn bump_all(&self) {
        let all: Vec<Arc<Signal>> = self.spaces.read().expect("signals lock").values().cloned().collect();
        for s in all {
            s.bump();
        }
        self.any.bump();
    }
}

/// One space's change counter and its waiters.
#[derive(Default)]
pub struct Signal {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    generation: u64,
    next_listener: u64,
    listeners: Vec<(u64, Callback)>,
}

impl Signal {
    fn bump(&self) {
        let callbacks = {
            let mut st = self.state.lock().expect("signal lock");
            st.generation = st.generation.wrapping_add(1);
            std::mem::take(&mut st.listeners)
        };
        self.changed.notify_all();
        for (_, f) in callbacks {
            f();
        }
    }

    /// The counter: read it before looking at the data.
    pub fn generation(&self) -> u64 {
        self.state.lock().expect("signal lock").generation
    }

    /// Blocks until the counter differs from `seen` or `timeout` passes;
    /// returns whether it changed.
    pub fn wait(&self, seen: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.state.lock().expect("signal lock");
        while st.generation == seen {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            st = self.changed.wait_timeout(st, left).expect("signal lock").0;
        }
        true
    }

    /// Runs `f` once the counter differs from `seen` (at once if it already
    /// does). Dropping the returned guard before then cancels `f`.
    pub fn on_change(self: &Arc<Self>, seen: u64, f: impl FnOnce() + Send + 'static) -> Listening {
        let mut st = self.state.lock().expect("signal lock");
        if st.generation != seen {
            drop(st);
            f();
            return Listening { signal: self.clone(), id: None };
        }
        let id = st.next_listener;
        st.next_listener += 1;
        st.listeners.push((id, Box::new(f)));
        Listening { signal: self.clone(), id: Some(id) }
    }
}

/// A pending [`Signal::on_change`]; cancels it when dropped.
pub struct Listening {
    signal: Arc<Signal>,
    id: Option<u64>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.signal.state.lock().expect("signal lock").listeners.retain(|(l, _)| *l != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_bump_after_the_look_wakes_the_waiter() {
        let signals = Arc::new(Signals::default());
        let space = SpaceId(7);
        let seen = signals.get(space).generation();
        signals.bump(space);
        assert!(signals.get(space).wait(seen, Duration::from_millis(1)), "a change before the wait is not lost");
        let seen = signals.get(space).generation();
        let s2 = signals.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            s2.bump(space);
        });
        assert!(signals.get(space).wait(seen, Duration::from_secs(10)));
        t.join().expect("bumper");
        assert!(!signals.get(space).wait(signals.get(space).generation(), Duration::from_millis(5)));
    }

    #[test]
    fn callbacks_run_once_and_dropped_ones_never() {
        let signals = Signals::default();
        let space = SpaceId(1);
        let ran = Arc::new(AtomicUsize::new(0));
        let signal = signals.get(space);
        let g = signal.generation();
        let r1 = ran.clone();
        let kept = signal.on_change(g, move || {
            r1.fetch_add(1, Ordering::SeqCst);
        });
        let r2 = ran.clone();
        drop(signal.on_change(g, move || {
            r2.fetch_add(10, Ordering::SeqCst);
        }));
        signals.bump(space);
        signals.bump(space);
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        drop(kept);
        let r3 = ran.clone();
        let _now = signal.on_change(g, move || {
            r3.fetch_add(100, Ordering::SeqCst);
        });
        assert_eq!(ran.load(Ordering::SeqCst), 101, "an old generation fires at once");
    }
}
