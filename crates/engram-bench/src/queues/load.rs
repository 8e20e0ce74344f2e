//! The load every side runs: producers enqueueing one message at a time
//! while consumers receive batches and acknowledge each batch; measured as
//! throughput, enqueue-to-ack latency and an exactly-once check.

use crate::measure::{Run, process_cpu};
use serde_json::{Value, json};
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A queue under test. Thread `i` of the producers (or consumers) always
/// passes `i`, so a side can keep one connection per thread.
pub trait Side: Sync {
    /// What names a delivery for its acknowledgement.
    type Receipt;
    /// Enqueues one message, durably (as durable as the side gets).
    fn enqueue(&self, producer: usize, body: &Value);
    /// Leases up to `max` messages; may wait a little when none is ready.
    fn receive(&self, consumer: usize, max: usize) -> Vec<(Self::Receipt, Value)>;
    /// Acknowledges deliveries; returns how many were removed.
    fn ack(&self, consumer: usize, receipts: Vec<Self::Receipt>) -> usize;
    /// CPU so far of the server processes doing the side's work (zero
    /// when it runs in this process).
    fn server_cpu(&self) -> Duration {
        Duration::ZERO
    }
}

/// The shape of one measurement.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub producers: usize,
    pub consumers: usize,
    /// Most messages per receive.
    pub batch: usize,
    /// How long the producers enqueue.
    pub seconds: f64,
    /// Producers pause while this many messages are enqueued and not yet
    /// acknowledged, so a slow side's queue stays bounded (and its drain
    /// short).
    pub backlog: u64,
    /// Longest wait for the consumers to drain the queue after the
    /// producers stop.
    pub drain: Duration,
}

/// What one measurement found.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// ops: distinct messages delivered; wall: start to the last ack; CPU:
    /// this process and the side's server processes meanwhile.
    pub run: Run,
    pub p50_us: u64,
    pub p99_us: u64,
    pub produced: u64,
    /// Deliveries of a message already delivered.
    pub duplicates: u64,
    /// Messages enqueued and never delivered by the end of the drain.
    pub missing: u64,
    /// Deliveries whose acknowledgement removed nothing.
    pub failed_acks: u64,
    /// Receive calls, and those that returned nothing (woken or timed out
    /// with nothing for this consumer).
    pub receives: u64,
    pub empty_receives: u64,
}

impl Outcome {
    /// Every message delivered and acknowledged exactly once.
    pub fn exact(&self) -> bool {
        self.duplicates == 0 && self.missing == 0 && self.failed_acks == 0
    }

    /// Receive calls per message delivered, and the share that got none.
    pub fn receive_note(&self) -> String {
        let per = self.receives as f64 / self.run.ops.max(1) as f64;
        let empty = 100.0 * self.empty_receives as f64 / self.receives.max(1) as f64;
        format!("{per:.2} receives/msg, {empty:.0}% empty")
    }

    pub fn delivery(&self) -> String {
        if self.exact() {
            return "exactly once".to_owned();
        }
        format!("{} duplicates, {} missing, {} failed acks", self.duplicates, self.missing, self.failed_acks)
    }
}

/// A message body of about 200 bytes serialized: a typical background job
/// (send an email). `p`, `n` name the message for the exactly-once check;
/// `t` is when its producer started enqueueing it (µs since the run's start).
pub fn body(p: usize, n: u64, t_us: u64) -> Value {
    json!({
        "p": p,
        "n": n,
        "t": t_us,
        "kind": "email.send",
        "to": format!("user-{}@example.com", n % 100_000),
        "template": "welcome-v2",
        "locale": "en-US",
        "vars": {"plan": "team", "trial_days": 14},
        "note": "queued by the signup handler",
    })
}

/// The counters producers and consumers share.
struct Shared {
    epoch: Instant,
    stop_producing: AtomicBool,
    done: AtomicBool,
    enqueued: AtomicU64,
    acked: AtomicU64,
    last_ack_us: AtomicU64,
}

impl Shared {
    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn backlog(&self) -> u64 {
        self.enqueued.load(Ordering::Relaxed).saturating_sub(self.acked.load(Ordering::Relaxed))
    }
}

/// What a consumer thread saw: (producer, n) of every delivery, each
/// delivery's latency, and acknowledgements that removed nothing.
#[derive(Default)]
struct Seen {
    ids: Vec<(u64, u64)>,
    latencies_us: Vec<u64>,
    failed_acks: u64,
    receives: u64,
    empty_receives: u64,
}

