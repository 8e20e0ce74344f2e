//! A bounded worker pool that batches embedding calls: callers' texts
//! queue up, and each worker takes as many as fit one model batch, so
//! concurrent single-sentence writes share forward passes (micro-batching)
//! while a large call is split across workers.

use engram_core::embed::{Embedder, EmbedderInfo, EmbedderStats, check_texts};
use engram_core::{Error, ErrorKind, Result};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Texts waiting in one pool's queue; a caller beyond it waits for room.
pub const EMBED_QUEUE_TEXTS_MAX: usize = 4_096;

/// Longest a caller waits for room in a full queue before a 503.
const QUEUE_WAIT_MAX: Duration = Duration::from_secs(30);

/// A model run on batches of texts.
pub trait BatchModel: Send + Sync + 'static {
    fn info(&self) -> &EmbedderInfo;
    /// Texts per `run` call at most.
    fn batch_texts(&self) -> usize;
    fn run(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
}

type Reply = mpsc::Sender<Result<Vec<Vec<f32>>>>;

struct Job {
    texts: Vec<String>,
    reply: Reply,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    texts: usize,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    work: Condvar,
    room: Condvar,
    batches: AtomicU64,
    texts: AtomicU64,
    failures: AtomicU64,
    busy_micros: AtomicU64,
}

/// An [`Embedder`] over a [`BatchModel`] and `threads` workers.
pub struct Pool {
    info: EmbedderInfo,
    batch: usize,
    shared: Arc<Shared>,
}

impl Pool {
    pub fn new(model: Arc<dyn BatchModel>, threads: usize) -> Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::default(),
            work: Condvar::new(),
            room: Condvar::new(),
            batches: AtomicU64::new(0),
            texts: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            busy_micros: AtomicU64::new(0),
        });
        let batch = model.batch_texts().max(1);
        for i in 0..threads.max(1) {
            let (shared, model) = (shared.clone(), model.clone());
            std::thread::Builder::new()
                .name(format!("engram-embed-{i}"))
                .spawn(move || worker(&shared, &*model, batch))
                .map_err(|e| Error::new(ErrorKind::Internal, format!("starting an embedding worker: {e}")))?;
        }
        Ok(Self { info: model.info().clone(), batch, shared })
    }

    /// Queues `texts` as one job, waiting for room.
    fn submit(&self, texts: Vec<String>) -> Result<mpsc::Receiver<Result<Vec<Vec<f32>>>>> {
        let (reply, rx) = mpsc::channel();
        let deadline = Instant::now() + QUEUE_WAIT_MAX;
        let mut q = self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
        while q.texts > 0 && q.texts + texts.len() > EMBED_QUEUE_TEXTS_MAX {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::new(ErrorKind::Unavailable, "the embedding queue is full; retry shortly"));
            }
            q = self.shared.room.wait_timeout(q, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        q.texts += texts.len();
        q.jobs.push_back(Job { texts, reply });
        drop(q);
        self.shared.work.notify_one();
        Ok(rx)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
        self.shared.work.notify_all();
    }
}

impl Embedder for Pool {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }

    fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        check_texts(&texts)?;
        let want = texts.len();
        let mut pending = Vec::new();
        let mut rest = texts;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(self.batch));
            pending.push(self.submit(std::mem::replace(&mut rest, tail))?);
        }
        let mut out = Vec::with_capacity(want);
        for rx in pending {
            let part = rx.recv().map_err(|_| Error::new(ErrorKind::Unavailable, "the embedding workers stopped"))??;
            out.extend(part);
        }
        let dims = self.info.dims as usize;
        if out.len() != want || out.iter().any(|v| v.len() != dims) {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "the embedder returned {} vectors for {want} texts, or not all of {dims} dimensions",
                    out.len()
                ),
            ));
        }
        Ok(out)
    }

    fn stats(&self) -> EmbedderStats {
        let s = &self.shared;
        EmbedderStats {
            batches: s.batches.load(Ordering::Relaxed),
            texts: s.texts.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
            busy_micros: s.busy_micros.load(Ordering::Relaxed),
        }
    }
}

/// Takes whole jobs up to one batch of texts (always at least one job).
fn take_batch(q: &mut Queue, batch: usize) -> Vec<Job> {
    let mut jobs = Vec::new();
    let mut n = 0;
    while let Some(front) = q.jobs.front() {
        if !jobs.is_empty() && n + front.texts.len() > batch {
            break;
        }
        n += front.texts.len();
        jobs.push(q.jobs.pop_front().expect("front exists"));
    }
    q.texts -= n;
    jobs
}

fn worker(shared: &Shared, model: &dyn BatchModel, batch: usize) {
    loop {
        let jobs = {
            let mut q = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            while q.jobs.is_empty() && !q.closed {
                q = shared.work.wait(q).unwrap_or_else(PoisonError::into_inner);
            }
            if q.jobs.is_empty() {
                return;
            }
            take_batch(&mut q, batch)
        };
        shared.room.notify_all();
        run_jobs(model, jobs, shared);
    }
}

