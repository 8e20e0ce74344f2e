//! Group commit: one thread owns the write connection and commits the work
//! of many concurrent callers in one transaction, with one sync.
//!
//! Each job runs inside its own savepoint, so a failing (or panicking) job is
//! undone alone while the others of its batch commit. Replies are sent only
//! after COMMIT succeeds, so an `Ok` always means durable (per `synchronous`).
//! If BEGIN, COMMIT or any batch bookkeeping fails, the outcome on disk is
//! not known for certain: the batch is rolled back, every job of it gets an
//! error and the writer is poisoned (all later writes fail fast) rather than
//! guessing, as fjall does after a failed fsync.

use crate::error::sql;
use crate::tx::{BatchCache, SqliteTx};
use engram_core::backend::{WriteOutput, WriteWork};
use engram_core::{Error, ErrorKind, Result};
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

/// Counters of the writer, for observing group commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Batch transactions committed.
    pub commits: u64,
    /// Jobs (calls to `write`) in committed batches, failed jobs included.
    pub jobs: u64,
    /// Most jobs in one committed batch.
    pub max_batch: u64,
}

/// Where a write's outcome is sent.
type Reply = SyncSender<Result<WriteOutput>>;

/// Where a checkpoint's outcome is sent.
type CheckpointReply = SyncSender<Result<()>>;

/// A request to the writer thread.
enum Job {
    Write { work: WriteWork, reply: Reply },
    Checkpoint { reply: CheckpointReply },
}

/// State shared by the writer thread and its handle.
#[derive(Default)]
struct Shared {
    /// Set once, by the first failed batch; never cleared (restart to recover).
    poisoned: OnceLock<String>,
    commits: AtomicU64,
    jobs: AtomicU64,
    max_batch: AtomicU64,
}

impl Shared {
    fn poison_error(&self) -> Option<Error> {
        self.poisoned.get().map(|cause| {
            Error::new(
                ErrorKind::Unavailable,
                format!("writes stopped after a failed commit ({cause}); restart the server to recover"),
            )
        })
    }
}

