//! The threads engine work runs on: plain OS threads, outside the async
//! runtime's context.
//!
//! Why not the runtime's own blocking pool: its threads carry the runtime's
//! context, and a backend may drive a runtime of its own (the synchronous
//! PostgreSQL client does), which the async runtime forbids inside its
//! context. Here a thread is started when a job finds none idle (up to
//! `WORK_THREADS_MAX`; the server's in-flight limit keeps far fewer jobs
//! queued), and one idle for `IDLE_EXIT` exits.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// Threads the pool runs at most; beyond, jobs wait in its queue.
pub const WORK_THREADS_MAX: usize = 512;
/// How long a thread waits for work before it exits.
const IDLE_EXIT: Duration = Duration::from_secs(30);

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

struct Pool {
    state: Mutex<State>,
    work: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool { state: Mutex::default(), work: Condvar::new() })
}

thread_local! {
    /// Set while this thread drives an embedded call (`embedded.rs`): its
    /// engine work runs right here instead of on a pool thread.
    static INLINE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` on a pool thread; the answer arrives on the returned channel
/// (closed without one if `f` panicked). Inside [`inline`], `f` runs on
/// the calling thread before this returns.
pub fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> tokio::sync::oneshot::Receiver<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    if INLINE.with(std::cell::Cell::get) {
        let _ = catch_unwind(AssertUnwindSafe(job));
    } else {
        submit(job);
    }
    rx
}

/// Runs `f` with engine work inline: for a thread that blocks on one
/// request's future itself (an embedded call from a foreign thread), where
/// handing each engine call to a pool thread and back would cost two
/// context switches. Only for engines whose backend runs no runtime of its
/// own (the embedded SQLite one): that is why the pool exists.
pub fn inline<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            INLINE.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(INLINE.with(|c| c.replace(true)));
    f()
}

fn submit(job: Job) {
    let p = pool();
    let mut st = p.state.lock().unwrap_or_else(PoisonError::into_inner);
    st.queue.push_back(job);
    let spawn = st.idle == 0 && st.threads < WORK_THREADS_MAX;
    if spawn {
        st.threads += 1;
    }
    drop(st);
    if spawn {
        let started = std::thread::Builder::new().name("engram-work".into()).spawn(worker);
        if started.is_err() {
            // Out of threads: the queued job waits for a running one.
            p.state.lock().unwrap_or_else(PoisonError::into_inner).threads -= 1;
        }
    }
    p.work.notify_one();
}

fn worker() {
    let p = pool();
    loop {
        let mut st = p.state.lock().unwrap_or_else(PoisonError::into_inner);
        let job = loop {
            if let Some(job) = st.queue.pop_front() {
                break job;
            }
            st.idle += 1;
            let (next, timeout) = p.work.wait_timeout(st, IDLE_EXIT).unwrap_or_else(PoisonError::into_inner);
            st = next;
            st.idle -= 1;
            if timeout.timed_out() && st.queue.is_empty() {
                st.threads -= 1;
                return;
            }
        };
        drop(st);
        // A panicking job drops its reply sender: the caller sees an error.
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_runs_on_the_calling_thread_and_ends_with_its_scope() {
        let here = std::thread::current().id();
        let ran_on = inline(|| run(move || std::thread::current().id()));
        assert_eq!(ran_on.blocking_recv().expect("answer"), here);
        let panicked = inline(|| run(|| -> u8 { panic!("boom") }));
        assert!(panicked.blocking_recv().is_err(), "a panic closes the reply");
        let after = run(move || std::thread::current().id());
        assert_ne!(after.blocking_recv().expect("answer"), here, "outside inline, a pool thread runs it");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_run_outside_the_runtime_and_panics_close_the_reply() {
        let outside = run(|| tokio::runtime::Handle::try_current().is_err()).await.expect("answer");
        assert!(outside, "pool threads carry no runtime context");
        let many: Vec<_> = (0..64u64).map(|i| run(move || i * 2)).collect();
        for (i, rx) in many.into_iter().enumerate() {
            assert_eq!(rx.await.expect("answer"), i as u64 * 2);
        }
        assert!(run(|| -> u8 { panic!("boom") }).await.is_err(), "a panic closes the reply");
    }
}