/// Runs the load once against `side`.
pub fn run<S: Side>(side: &S, load: Load) -> Outcome {
    let shared = Shared {
        epoch: Instant::now(),
        stop_producing: AtomicBool::new(false),
        done: AtomicBool::new(false),
        enqueued: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        last_ack_us: AtomicU64::new(0),
    };
    let start = Barrier::new(load.producers + load.consumers + 1);
    std::thread::scope(|s| {
        let (shared, start) = (&shared, &start);
        let producers: Vec<_> =
            (0..load.producers).map(|p| s.spawn(move || produce(side, p, load.backlog, shared, start))).collect();
        let consumers: Vec<_> =
            (0..load.consumers).map(|c| s.spawn(move || consume(side, c, load.batch, shared, start))).collect();
        start.wait();
        let t0_us = shared.now_us();
        let cpu0 = process_cpu() + side.server_cpu();
        std::thread::sleep(Duration::from_secs_f64(load.seconds));
        shared.stop_producing.store(true, Ordering::Relaxed);
        let counts: Vec<u64> = producers.into_iter().map(|h| h.join().expect("a producer panicked")).collect();
        let produced: u64 = counts.iter().sum();
        wait_for_drain(shared, produced, load.drain);
        let cpu = (process_cpu() + side.server_cpu()).saturating_sub(cpu0);
        shared.done.store(true, Ordering::Relaxed);
        let seen: Vec<Seen> = consumers.into_iter().map(|h| h.join().expect("a consumer panicked")).collect();
        let wall = Duration::from_micros(shared.last_ack_us.load(Ordering::Relaxed).saturating_sub(t0_us));
        outcome(&counts, seen, wall, cpu)
    })
}

/// Enqueues until told to stop, pausing while the backlog is full;
/// returns how many messages it enqueued (numbered 0, 1, ...).
fn produce<S: Side>(side: &S, p: usize, backlog: u64, shared: &Shared, start: &Barrier) -> u64 {
    start.wait();
    let mut n = 0;
    while !shared.stop_producing.load(Ordering::Relaxed) {
        if shared.backlog() >= backlog {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        side.enqueue(p, &body(p, n, shared.now_us()));
        shared.enqueued.fetch_add(1, Ordering::Relaxed);
        n += 1;
    }
    n
}

/// Receives and acknowledges batches until the run is done.
fn consume<S: Side>(side: &S, c: usize, batch: usize, shared: &Shared, start: &Barrier) -> Seen {
    start.wait();
    let mut seen = Seen::default();
    while !shared.done.load(Ordering::Relaxed) {
        let got = side.receive(c, batch);
        seen.receives += 1;
        if got.is_empty() {
            seen.empty_receives += 1;
            continue;
        }
        let (receipts, bodies): (Vec<_>, Vec<_>) = got.into_iter().unzip();
        let removed = side.ack(c, receipts) as u64;
        let now = shared.now_us();
        for b in &bodies {
            let field = |k: &str| b[k].as_u64().expect("a benchmark message carries p, n and t");
            seen.ids.push((field("p"), field("n")));
            seen.latencies_us.push(now.saturating_sub(field("t")));
        }
        seen.failed_acks += bodies.len() as u64 - removed.min(bodies.len() as u64);
        shared.acked.fetch_add(removed, Ordering::Relaxed);
        shared.last_ack_us.fetch_max(now, Ordering::Relaxed);
    }
    seen
}

/// Waits until `produced` messages are acknowledged, or `limit` passed.
fn wait_for_drain(shared: &Shared, produced: u64, limit: Duration) {
    let deadline = Instant::now() + limit;
    while shared.acked.load(Ordering::Relaxed) < produced && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Checks every producer's messages 0..count were delivered once each and
/// sums up the latencies.
fn outcome(counts: &[u64], seen: Vec<Seen>, wall: Duration, cpu: Duration) -> Outcome {
    let mut ids = Vec::new();
    let mut latencies = Vec::new();
    let (mut failed_acks, mut receives, mut empty_receives) = (0, 0, 0);
    for s in seen {
        receives += s.receives;
        empty_receives += s.empty_receives;
        ids.extend(s.ids);
        latencies.extend(s.latencies_us);
        failed_acks += s.failed_acks;
    }
    let deliveries = ids.len() as u64;
    ids.sort_unstable();
    ids.dedup();
    let produced: u64 = counts.iter().sum();
    let valid = ids.iter().filter(|(p, n)| counts.get(*p as usize).is_some_and(|c| n < c)).count() as u64;
    latencies.sort_unstable();
    Outcome {
        run: Run { ops: valid, wall, cpu },
        p50_us: percentile(&latencies, 50),
        p99_us: percentile(&latencies, 99),
        produced,
        duplicates: deliveries - ids.len() as u64,
        missing: produced - valid,
        failed_acks,
        receives,
        empty_receives,
    }
}

/// The `pct`th percentile of sorted values (0 when empty).
fn percentile(sorted: &[u64], pct: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(sorted.len() * pct / 100).min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_about_200_bytes() {
        for (p, n) in [(0, 0), (3, 12_345), (63, 9_999_999)] {
            let len = serde_json::to_string(&body(p, n, 123_456_789)).expect("serializes").len();
            assert!((180..=230).contains(&len), "{len} bytes");
        }
    }

    #[test]
    fn outcome_counts_duplicates_and_missing() {
        let seen = Seen {
            ids: vec![(0, 0), (0, 1), (0, 1), (1, 0)],
            latencies_us: vec![1, 2, 3, 4],
            failed_acks: 1,
            receives: 5,
            empty_receives: 2,
        };
        let o = outcome(&[3, 1], vec![seen], Duration::from_secs(1), Duration::ZERO);
        assert_eq!((o.run.ops, o.produced, o.duplicates, o.missing, o.failed_acks), (3, 4, 1, 1, 1));
        assert!(!o.exact());
        assert_eq!((o.p50_us, o.p99_us), (3, 4));
    }
}