/// The handle to the writer thread.
pub(crate) struct Writer {
    /// `None` once shut down; dropping it lets the thread drain and exit.
    sender: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Writer {
    /// Starts the writer thread over a migrated, configured connection.
    pub(crate) fn start(conn: Connection, queue_max: usize, jobs_max: usize) -> Result<Self> {
        let (sender, receiver) = sync_channel(queue_max);
        let shared = Arc::new(Shared::default());
        let state = WriterLoop { conn, receiver, jobs_max, cache: BatchCache::default(), shared: Arc::clone(&shared) };
        let thread = std::thread::Builder::new()
            .name("engram-sqlite-writer".into())
            .spawn(move || state.run())
            .map_err(|e| Error::internal(format!("could not start the SQLite writer thread: {e}")))?;
        Ok(Self { sender: Some(sender), thread: Some(thread), shared })
    }

    /// Queues `work` (blocking while the queue is full) and waits for its outcome.
    pub(crate) fn write(&self, work: WriteWork) -> Result<WriteOutput> {
        if let Some(e) = self.shared.poison_error() {
            return Err(e);
        }
        let (reply, outcome) = sync_channel(1);
        self.submit(Job::Write { work, reply })?;
        outcome.recv().map_err(|_| stopped())?
    }

    /// Runs `PRAGMA wal_checkpoint(TRUNCATE)` on the writer thread.
    pub(crate) fn checkpoint(&self) -> Result<()> {
        if let Some(e) = self.shared.poison_error() {
            return Err(e);
        }
        let (reply, outcome) = sync_channel(1);
        self.submit(Job::Checkpoint { reply })?;
        outcome.recv().map_err(|_| stopped())?
    }

    pub(crate) fn stats(&self) -> WriterStats {
        WriterStats {
            commits: self.shared.commits.load(Ordering::Relaxed),
            jobs: self.shared.jobs.load(Ordering::Relaxed),
            max_batch: self.shared.max_batch.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting work and waits for the thread to finish what is
    /// queued, checkpoint and close its connection.
    pub(crate) fn shutdown(&mut self) {
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            // A panic of the writer's own code was already reported by the
            // panic hook; nothing more can be done from here.
            let _ = thread.join();
        }
    }

    fn submit(&self, job: Job) -> Result<()> {
        let sender = self.sender.as_ref().ok_or_else(stopped)?;
        sender.send(job).map_err(|_| stopped())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The failpoint of a transaction-control statement.
#[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
fn control_failpoint(sql_text: &str) -> &'static str {
    match sql_text.split_whitespace().next() {
        Some("BEGIN") => "sqlite.begin",
        Some("SAVEPOINT") => "sqlite.savepoint",
        Some("RELEASE") => "sqlite.release",
        Some("COMMIT") => "sqlite.commit",
        _ => "sqlite.rollback",
    }
}

/// The error when SQLite itself ended the transaction mid-batch.
fn aborted(result: Result<WriteOutput>) -> Error {
    let why = result.err().map_or_else(|| "unknown cause".to_owned(), |e| e.message().to_owned());
    Error::new(ErrorKind::Unavailable, format!("the write transaction was aborted: {why}"))
}

fn stopped() -> Error {
    Error::new(ErrorKind::Unavailable, "the SQLite writer has stopped")
}

/// The writer thread's state.
struct WriterLoop {
    conn: Connection,
    receiver: Receiver<Job>,
    jobs_max: usize,
    cache: BatchCache,
    shared: Arc<Shared>,
}

/// A write waiting in a batch.
type Queued = (WriteWork, Reply);

/// A job of a batch after it ran: its reply channel and its own outcome.
type Ran = (Reply, Result<WriteOutput>);

/// A batch that could not commit: every reply channel of it, and why.
struct BatchFailure {
    replies: Vec<Reply>,
    cause: Error,
}

impl WriterLoop {
    fn run(mut self) {
        // Ends when every sender is dropped and the queue is drained.
        while let Ok(first) = self.receiver.recv() {
            let (batch, checkpoint) = self.collect(first);
            if !batch.is_empty() {
                self.commit_batch(batch);
            }
            if let Some(reply) = checkpoint {
                let _ = reply.send(self.checkpoint());
            }
        }
        // Clean close: fold the WAL into the main file so it stands alone.
        // Failure is harmless (SQLite replays the WAL at next open).
        let _ = self.checkpoint();
    }

    /// Gathers queued writes after `first`, up to `jobs_max`; stops early at
    /// a checkpoint request, which runs after the batch commits.
    fn collect(&self, first: Job) -> (Vec<Queued>, Option<CheckpointReply>) {
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Write { work, reply } => batch.push((work, reply)),
                Job::Checkpoint { reply } => return (batch, Some(reply)),
            }
            if batch.len() < self.jobs_max {
                next = self.receiver.try_recv().ok();
            }
        }
        (batch, None)
    }

    fn commit_batch(&mut self, batch: Vec<Queued>) {
        if let Some(e) = self.shared.poison_error() {
            batch.into_iter().for_each(|(_, reply)| drop(reply.send(Err(e.clone()))));
            return;
        }
        let jobs = batch.len() as u64;
        let outcome = self.run_batch(batch);
        self.cache.clear();
        match outcome {
            Ok(ran) => {
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
                self.shared.jobs.fetch_add(jobs, Ordering::Relaxed);
                self.shared.max_batch.fetch_max(jobs, Ordering::Relaxed);
                // Committed but not yet acknowledged: a failure here must
                // leave callers with an unknown outcome, never a false "ok".
                fail::fail_point!("sqlite.reply", |_| ());
                // A caller that gave up waiting is not an error of the batch.
                ran.into_iter().for_each(|(reply, result)| drop(reply.send(result)));
            }
            Err(BatchFailure { replies, cause }) => {
                // The transaction may or may not be active; ROLLBACK either
                // ends it or fails harmlessly because there is none.
                let _ = self.control("ROLLBACK", "undoing a failed batch");
                let _ = self.shared.poisoned.set(cause.message().to_owned());
                let e = self.shared.poison_error().unwrap_or(cause);
                replies.into_iter().for_each(|reply| drop(reply.send(Err(e.clone()))));
            }
        }
    }

    /// BEGIN, every job in its savepoint, COMMIT. On a batch failure returns
    /// every reply channel with the cause, for the caller to fail them all.
    fn run_batch(&mut self, mut batch: Vec<Queued>) -> std::result::Result<Vec<Ran>, BatchFailure> {
        if let Err(cause) = self.control("BEGIN IMMEDIATE", "starting a write transaction") {
            return Err(BatchFailure { replies: batch.into_iter().map(|(_, r)| r).collect(), cause });
        }
        if batch.len() == 1 {
            let (work, reply) = batch.pop().expect("one job");
            return self.run_single(work, reply);
        }
        let mut ran: Vec<Ran> = Vec::with_capacity(batch.len());
        let mut pending = batch.into_iter();
        for (work, reply) in pending.by_ref() {
            match self.run_job(work) {
                Ok(result) => ran.push((reply, result)),
                Err(cause) => {
                    let mut replies: Vec<_> = ran.into_iter().map(|(r, _)| r).collect();
                    replies.push(reply);
                    replies.extend(pending.map(|(_, r)| r));
                    return Err(BatchFailure { replies, cause });
                }
            }
        }
        match self.control("COMMIT", "committing a write transaction") {
            Ok(()) => Ok(ran),
            Err(cause) => Err(BatchFailure { replies: ran.into_iter().map(|(r, _)| r).collect(), cause }),
        }
    }

    /// A batch of one job needs no savepoint: the transaction is the job's
    /// own, committed if it succeeds and rolled back if it fails. (A
    /// savepoint makes SQLite journal every page it changes, which costs a
    /// bulk write about a quarter of its time.)
    fn run_single(&mut self, work: WriteWork, reply: Reply) -> std::result::Result<Vec<Ran>, BatchFailure> {
        let result = self.run_work(work);
        if self.conn.is_autocommit() {
            return Err(BatchFailure { replies: vec![reply], cause: aborted(result) });
        }
        let end = if result.is_ok() {
            self.control("COMMIT", "committing a write transaction")
        } else {
            self.control("ROLLBACK", "undoing a failed write")
        };
        match end {
            Ok(()) => Ok(vec![(reply, result)]),
            Err(cause) => Err(BatchFailure { replies: vec![reply], cause }),
        }
    }

    /// Runs one job in `SAVEPOINT job`. The inner result is the job's own;
    /// an outer error means the batch transaction can no longer be trusted.
    fn run_job(&mut self, work: WriteWork) -> Result<Result<WriteOutput>> {
        self.control("SAVEPOINT job", "starting a write")?;
        let result = self.run_work(work);
        // Some SQLite errors (I/O, disk full) roll back the whole transaction
        // by themselves; the batch's earlier jobs are then lost too.
        if self.conn.is_autocommit() {
            return Err(aborted(result));
        }
        if result.is_err() {
            self.control("ROLLBACK TO job", "undoing a failed write")?;
            // The rolled-back appends may have moved cached change heads.
            self.cache.forget_heads();
        }
        self.control("RELEASE job", "finishing a write")?;
        Ok(result)
    }

    /// Runs a job's work; a panic becomes that job's error.
    fn run_work(&mut self, mut work: WriteWork) -> Result<WriteOutput> {
        let mut tx = SqliteTx::new(&self.conn, &mut self.cache);
        catch_unwind(AssertUnwindSafe(|| {
            fail::fail_point!("sqlite.job", |_| Err(Error::internal("injected failure before a write")));
            work(&mut tx)
        }))
        .unwrap_or_else(|_| Err(Error::internal("a write panicked; its changes were rolled back")))
    }

    /// Runs a transaction-control statement, prepared once. Each kind of
    /// statement is a failpoint (`sqlite.begin`, `sqlite.commit`, …).
    fn control(&self, sql_text: &str, what: &'static str) -> Result<()> {
        fail::fail_point!(control_failpoint(sql_text), |_| Err(Error::new(
            ErrorKind::Unavailable,
            format!("{what}: injected failure")
        )));
        let mut stmt = self.conn.prepare_cached(sql_text).map_err(sql(what))?;
        stmt.execute([]).map(drop).map_err(sql(what))
    }

    /// Folds the WAL back into the main file and truncates it.
    fn checkpoint(&self) -> Result<()> {
        let what = "checkpointing the write-ahead log";
        let (busy, _log, _done): (i64, i64, i64) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(sql(what))?;
        if busy != 0 {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!("{what}: readers kept it from completing; retry later"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Synchronous;
    use crate::connection::{self, Role};
    use engram_core::backend::WriteTx;
    use engram_core::names::SpaceName;

    fn work(mut f: impl FnMut(&mut dyn WriteTx) -> Result<()> + Send + 'static) -> WriteWork {
        Box::new(move |tx| f(tx).map(|()| Box::new(()) as WriteOutput))
    }

    fn insert_space(name: &'static str) -> WriteWork {
        work(move |tx| tx.insert_space(&SpaceName::new(name).expect("name"), 1).map(drop))
    }

    /// A writer whose COMMIT fails when a space named "boom" is inserted: a
    /// trigger breaks a deferred foreign key, which SQLite checks at COMMIT.
    fn writer_with_commit_trap(path: &std::path::Path) -> Writer {
        let mut conn = connection::open(path, Role::Writer).expect("open");
        connection::configure(&conn, Role::Writer, Synchronous::Off).expect("configure");
        crate::migrations::migrate(&mut conn).expect("migrate");
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
             CREATE TRIGGER trap AFTER INSERT ON spaces WHEN NEW.name = 'boom'
             BEGIN INSERT INTO child VALUES (1); END;",
        )
        .expect("trap");
        Writer::start(conn, 16, 16).expect("start writer")
    }

    #[test]
    fn a_failed_commit_fails_the_batch_and_poisons_later_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db");
        let mut writer = writer_with_commit_trap(&path);
        writer.write(insert_space("fine")).expect("an ordinary write commits");

        let e = writer.write(insert_space("boom")).expect_err("commit fails");
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
        assert!(e.message().contains("writes stopped after a failed commit"), "{e}");
        assert!(e.message().contains("committing"), "the cause is named: {e}");

        let later = writer.write(insert_space("later")).expect_err("poisoned");
        assert_eq!(later.kind(), ErrorKind::Unavailable);
        assert!(later.message().contains("restart the server to recover"), "{later}");
        assert_eq!(writer.checkpoint().expect_err("poisoned").kind(), ErrorKind::Unavailable);
        assert_eq!(writer.stats(), WriterStats { commits: 1, jobs: 1, max_batch: 1 });
        writer.shutdown();

        let conn = rusqlite::Connection::open(&path).expect("reopen");
        let names: Vec<String> = {
            let mut stmt = conn.prepare("SELECT name FROM spaces ORDER BY name").expect("prepare");
            stmt.query_map([], |r| r.get(0)).expect("query").collect::<rusqlite::Result<_>>().expect("rows")
        };
        assert_eq!(names, ["fine"], "the failed batch left nothing behind");
    }

    #[test]
    fn stats_count_commits_and_jobs_and_checkpoint_runs_between_batches() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut writer = writer_with_commit_trap(&dir.path().join("db"));
        for name in ["a", "b", "c"] {
            writer.write(insert_space(name)).expect("write");
        }
        writer.checkpoint().expect("checkpoint");
        let failing = writer.write(work(|_| Err(Error::conflict("no"))));
        assert_eq!(failing.expect_err("own error").kind(), ErrorKind::Conflict);
        assert_eq!(writer.stats(), WriterStats { commits: 4, jobs: 4, max_batch: 1 });
        writer.shutdown();
        assert_eq!(writer.write(insert_space("d")).expect_err("stopped").kind(), ErrorKind::Unavailable);
    }
}