/// Runs the jobs' texts as one batch, counts it, and hands each job its
/// vectors (counted first, so a caller that got its answer sees it).
fn run_jobs(model: &dyn BatchModel, jobs: Vec<Job>, counts: &Shared) {
    let texts: Vec<String> = jobs.iter().flat_map(|j| j.texts.iter().cloned()).collect();
    let started = Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.run(&texts)))
        .unwrap_or_else(|_| Err(Error::new(ErrorKind::Internal, "the embedding model panicked")));
    counts.batches.fetch_add(1, Ordering::Relaxed);
    counts.busy_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    match &result {
        Ok(v) if v.len() == texts.len() => counts.texts.fetch_add(texts.len() as u64, Ordering::Relaxed),
        _ => counts.failures.fetch_add(1, Ordering::Relaxed),
    };
    match result {
        Ok(mut vectors) if vectors.len() == texts.len() => {
            for job in jobs.into_iter().rev() {
                let part = vectors.split_off(vectors.len() - job.texts.len());
                let _ = job.reply.send(Ok(part));
            }
        }
        Ok(v) => {
            let msg = format!("the embedder returned {} vectors for {} texts", v.len(), texts.len());
            for job in jobs {
                let _ = job.reply.send(Err(Error::new(ErrorKind::Unavailable, msg.clone())));
            }
        }
        // Several callers' texts failed together: run each caller's alone,
        // so one bad text (an endpoint refusing it) fails only its writer.
        Err(_) if jobs.len() > 1 => {
            for job in jobs {
                let alone = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.run(&job.texts)))
                    .unwrap_or_else(|_| Err(Error::new(ErrorKind::Internal, "the embedding model panicked")));
                let _ = job.reply.send(match alone {
                    Ok(v) if v.len() == job.texts.len() => Ok(v),
                    Ok(v) => Err(Error::new(
                        ErrorKind::Unavailable,
                        format!("the embedder returned {} vectors for {} texts", v.len(), job.texts.len()),
                    )),
                    Err(e) => Err(e),
                });
            }
        }
        Err(e) => {
            for job in jobs {
                let _ = job.reply.send(Err(e.clone()));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use engram_core::search_spec::EmbeddingModel;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Embeds a text as [its length, batch size it ran in].
    struct Fake {
        info: EmbedderInfo,
        calls: AtomicUsize,
        fail_on: Option<&'static str>,
    }

    impl Fake {
        fn new(fail_on: Option<&'static str>) -> Arc<Self> {
            let model = EmbeddingModel { name: "fake".into(), version: "1".into() };
            Arc::new(Self { info: EmbedderInfo { model, dims: 2 }, calls: AtomicUsize::new(0), fail_on })
        }
    }

    impl BatchModel for Fake {
        fn info(&self) -> &EmbedderInfo {
            &self.info
        }
        fn batch_texts(&self) -> usize {
            4
        }
        fn run(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            assert!(texts.len() <= 4, "a batch never exceeds the model's size");
            if let Some(bad) = self.fail_on
                && texts.iter().any(|t| t == bad)
            {
                return Err(Error::invalid("model refused"));
            }
            Ok(texts.iter().map(|t| vec![t.len() as f32, texts.len() as f32]).collect())
        }
    }

    #[test]
    fn splits_large_calls_and_keeps_order() {
        let fake = Fake::new(None);
        let pool = Pool::new(fake.clone(), 2).unwrap();
        let texts: Vec<String> = (0..10).map(|i| "x".repeat(i)).collect();
        let out = pool.embed(texts).unwrap();
        assert_eq!(out.iter().map(|v| v[0] as usize).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
        assert!(fake.calls.load(Ordering::SeqCst) >= 3);
    }

    #[test]
    fn concurrent_callers_share_batches_and_get_their_own_vectors() {
        let fake = Fake::new(None);
        let pool = Arc::new(Pool::new(fake.clone(), 1).unwrap());
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let pool = pool.clone();
                std::thread::spawn(move || (i, pool.embed(vec!["y".repeat(i)]).unwrap()))
            })
            .collect();
        for h in handles {
            let (i, v) = h.join().unwrap();
            assert_eq!(v[0][0] as usize, i);
        }
        assert!(fake.calls.load(Ordering::SeqCst) <= 16);
    }

    #[test]
    fn a_failed_batch_fails_its_callers_only() {
        let pool = Pool::new(Fake::new(Some("bad")), 1).unwrap();
        assert!(pool.embed(vec!["bad".into()]).unwrap_err().to_string().contains("model refused"));
        assert_eq!(pool.embed(vec!["good".into()]).unwrap(), vec![vec![4.0, 1.0]]);
        let st = pool.stats();
        assert_eq!((st.batches, st.texts, st.failures), (2, 1, 1));
    }

    #[test]
    fn a_bad_text_batched_with_others_fails_only_its_caller() {
        let fake = Fake::new(Some("bad"));
        let pool = Arc::new(Pool::new(fake, 1).unwrap());
        let handles: Vec<_> = ["a", "bad", "c", "d"]
            .into_iter()
            .map(|t| {
                let pool = pool.clone();
                std::thread::spawn(move || (t, pool.embed(vec![t.to_owned()])))
            })
            .collect();
        for h in handles {
            let (t, r) = h.join().unwrap();
            assert_eq!(r.is_ok(), t != "bad", "{t}: {r:?}");
        }
    }

    #[test]
    fn oversized_calls_are_refused_before_queueing() {
        let pool = Pool::new(Fake::new(None), 1).unwrap();
        let many = vec![String::new(); engram_core::limits::EMBED_BATCH_TEXTS_MAX + 1];
        assert_eq!(pool.embed(many).unwrap_err().kind(), ErrorKind::TooLarge);
        let long = vec!["z".repeat(engram_core::limits::EMBED_TEXT_BYTES_MAX + 1)];
        assert_eq!(pool.embed(long).unwrap_err().kind(), ErrorKind::TooLarge);
    }
}
