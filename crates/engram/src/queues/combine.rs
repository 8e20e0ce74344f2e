//! Receive attempts of one queue made at once in this process, served by
//! one write transaction.
//!
//! Receivers woken together (a burst of enqueues, a full batch passed on)
//! would otherwise each queue a write that scans the queue under the
//! space's lock, and all but the first would find that the first took what
//! they saw. Here the first becomes the leader: it takes every attempt
//! waiting (its own included), runs one write that leases for all of them
//! in turn, and hands each its share; attempts that arrive meanwhile wait
//! for the next leader, one of themselves.
//!
//! Invariant: an attempt is served by exactly one write, and each message
//! leased by that write goes to exactly one attempt (see
//! `Writer::receive`), so no two receivers hold one message.

use crate::queues::types::Message;
use engram_core::Result;
use engram_core::backend::SpaceId;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// One receiver's attempt: how many messages, for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ask {
    pub n: usize,
    pub visibility_ms: Option<u64>,
}

/// What one write gave every attempt it served: each one's messages, in
/// the order of the asks, and when the next message comes due when the
/// queue ran out of receivable ones (`None` if it did not, or nothing is
/// to come).
#[derive(Debug, Clone)]
pub(crate) struct Served {
    pub shares: Vec<Vec<Message>>,
    pub next_due_ms: Option<u64>,
}

/// An attempt's share and the write's `next_due_ms`, or the write's error.
type Outcome = Result<(Vec<Message>, Option<u64>)>;

/// A waiting attempt and, once served, its outcome.
struct Slot {
    ask: Ask,
    outcome: Mutex<Option<Outcome>>,
}

#[derive(Default)]
struct State {
    /// Whether a leader is running a write.
    leading: bool,
    waiting: Vec<Arc<Slot>>,
}

/// The attempts of one queue.
#[derive(Default)]
pub(crate) struct Combiner {
    state: Mutex<State>,
    served: Condvar,
}

impl Combiner {
    /// Serves `ask`, with the asks waiting meanwhile, by one call of
    /// `write` (which must return a share per ask, in order).
    pub fn receive(&self, ask: Ask, write: impl Fn(&[Ask]) -> Result<Served>) -> Outcome {
        let slot = Arc::new(Slot { ask, outcome: Mutex::new(None) });
        let mut st = self.lock();
        st.waiting.push(slot.clone());
        loop {
            if let Some(outcome) = slot.outcome.lock().unwrap_or_else(PoisonError::into_inner).take() {
                return outcome;
            }
            if !st.leading {
                st.leading = true;
                let batch = std::mem::take(&mut st.waiting);
                drop(st);
                serve(&batch, &write);
                st = self.lock();
                st.leading = false;
                // Served attempts return; one of the rest leads next.
                self.served.notify_all();
                continue;
            }
            st = self.served.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Poisoning is ignored: the state is a flag and a list, each updated
    /// in one step.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs one write for `batch` and hands out the outcomes.
fn serve(batch: &[Arc<Slot>], write: &impl Fn(&[Ask]) -> Result<Served>) {
    let asks: Vec<Ask> = batch.iter().map(|s| s.ask).collect();
    // A panic of the write must not leave the others waiting forever.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write(&asks)))
        .unwrap_or_else(|_| Err(engram_core::Error::internal("a receive panicked")));
    let outcomes: Vec<Outcome> = match result {
        Ok(Served { shares, next_due_ms }) if shares.len() == batch.len() => {
            shares.into_iter().map(|share| Ok((share, next_due_ms))).collect()
        }
        Ok(_) => batch.iter().map(|_| Err(engram_core::Error::internal("a receive lost its share"))).collect(),
        Err(e) => batch.iter().map(|_| Err(e.clone())).collect(),
    };
    for (slot, outcome) in batch.iter().zip(outcomes) {
        *slot.outcome.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
    }
}

/// Every queue's combiner, by space and queue name.
#[derive(Default)]
pub(crate) struct Combiners(Mutex<HashMap<(SpaceId, String), Arc<Combiner>>>);

/// Combiners kept before the map is emptied (a bound on memory; a combiner
/// dropped while in use finishes its attempts, later ones get a new one).
const COMBINERS_MAX: usize = 1 << 16;

impl Combiners {
    pub fn get(&self, space: SpaceId, queue: &str) -> Arc<Combiner> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = map.get(&(space, queue.to_owned())) {
            return c.clone();
        }
        if map.len() >= COMBINERS_MAX {
            map.clear();
        }
        map.entry((space, queue.to_owned())).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn message(n: usize) -> Message {
        Message {
            id: n.to_string(),
            receipt: String::new(),
            body: serde_json::json!(n),
            attempts: 1,
            priority: 0,
            group: None,
            dedup_key: None,
            enqueued_at_ms: 0,
            lease_expires_at_ms: 0,
        }
    }

    #[test]
    fn concurrent_attempts_share_writes_and_never_a_message() {
        let combiner = Arc::new(Combiner::default());
        let next = Arc::new(AtomicUsize::new(0));
        let writes = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (combiner, next, writes, barrier) =
                    (combiner.clone(), next.clone(), writes.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let ask = Ask { n: 3, visibility_ms: None };
                    let (got, _) = combiner
                        .receive(ask, |asks| {
                            writes.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            let shares = asks
                                .iter()
                                .map(|a| (0..a.n).map(|_| message(next.fetch_add(1, Ordering::SeqCst))).collect())
                                .collect();
                            Ok(Served { shares, next_due_ms: None })
                        })
                        .expect("served");
                    got.into_iter().map(|m| m.id).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<String> = threads.into_iter().flat_map(|t| t.join().expect("receiver")).collect();
        assert_eq!(all.len(), 24, "every attempt got its share");
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 24, "no message went to two attempts");
        assert!(writes.load(Ordering::SeqCst) < 8, "attempts made together shared writes");
    }

    #[test]
    fn a_failed_write_fails_every_attempt_it_served_and_the_next_leader_runs() {
        let combiner = Combiner::default();
        let ask = Ask { n: 1, visibility_ms: Some(5) };
        let err = combiner.receive(ask, |_| Err(engram_core::Error::internal("boom"))).expect_err("failed");
        assert!(err.message().contains("boom"));
        let (got, due) = combiner
            .receive(ask, |asks| {
                assert_eq!(asks, [ask]);
                Ok(Served { shares: vec![vec![message(1)]], next_due_ms: Some(9) })
            })
            .expect("served");
        assert_eq!((got.len(), due), (1, Some(9)));
        let short = combiner.receive(ask, |_| Ok(Served { shares: Vec::new(), next_due_ms: None }));
        assert!(short.is_err(), "a write that forgot an attempt fails it rather than hanging it");
    }
}
