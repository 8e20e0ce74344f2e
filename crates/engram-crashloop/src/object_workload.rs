//! The object workload of one cycle, beside the document writers: one or
//! two uploaders put objects (raw bodies, mostly 1–64 KiB, some over the
//! 8 MiB multipart threshold) under a small set of keys, so overwrites
//! happen, and delete some, until the server dies under them.
//!
//! Contents are seeded: a [`Content`] (seed, size) regenerates its bytes,
//! so the check compares what is served with what was sent byte for byte.
//! A share of the puts takes its content from a small shared pool, so keys
//! share stored bytes (counted references), an upload finds its content
//! already stored, and content dropped by one key comes back under another
//! while the collector may be taking it.
//!
//! Within a cycle each key belongs to one uploader, so each key's
//! acknowledged history is exact; an uploader stops at its first request
//! of unknown outcome (the server died), which the next check resolves.

use crate::http::{RawResponse, agent, send_raw};
use crate::ledger::SPACE;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Keys written (`crash/k0` …).
pub const OBJECT_KEYS: usize = 6;
/// Uploader threads per cycle: 1 to this many.
const UPLOADERS_MAX: usize = 2;
/// Share of operations that are deletes.
const DELETE_SHARE: f64 = 0.15;
/// Share of puts taking a content of the shared pool.
const POOL_SHARE: f64 = 0.3;
/// Keys that may hold large contents (the first ones): every check reads
/// every key in full, so large contents are kept to a few keys.
const LARGE_KEYS: usize = 2;
/// Share of fresh contents of those keys large enough for the multipart
/// path.
const LARGE_SHARE: f64 = 0.08;
/// Share of uploaders that start their cycle with a large put (a large
/// upload takes some 150–300 ms: started later, it is nearly always cut by
/// the kill).
const LARGE_FIRST_SHARE: f64 = 0.3;
/// Sizes of fresh contents: small, and large (over the 8 MiB threshold).
const SMALL_BYTES: std::ops::RangeInclusive<usize> = 1 << 10..=64 << 10;
const LARGE_BYTES: std::ops::RangeInclusive<usize> = 9 << 20..=12 << 20;
/// The shared pool: (seed, size); the last one is large (for the large
/// keys only).
const POOL: [(u64, usize); 5] =
    [(0xC0_0001, 1_500), (0xC0_0002, 17_000), (0xC0_0003, 40_000), (0xC0_0004, 65_536), (0xC0_0005, 9 << 20)];
/// Contents are made of copies of a random block this big.
const BLOCK: usize = 64 << 10;
/// Longest pause between an uploader's requests.
const PAUSE_MS: u64 = 8;
/// How long one request may take before its outcome counts as unknown.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The `i`-th key.
pub fn object_key(i: usize) -> String {
    format!("crash/k{i}")
}

/// The path of `key`'s object.
pub fn object_path(key: &str) -> String {
    format!("/v1/spaces/{SPACE}/objects/{key}")
}

/// An object's content: its bytes are regenerated from the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Content {
    pub seed: u64,
    pub size: usize,
}

impl Content {
    /// Seeded random bytes: one random block of up to 64 KiB, repeated
    /// with each copy stamped with its index (a debug build's generator
    /// would take most of a second for 12 MiB; copies take milliseconds).
    pub fn bytes(&self) -> Vec<u8> {
        let mut block = vec![0u8; self.size.min(BLOCK)];
        StdRng::seed_from_u64(self.seed).fill_bytes(&mut block);
        if self.size <= BLOCK {
            return block;
        }
        let mut b = Vec::with_capacity(self.size);
        let mut i = 0u64;
        while b.len() < self.size {
            let start = b.len();
            let n = BLOCK.min(self.size - start);
            b.extend_from_slice(&block[..n]);
            let stamp = (i ^ self.seed).to_le_bytes();
            let m = stamp.len().min(n);
            b[start..start + m].copy_from_slice(&stamp[..m]);
            i += 1;
        }
        b
    }

    pub fn large(&self) -> bool {
        self.size > 8 << 20
    }
}

/// What a key holds, as far as the client knows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Held {
    #[default]
    Absent,
    /// With the digest the server answered (or served) for it.
    Present { content: Content, digest: String },
}

/// An operation whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjOp {
    Put(Content),
    Delete,
}

/// One key's state across cycles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyState {
    pub held: Held,
    /// The request of unknown outcome that followed (at most one: its
    /// uploader stopped there), resolved by the next check.
    pub pending: Option<ObjOp>,
    /// Written since the last check (which reads it in full).
    pub touched: bool,
}

