//! Group commit: writer threads, each owning one connection, commit the work
//! of many concurrent callers in one transaction.
//!
//! A batch first runs all its jobs back to back without savepoints, their
//! change-log rows buffered and sent with one statement before COMMIT (see
//! `pending.rs`): per job, only the statements of its own writes. Jobs
//! queued while the batch runs join it before its COMMIT, since the space
//! locks are held by then (under contention between servers, most of a
//! batch's time is the wait for that lock). If any
//! job fails (an error, a failed statement, a panic), that pass is rolled
//! back whole and the batch runs again, each job in its own savepoint with
//! its rows flushed inside it, so the failing job is undone alone while the
//! others commit. Work is re-runnable by contract (`WriteWork` is `FnMut`;
//! the engine re-runs it after contention too), and nothing of the first
//! pass was acknowledged. A batch of one job needs neither: its transaction
//! is its own. Replies are sent only after COMMIT succeeds, so an `Ok`
//! always means committed. If BEGIN, a savepoint, COMMIT or the connection
//! fails, every job of the batch gets the error: nothing of the batch is
//! acknowledged.
//!
//! Several writer threads may run batches at once (PostgreSQL, unlike
//! SQLite, has concurrent writers); per-space order comes from the space
//! row locks taken inside the transactions (see `tx.rs`), not from the
//! number of writers.
//!
//! Retrying: an attempt ([`WriterLoop::attempt`]) is begin, run the jobs,
//! commit; classifying its failures is [`crate::error::classify`]. Opening
//! the transaction on a dead connection is retried on a new one, since no
//! work has run. A failure after the work ran is returned to every job of
//! the batch, as `Contention` when nothing can have committed (the engine
//! re-runs the work) and as `Unavailable` when the outcome is unknown.

use crate::config::{PostgresOptions, RECONNECT_ATTEMPTS};
use crate::conn::Conn;
use crate::error::Class;
use crate::tx::{PgTx, SpaceOf, TxState};
use engram_core::backend::{WriteOutput, WriteWork};
use engram_core::{Error, ErrorKind, Result};
use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Counters of the writers, for observing group commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Batch transactions committed.
    pub commits: u64,
    /// Jobs (calls to `write`) in committed batches, failed jobs included.
    pub jobs: u64,
    /// Most jobs in one committed batch.
    pub max_batch: u64,
    /// Batches that failed as a whole (nothing of them acknowledged).
    pub failed_batches: u64,
    /// Of those, the ones that failed for a reason another attempt may not
    /// meet (lost connection before COMMIT, contention, timeout).
    pub retryable_failures: u64,
    /// Batches run a second time, job by job in savepoints, because a job
    /// failed in their first pass.
    pub isolated_reruns: u64,
}

/// Where a write's outcome is sent.
type Reply = SyncSender<Result<WriteOutput>>;

/// A write waiting for a writer.
type Queued = (WriteWork, Reply);

/// A job after it ran: its reply channel and its own outcome.
type Ran = (Reply, Result<WriteOutput>);

/// State shared by the writer threads and their handle.
#[derive(Default)]
struct Shared {
    commits: AtomicU64,
    jobs: AtomicU64,
    max_batch: AtomicU64,
    failed_batches: AtomicU64,
    retryable_failures: AtomicU64,
    isolated_reruns: AtomicU64,
    space_of: SpaceOf,
}

