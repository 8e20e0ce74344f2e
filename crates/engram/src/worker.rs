//! A background worker: a named thread that runs one pass over the engine
//! every interval until stopped or until the engine is gone. The purger and
//! the search indexer are workers.

use crate::engine::Inner;
use engram_core::Result;
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

/// One pass of a worker; errors are logged and the pass retried next time.
pub(crate) type Pass = fn(&Arc<Inner>) -> Result<()>;

/// The task name of a worker thread's name, for its actor.
fn name_of_task(thread: &str) -> String {
    thread.strip_prefix("engram-").unwrap_or(thread).to_owned()
}

/// A running worker thread.
pub(crate) struct Worker {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl Worker {
    /// Starts `pass` every `interval` on a thread called `name`; `failure`
    /// describes a failed pass in the log. The thread holds the engine
    /// weakly, so it never keeps a dropped engine alive.
    pub fn start(name: &str, inner: Weak<Inner>, interval: Duration, pass: Pass, failure: &'static str) -> Self {
        let (stop, stopped) = channel::<()>();
        let name = name.to_owned();
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                // Its writes name the worker (`engram-purge` → `engram:purge`).
                let task = name_of_task(&name);
                crate::actor::with_actor(crate::actor::Actor::engine(&task), || {
                    Self::run(&stopped, &inner, interval, pass, failure)
                })
            })
            .expect("spawning a background worker thread");
        Self { stop, thread }
    }

    fn run(
        stopped: &std::sync::mpsc::Receiver<()>,
        inner: &Weak<Inner>,
        interval: Duration,
        pass: Pass,
        failure: &str,
    ) {
        while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
            let Some(inner) = inner.upgrade() else { return };
            if let Err(e) = pass(&inner) {
                tracing::warn!(error = %e, "{failure}; will retry");
            }
        }
    }

    /// Stops the thread and waits for it, unless called from it.
    pub fn stop(self) {
        drop(self.stop);
        if self.thread.thread().id() != std::thread::current().id() {
            let _ = self.thread.join();
        }
    }
}