/// Everything the uploaders were told, across cycles.
#[derive(Debug, Clone, Default)]
pub struct ObjectLedger {
    pub keys: BTreeMap<String, KeyState>,
    /// The digest the server gave each content (it must never change).
    pub digests: BTreeMap<Content, String>,
    /// Puts acknowledged (of which large), deletes acknowledged.
    pub puts_acked: u64,
    pub large_acked: u64,
    pub deletes_acked: u64,
    /// Requests of unknown outcome.
    pub unknown: u64,
}

impl ObjectLedger {
    /// Takes one uploader's cycle in; returns the anomalies found on the way.
    pub fn absorb(&mut self, r: UploaderReport) -> Vec<String> {
        let mut anomalies = r.anomalies;
        for (key, op, outcome) in r.ops {
            let state = self.keys.entry(key.clone()).or_default();
            state.touched = true;
            match (op, outcome) {
                (op, Seen::Unknown) => {
                    state.pending = Some(op);
                    self.unknown += 1;
                }
                (ObjOp::Put(content), Seen::Acked(digest)) => {
                    if let Some(d) = self.digests.get(&content).filter(|d| **d != digest) {
                        anomalies.push(format!("{key}: content {content:?} acknowledged as {digest}, before as {d}"));
                    }
                    self.digests.insert(content, digest.clone());
                    state.held = Held::Present { content, digest };
                    self.puts_acked += 1;
                    self.large_acked += u64::from(content.large());
                }
                (ObjOp::Delete, Seen::Acked(_)) => {
                    state.held = Held::Absent;
                    self.deletes_acked += 1;
                }
                (ObjOp::Delete, Seen::Missing) => {
                    if state.held != Held::Absent {
                        anomalies.push(format!("{key}: delete answered 404, but it holds {}", show(&state.held)));
                        state.held = Held::Absent;
                    }
                }
                (ObjOp::Put(_), Seen::Missing) => anomalies.push(format!("{key}: put answered 404")),
            }
        }
        anomalies
    }

    /// The digests live objects hold.
    pub fn live_digests(&self) -> std::collections::BTreeSet<String> {
        self.keys
            .values()
            .filter_map(|s| match &s.held {
                Held::Present { digest, .. } => Some(digest.clone()),
                Held::Absent => None,
            })
            .collect()
    }
}

/// Describes a held state for messages.
pub fn show(h: &Held) -> String {
    match h {
        Held::Absent => "nothing".into(),
        Held::Present { content, digest } => {
            format!("{} bytes of seed {:#x} ({})", content.size, content.seed, &digest[..digest.len().min(12)])
        }
    }
}

/// What came of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// 2xx with the (content's or deleted content's) digest.
    Acked(String),
    /// 404: nothing there (a delete of an absent key).
    Missing,
    /// No complete response.
    Unknown,
}

/// What one uploader saw in a cycle.
#[derive(Debug, Default)]
pub struct UploaderReport {
    /// In order: key, operation, outcome. Refused puts are anomalies, not here.
    pub ops: Vec<(String, ObjOp, Seen)>,
    pub anomalies: Vec<String>,
}

/// Starts the uploaders of one cycle; they stop when `stop` is set or the
/// server stops answering.
pub fn spawn(base: &str, rng: &mut StdRng, stop: &Arc<AtomicBool>) -> Vec<JoinHandle<UploaderReport>> {
    let n = rng.random_range(1..=UPLOADERS_MAX);
    (0..n)
        .map(|u| {
            let keys: Vec<String> = (0..OBJECT_KEYS).filter(|i| i % n == u).map(object_key).collect();
            let (base, seed, stop) = (base.to_owned(), rng.random(), stop.clone());
            std::thread::spawn(move || run_uploader(&base, &keys, seed, &stop))
        })
        .collect()
}