/// The handle to the writer threads.
pub(crate) struct Writer {
    /// `None` once shut down; dropping it lets the threads drain and exit.
    sender: Option<SyncSender<Queued>>,
    threads: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Writer {
    /// Starts `opts.write_connections` writer threads, each connecting
    /// before it returns (so a bad address fails the open, not a write).
    pub(crate) fn start(opts: &PostgresOptions) -> Result<Self> {
        let (sender, receiver) = sync_channel(opts.write_queue_max);
        let receiver = Arc::new(Mutex::new(receiver));
        let shared = Arc::new(Shared::default());
        let mut threads = Vec::with_capacity(opts.write_connections);
        for i in 0..opts.write_connections {
            let state = WriterLoop {
                opts: opts.clone(),
                conn: Some(RefCell::new(Conn::open(opts)?)),
                receiver: Arc::clone(&receiver),
                locks: TxState::default(),
                shared: Arc::clone(&shared),
            };
            let thread = std::thread::Builder::new()
                .name(format!("engram-postgres-writer-{i}"))
                .spawn(move || state.run())
                .map_err(|e| Error::internal(format!("could not start a PostgreSQL writer thread: {e}")))?;
            threads.push(thread);
        }
        Ok(Self { sender: Some(sender), threads, shared })
    }

    /// Queues `work` (blocking while the queue is full) and waits for its outcome.
    pub(crate) fn write(&self, work: WriteWork) -> Result<WriteOutput> {
        let (reply, outcome) = sync_channel(1);
        let sender = self.sender.as_ref().ok_or_else(stopped)?;
        sender.send((work, reply)).map_err(|_| stopped())?;
        outcome.recv().map_err(|_| stopped())?
    }

    pub(crate) fn stats(&self) -> WriterStats {
        WriterStats {
            commits: self.shared.commits.load(Ordering::Relaxed),
            jobs: self.shared.jobs.load(Ordering::Relaxed),
            max_batch: self.shared.max_batch.load(Ordering::Relaxed),
            failed_batches: self.shared.failed_batches.load(Ordering::Relaxed),
            retryable_failures: self.shared.retryable_failures.load(Ordering::Relaxed),
            isolated_reruns: self.shared.isolated_reruns.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting work and waits for the threads to finish what is queued.
    pub(crate) fn shutdown(&mut self) {
        self.sender = None;
        for thread in self.threads.drain(..) {
            // A panic of the writer's own code was already reported by the
            // panic hook; nothing more can be done from here.
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn stopped() -> Error {
    Error::new(ErrorKind::Unavailable, "the PostgreSQL writer has stopped")
}

/// A step of a batch: the outer error means the batch transaction is lost,
/// with whether the batch may commit if attempted again.
type Outcome<T> = std::result::Result<T, (Error, bool)>;

/// A batch that could not commit: every reply channel of it, and why.
struct BatchFailure {
    replies: Vec<Reply>,
    cause: Error,
    /// Whether the same batch may commit if attempted again.
    retryable: bool,
}

/// One writer thread's state.
struct WriterLoop {
    opts: PostgresOptions,
    /// `None` after the connection was found dead; reopened at the next BEGIN.
    conn: Option<RefCell<Conn>>,
    receiver: Arc<Mutex<Receiver<Queued>>>,
    locks: TxState,
    shared: Arc<Shared>,
}

impl WriterLoop {
    fn run(mut self) {
        // Ends when every sender is dropped and the queue is drained.
        while let Some(batch) = self.collect() {
            self.commit_batch(batch);
        }
    }

    /// Waits for a write, then takes what else is queued, up to the batch
    /// limit. The receiver is shared: one thread collects at a time.
    fn collect(&self) -> Option<Vec<Queued>> {
        let receiver = self.receiver.lock().unwrap_or_else(PoisonError::into_inner);
        let first = receiver.recv().ok()?;
        let mut batch = vec![first];
        while batch.len() < self.opts.group_commit_jobs_max {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        Some(batch)
    }

    fn commit_batch(&mut self, batch: Vec<Queued>) {
        let outcome = self.attempt(batch);
        self.locks.forget();
        match outcome {
            Ok(ran) => {
                let jobs = ran.len() as u64;
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
                self.shared.jobs.fetch_add(jobs, Ordering::Relaxed);
                self.shared.max_batch.fetch_max(jobs, Ordering::Relaxed);
                // A caller that gave up waiting is not an error of the batch.
                ran.into_iter().for_each(|(reply, result)| drop(reply.send(result)));
            }
            Err(BatchFailure { replies, cause, retryable }) => {
                self.shared.failed_batches.fetch_add(1, Ordering::Relaxed);
                self.shared.retryable_failures.fetch_add(u64::from(retryable), Ordering::Relaxed);
                self.abandon();
                replies.into_iter().for_each(|reply| drop(reply.send(Err(cause.clone()))));
            }
        }
    }

    /// One attempt: BEGIN, the jobs (the batch may grow, see
    /// [`WriterLoop::run_together`]), COMMIT. On a batch failure returns
    /// every reply channel with the cause.
    fn attempt(&mut self, mut batch: Vec<Queued>) -> std::result::Result<Vec<Ran>, BatchFailure> {
        let outcome = self.run_batch(&mut batch);
        let replies = batch.into_iter().map(|(_, reply)| reply);
        match outcome {
            Ok(results) => Ok(replies.zip(results).collect()),
            Err((cause, retryable)) => Err(BatchFailure { replies: replies.collect(), cause, retryable }),
        }
    }

    /// Runs the batch in one transaction and ends it; the outer error means
    /// the batch is lost (with whether it may be retried), the inner
    /// results are each job's own.
    fn run_batch(&mut self, batch: &mut Vec<Queued>) -> Outcome<Vec<Result<WriteOutput>>> {
        self.begin()?;
        let results = match self.run_together(batch)? {
            Ok(outputs) => outputs,
            Err(failed) => {
                self.control("ROLLBACK", "undoing a failed write").map_err(|(e, _)| (e, true))?;
                self.locks.forget();
                if batch.len() == 1 {
                    // The transaction was the job's own: nothing else to save.
                    return Ok(vec![Err(failed)]);
                }
                self.shared.isolated_reruns.fetch_add(1, Ordering::Relaxed);
                self.begin()?;
                self.run_isolated(batch)?
            }
        };
        self.commit()?;
        Ok(results)
    }

    /// Opens the batch transaction. A dead connection is replaced and BEGIN
    /// tried again (no work has run, so this is always safe); the pause
    /// between tries grows so a restarting server has time to come back.
    fn begin(&mut self) -> Outcome<()> {
        let mut last = None;
        for attempt in 0..RECONNECT_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(100 << attempt));
            }
            if self.conn.as_ref().is_none_or(|c| c.borrow().is_closed()) {
                match Conn::open(&self.opts) {
                    Ok(conn) => self.conn = Some(RefCell::new(conn)),
                    Err(e) => {
                        last = Some(e);
                        continue;
                    }
                }
            }
            match self.control("BEGIN ISOLATION LEVEL READ COMMITTED", "starting a write transaction") {
                Ok(()) => return Ok(()),
                Err((e, true)) => last = Some(e),
                Err(failed) => return Err(failed),
            }
        }
        Err((last.unwrap_or_else(stopped), true))
    }

    /// The first pass: every job without a savepoint, then one flush of
    /// the change-log rows. Jobs queued meanwhile join the batch (see
    /// [`WriterLoop::late_jobs`]). Stops at the first job that fails and
    /// returns its error (the flush's counts as a job's); the transaction
    /// must then be rolled back.
    fn run_together(&mut self, batch: &mut Vec<Queued>) -> Outcome<Result<Vec<Result<WriteOutput>>>> {
        let mut outputs = Vec::with_capacity(batch.len());
        loop {
            for (work, _) in &mut batch[outputs.len()..] {
                match self.run_step(|tx| work(tx))? {
                    Ok(out) => outputs.push(Ok(out)),
                    Err(e) => return Ok(Err(e)),
                }
            }
            let late = self.late_jobs(self.opts.group_commit_jobs_max.saturating_sub(batch.len()));
            if late.is_empty() {
                break;
            }
            batch.extend(late);
        }
        if let Err(e) = self.run_step(|tx| tx.flush().map(|()| Box::new(()) as WriteOutput))? {
            return Ok(Err(e));
        }
        Ok(Ok(outputs))
    }

    /// Jobs queued since the batch was collected, up to `room`. Taken while
    /// the batch's transaction is open: its space locks are held by then
    /// (often after a wait for another server's commit), so a job that
    /// joins costs its own statements but no lock wait and no commit of
    /// its own. Skipped when another writer thread is waiting on the queue.
    fn late_jobs(&self, room: usize) -> Vec<Queued> {
        let Ok(receiver) = self.receiver.try_lock() else { return Vec::new() };
        std::iter::from_fn(|| receiver.try_recv().ok()).take(room).collect()
    }

    /// The second pass: each job in `SAVEPOINT job` with its change-log
    /// rows flushed inside it, so a failing job is rolled back alone.
    fn run_isolated(&mut self, batch: &mut [Queued]) -> Outcome<Vec<Result<WriteOutput>>> {
        batch.iter_mut().map(|(work, _)| self.run_job(work)).collect()
    }

    /// Runs one job in `SAVEPOINT job`. The inner result is the job's own;
    /// an outer error means the batch transaction is lost.
    fn run_job(&mut self, work: &mut WriteWork) -> Outcome<Result<WriteOutput>> {
        self.control("SAVEPOINT job", "starting a write")?;
        let result = self.run_step(|tx| {
            let out = work(tx)?;
            tx.flush()?;
            Ok(out)
        })?;
        if result.is_err() {
            self.control("ROLLBACK TO SAVEPOINT job", "undoing a failed write")?;
            // The rollback released the job's locks and undid its appends
            // and collection writes (the earlier jobs' rows were flushed).
            self.locks.forget();
        }
        self.control("RELEASE SAVEPOINT job", "finishing a write")?;
        Ok(result)
    }

    /// Runs a step of the transaction (a job's work, a flush); a panic
    /// becomes the step's error. A lost connection loses the batch; a step
    /// that returned `Ok` although one of its statements failed is turned
    /// into an error (see [`refuse_swallowed`]).
    fn run_step(&mut self, step: impl FnOnce(&mut PgTx<'_>) -> Result<WriteOutput>) -> Outcome<Result<WriteOutput>> {
        let Some(conn) = self.conn.as_ref() else {
            return Err(lost_before_commit(Err(stopped())));
        };
        conn.borrow_mut().take_failure();
        let mut tx = PgTx::new(conn, &self.locks, &self.shared.space_of);
        let result = catch_unwind(AssertUnwindSafe(|| step(&mut tx)))
            .unwrap_or_else(|_| Err(Error::internal("a write panicked; its changes were rolled back")));
        let failure = conn.borrow_mut().take_failure();
        if failure == Some(Class::ConnectionLost) {
            return Err(lost_before_commit(result));
        }
        Ok(refuse_swallowed(result, failure))
    }

    fn commit(&mut self) -> Outcome<()> {
        self.control("COMMIT", "committing a write transaction").map_err(|(e, lost)| {
            if !lost {
                return (e, false);
            }
            // The COMMIT may have reached the server before the connection
            // died: the outcome is unknown, so this is not safe to repeat
            // blindly (the caller must check first).
            let why = format!("{}; whether the batch committed is unknown: check before writing it again", e.message());
            (Error::new(ErrorKind::Unavailable, why), false)
        })
    }

    /// Runs a transaction-control statement. The error says whether the
    /// connection was lost (the transaction is gone with it).
    fn control(&mut self, sql: &str, what: &'static str) -> Outcome<()> {
        let Some(conn) = self.conn.as_ref() else { return Err((stopped(), true)) };
        let mut conn = conn.borrow_mut();
        conn.batch(what, sql).map_err(|e| {
            let class = conn.take_failure();
            (e, class == Some(Class::ConnectionLost) || conn.is_closed())
        })
    }

    /// After a failed batch: ends the transaction if the connection still
    /// works, and drops the connection if it does not.
    fn abandon(&mut self) {
        let usable = self.conn.as_ref().is_some_and(|c| !c.borrow().is_closed());
        if !usable || self.control("ROLLBACK", "undoing a failed batch").is_err() {
            self.conn = None;
        }
    }
}

/// The error of a batch whose connection died before COMMIT was sent:
/// nothing of it was committed, so it can be retried as a whole.
fn lost_before_commit(result: Result<WriteOutput>) -> (Error, bool) {
    let why = result.err().map_or_else(|| "unknown cause".to_owned(), |e| e.message().to_owned());
    let message = format!("the write transaction was lost before it committed ({why}); it can be retried");
    (Error::new(ErrorKind::Contention, message), true)
}

/// A job that returned `Ok` although one of its statements failed must not
/// commit: PostgreSQL has aborted its (sub)transaction, and a COMMIT would
/// silently roll back instead.
fn refuse_swallowed(result: Result<WriteOutput>, failure: Option<Class>) -> Result<WriteOutput> {
    match (result, failure) {
        (Ok(_), Some(class)) => Err(Error::new(
            match class {
                Class::Contention | Class::ConnectionLost => ErrorKind::Contention,
                c if c.is_retryable() => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            },
            format!("a write ignored a failed statement ({class:?}); it was rolled back"),
        )),
        (result, _) => result,
    }
}
