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

    /// The space changed, in a way not known here (another server's
    /// commit): wakes its waiters, one in every queue's line (none when
    /// nobody ever waited).
    pub fn bump(&self, space: SpaceId) {
        let signal = self.spaces.read().expect("signals lock").get(&space).cloned();
        if let Some(s) = signal {
            s.bump();
        }
        self.any.bump();
    }

    /// This process committed a write of the space that may have made
    /// messages of `queues` receivable (and of no other queue): wakes the
    /// space's waiters, but in the lines of those queues only. An
    /// acknowledgement or a lease makes nothing receivable, so it wakes
    /// no receiver.
    pub fn bump_written(&self, space: SpaceId, queues: &[String]) {
        let signal = self.spaces.read().expect("signals lock").get(&space).cloned();
        if let Some(s) = signal {
            s.bump_counter();
            s.wake_lines(queues);
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
    /// The lines of receivers waiting on each of the space's queues.
    lines: Mutex<HashMap<String, Arc<Line>>>,
}

#[derive(Default)]
struct State {
    generation: u64,
    next_listener: u64,
    listeners: Vec<(u64, Callback)>,
}

impl Signal {
    /// Wakes every waiter of the counter and one receiver of every queue.
    fn bump(&self) {
        self.bump_counter();
        let lines: Vec<Arc<Line>> = self.lines.lock().expect("signal lock").values().cloned().collect();
        for line in lines {
            line.wake_one();
        }
    }

    /// Moves the counter and wakes its waiters (not the queues' lines).
    fn bump_counter(&self) {
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

    /// Wakes one receiver of each of `queues` (lines nobody waits in are
    /// not made).
    fn wake_lines(&self, queues: &[String]) {
        let lines: Vec<Arc<Line>> = {
            let all = self.lines.lock().expect("signal lock");
            queues.iter().filter_map(|q| all.get(q).cloned()).collect()
        };
        for line in lines {
            line.wake_one();
        }
    }

    /// The line of receivers waiting on `queue`: a change wakes one of them
    /// (see [`Line`]).
    pub fn line(&self, queue: &str) -> Arc<Line> {
        self.lines.lock().expect("signal lock").entry(queue.to_owned()).or_default().clone()
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

/// Receivers waiting on one queue. A change that may have made messages
/// receivable wakes only the first in line; a receiver that took a full
/// batch wakes the next ([`Line::wake_one`]), since more may be waiting.
/// So N idle receivers cost one check per change instead of N.
///
/// Invariant: a wake-up is never lost, and never multiplied. A receiver
/// reads the counter before it looks at the queue, and so starts a look
/// that sees every change before. A change while a woken receiver has not
/// started its look wakes no one more: that look sees it. Otherwise the
/// wake-up goes to the first receiver waiting in line; when none waits, it is kept
/// (`unclaimed`) for the first receiver that comes to wait having looked
/// before it (its counter moved), which then looks again at once instead
/// of waiting. Every other receiver that looked before the change waits:
/// someone looks after the change either way. (Letting every receiver
/// whose counter moved look again made all of them busy receivers while
/// changes were frequent: every look of a busy queue overlaps some
/// change.) A woken receiver whose wait was already abandoned passes the
/// wake-up on.
#[derive(Default)]
pub struct Line {
    state: Mutex<LineState>,
}

/// How long a woken receiver that has not started its look still counts
/// on to see later changes: one that was woken and then went away (a
/// cancelled request) must not hold back wake-ups for longer.
const WOKEN_LOOK_WITHIN: Duration = Duration::from_millis(100);

#[derive(Default)]
struct LineState {
    generation: u64,
    /// A wake-up came while nobody waited: the next receiver to wait that
    /// looked before it takes it.
    unclaimed: bool,
    /// When a receiver was woken, if no look has started since.
    woken_unlooked: Option<Instant>,
    next_waiter: u64,
    waiters: std::collections::VecDeque<(u64, Wake)>,
}

/// Wakes a waiter; false when nobody took the wake-up (the waiter is gone).
type Wake = Box<dyn FnOnce() -> bool + Send>;

impl Line {
    /// The counter: read it before looking at the queue.
    /// A receiver starts a look: it will see every change made so far.
    pub fn generation(&self) -> u64 {
        let mut st = self.state.lock().expect("line lock");
        st.woken_unlooked = None;
        st.generation
    }

    /// Wakes the first waiter in line that is still waiting, unless a
    /// receiver woken earlier has not started its look yet: that look will
    /// see this change too (a batch of enqueues committed together wakes
    /// one receiver, not one per enqueue).
    pub fn wake_one(&self) {
        self.wake_next(false);
    }

    /// [`Line::wake_one`]; `retry` when the wake-up was taken by a waiter
    /// that turned out to be gone, so it must reach someone.
    fn wake_next(&self, mut retry: bool) {
        loop {
            let next = {
                let mut st = self.state.lock().expect("line lock");
                st.generation = st.generation.wrapping_add(1);
                let looking_soon = st.woken_unlooked.is_some_and(|t| t.elapsed() < WOKEN_LOOK_WITHIN);
                if looking_soon && !retry {
                    return;
                }
                let next = st.waiters.pop_front();
                st.unclaimed = next.is_none();
                // Set before the wake, under the lock, so the woken
                // receiver's look clears it after, never before.
                st.woken_unlooked = next.is_some().then(Instant::now);
                next
            };
            match next {
                Some((_, wake)) => {
                    if wake() {
                        return;
                    }
                    // Gone: the next in line takes the wake-up (and any
                    // change skipped meanwhile for this one's look).
                    retry = true;
                }
                None => return,
            }
        }
    }

    /// Calls `wake` when this waiter's turn comes (at once if the counter
    /// moved past `seen` with a wake-up nobody took); `wake` returns
    /// whether the wake-up was taken. Dropping the guard leaves the line.
    pub fn on_wake(self: &Arc<Self>, seen: u64, wake: impl FnOnce() -> bool + Send + 'static) -> InLine {
        let mut st = self.state.lock().expect("line lock");
        if st.generation != seen && std::mem::take(&mut st.unclaimed) {
            st.woken_unlooked = Some(Instant::now());
            drop(st);
            if !wake() {
                self.wake_next(true);
            }
            return InLine { line: self.clone(), id: None };
        }
        let id = st.next_waiter;
        st.next_waiter += 1;
        st.waiters.push_back((id, Box::new(wake)));
        InLine { line: self.clone(), id: Some(id) }
    }

    /// Blocks until this waiter is woken or `timeout` passes.
    pub fn wait(self: &Arc<Self>, seen: u64, timeout: Duration) {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let _in_line = self.on_wake(seen, move || tx.send(()).is_ok());
        let _ = rx.recv_timeout(timeout);
    }
}

/// A place in a [`Line`]; leaves it when dropped.
pub struct InLine {
    line: Arc<Line>,
    id: Option<u64>,
}

impl Drop for InLine {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.line.state.lock().expect("line lock").waiters.retain(|(w, _)| *w != id);
        }
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
    fn a_line_wakes_one_waiter_per_change_and_passes_on_abandoned_wakes() {
        let signals = Signals::default();
        let space = SpaceId(3);
        let line = signals.get(space).line("jobs");
        let woken = Arc::new(AtomicUsize::new(0));
        let g = line.generation();
        let mut places = Vec::new();
        for _ in 0..3 {
            let w = woken.clone();
            places.push(line.on_wake(g, move || {
                w.fetch_add(1, Ordering::SeqCst);
                true
            }));
        }
        signals.bump(space);
        assert_eq!(woken.load(Ordering::SeqCst), 1, "one waiter per change");
        // The woken receiver looks, takes a full batch and passes on.
        line.generation();
        line.wake_one();
        assert_eq!(woken.load(Ordering::SeqCst), 2, "a full batch wakes the next");
        // A waiter that is gone passes its wake-up on.
        let g = line.generation();
        let gone = line.on_wake(g, || false);
        let w = woken.clone();
        let _kept = line.on_wake(g, move || {
            w.fetch_add(10, Ordering::SeqCst);
            true
        });
        places.clear();
        signals.bump(space);
        drop(gone);
        assert_eq!(woken.load(Ordering::SeqCst), 12);
    }

    #[test]
    fn a_wake_up_nobody_waited_for_goes_to_one_late_waiter_only() {
        let signals = Signals::default();
        let space = SpaceId(4);
        let line = signals.get(space).line("jobs");
        let looked = line.generation();
        // Two receivers looked, then enqueues committed while neither waited.
        signals.bump_written(space, &["jobs".to_owned()]);
        signals.bump_written(space, &["jobs".to_owned()]);
        let woken = Arc::new(AtomicUsize::new(0));
        let wake = |w: Arc<AtomicUsize>| {
            move || {
                w.fetch_add(1, Ordering::SeqCst);
                true
            }
        };
        let _first = line.on_wake(looked, wake(woken.clone()));
        let _second = line.on_wake(looked, wake(woken.clone()));
        assert_eq!(woken.load(Ordering::SeqCst), 1, "one looks again at once, the other waits in line");
        // A write that readied another queue, or none, wakes no receiver.
        signals.bump_written(space, &["other".to_owned()]);
        signals.bump_written(space, &[]);
        assert_eq!(woken.load(Ordering::SeqCst), 1);
        // Another server's commit (what it readied is unknown) wakes one,
        // once the first woken has started its look.
        line.generation();
        signals.bump(space);
        assert_eq!(woken.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn changes_before_a_woken_receiver_looks_wake_no_one_more() {
        let line = Arc::new(Line::default());
        let woken = Arc::new(AtomicUsize::new(0));
        let seen = line.generation();
        let places: Vec<InLine> = (0..3)
            .map(|_| {
                let w = woken.clone();
                line.on_wake(seen, move || {
                    w.fetch_add(1, Ordering::SeqCst);
                    true
                })
            })
            .collect();
        for _ in 0..5 {
            line.wake_one();
        }
        assert_eq!(woken.load(Ordering::SeqCst), 1, "five enqueues before the woken receiver looked: one wake-up");
        let _look = line.generation();
        line.wake_one();
        assert_eq!(woken.load(Ordering::SeqCst), 2, "a change after its look wakes the next");
        // A woken receiver that is gone passes the wake-up on, even while
        // the skip is armed.
        drop(places);
        let seen = line.generation();
        let gone = line.on_wake(seen, || false);
        let w = woken.clone();
        let _kept = line.on_wake(seen, move || {
            w.fetch_add(10, Ordering::SeqCst);
            true
        });
        line.wake_one();
        drop(gone);
        assert_eq!(woken.load(Ordering::SeqCst), 12);
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