fn run_uploader(base: &str, keys: &[String], seed: u64, stop: &AtomicBool) -> UploaderReport {
    let (agent, mut rng) = (agent(REQUEST_TIMEOUT), StdRng::seed_from_u64(seed));
    let mut report = UploaderReport::default();
    let large_keys: Vec<String> = (0..LARGE_KEYS).map(object_key).filter(|k| keys.contains(k)).collect();
    let mut large_first = !large_keys.is_empty() && rng.random_bool(LARGE_FIRST_SHARE);
    while !stop.load(Ordering::SeqCst) {
        let (key, op) = if std::mem::take(&mut large_first) {
            let key = large_keys[rng.random_range(0..large_keys.len())].clone();
            (key, ObjOp::Put(Content { seed: rng.random(), size: rng.random_range(LARGE_BYTES) }))
        } else {
            let key = keys[rng.random_range(0..keys.len())].clone();
            let large = large_keys.contains(&key);
            let op =
                if rng.random_bool(DELETE_SHARE) { ObjOp::Delete } else { ObjOp::Put(pick_content(&mut rng, large)) };
            (key, op)
        };
        let sent = match op {
            ObjOp::Put(c) => send_raw(
                &agent,
                base,
                "PUT",
                &object_path(&key),
                &[("content-type", "application/octet-stream")],
                c.bytes(),
            ),
            ObjOp::Delete => send_raw(&agent, base, "DELETE", &object_path(&key), &[], Vec::new()),
        };
        let seen = match sent {
            Err(_) => Seen::Unknown,
            Ok(res) => match judge(&res, &key, op) {
                Ok(seen) => seen,
                Err(a) => {
                    report.anomalies.push(a);
                    continue;
                }
            },
        };
        let unknown = seen == Seen::Unknown;
        report.ops.push((key, op, seen));
        if unknown {
            break;
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(0..=PAUSE_MS)));
    }
    report
}

/// A content for a put: from the pool, or fresh; large ones only when
/// `large` (a key that may hold them).
fn pick_content(rng: &mut StdRng, large: bool) -> Content {
    if rng.random_bool(POOL_SHARE) {
        let pool = if large { POOL.len() } else { POOL.len() - 1 };
        let (seed, size) = POOL[rng.random_range(0..pool)];
        return Content { seed, size };
    }
    let size = if large && rng.random_bool(LARGE_SHARE) {
        rng.random_range(LARGE_BYTES)
    } else {
        rng.random_range(SMALL_BYTES)
    };
    Content { seed: rng.random(), size }
}

/// The outcome of a complete response; `Err` for one that must not happen.
fn judge(res: &RawResponse, key: &str, op: ObjOp) -> Result<Seen, String> {
    let ok = (200..300).contains(&res.status);
    match (op, ok, res.json()) {
        (ObjOp::Put(c), true, Some(v)) => match (v["digest"].as_str(), v["size"].as_u64()) {
            (Some(d), Some(size)) if size == c.size as u64 && res.etag.as_deref() == Some(d) => {
                Ok(Seen::Acked(d.into()))
            }
            _ => Err(format!("put {key} ({} bytes): unexpected answer {v} (ETag {:?})", c.size, res.etag)),
        },
        (ObjOp::Delete, true, Some(v)) => Ok(Seen::Acked(v["digest"].as_str().unwrap_or_default().to_owned())),
        (ObjOp::Delete, false, _) if res.status == 404 => Ok(Seen::Missing),
        (op, _, _) => Err(format!("{op:?} {key}: unexpected answer {}", res.describe())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_regenerate() {
        let c = Content { seed: 7, size: 1000 };
        assert_eq!(c.bytes(), c.bytes());
        assert_ne!(c.bytes(), Content { seed: 8, size: 1000 }.bytes());
        let big = Content { seed: 9, size: (9 << 20) + 5 };
        let b = big.bytes();
        assert_eq!(b.len(), big.size);
        assert_ne!(b[..BLOCK], b[BLOCK..2 * BLOCK], "copies are stamped apart");
        assert!(!c.large() && Content { seed: 1, size: 9 << 20 }.large());
    }

    #[test]
    fn the_ledger_follows_acknowledgements() {
        let mut l = ObjectLedger::default();
        let c = Content { seed: 1, size: 10 };
        let r = UploaderReport {
            ops: vec![
                ("k".into(), ObjOp::Put(c), Seen::Acked("d1".into())),
                ("k".into(), ObjOp::Delete, Seen::Acked("d1".into())),
                ("k".into(), ObjOp::Delete, Seen::Missing),
                ("k".into(), ObjOp::Put(c), Seen::Unknown),
            ],
            anomalies: Vec::new(),
        };
        assert!(l.absorb(r).is_empty());
        assert_eq!(l.keys["k"], KeyState { held: Held::Absent, pending: Some(ObjOp::Put(c)), touched: true });
        assert_eq!((l.puts_acked, l.deletes_acked, l.unknown), (1, 1, 1));
    }
}
