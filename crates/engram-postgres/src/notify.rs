//! Change announcements between servers over LISTEN/NOTIFY, so a long
//! poll or feed stream on one server wakes when another server commits.
//!
//! The announcer sends, right after commits, the ids of the spaces written
//! (batched: one `pg_notify` per burst, on a connection of its own, off the
//! write path). The listener holds a `LISTEN` connection and reports each
//! id; when its connection drops it reconnects and reports "anything may
//! have changed", so no waiter sleeps through a change it missed.
//!
//! Announcements are wake-ups, not data: a waiter always reads the
//! database after waking, so a lost or duplicated announcement costs at
//! most a wait, never a wrong answer.

use crate::config::PostgresOptions;
use crate::conn::Conn;
use engram_core::backend::{ChangeCallback, SpaceId};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Space ids waiting to be announced, at most (beyond, the oldest burst is
/// merged: announcements are wake-ups, a few can be coalesced).
const PENDING_MAX: usize = 4_096;
/// How long the announcer gathers ids after the first of a burst (what
/// another server's waiters may wait longer, at most).
const COALESCE: Duration = Duration::from_millis(2);

/// How often a listener checks whether it should stop.
const LISTEN_TICK: Duration = Duration::from_millis(250);
/// Longest pause between reconnection attempts.
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// Bytes of one NOTIFY payload, below PostgreSQL's 8,000.
const PAYLOAD_BYTES_MAX: usize = 7_000;

/// The notification channel of a schema's servers.
fn channel(opts: &PostgresOptions) -> String {
    format!("engram_changes_{}", opts.schema)
}

/// The server process id of the announcer's connection (0 before it
/// connects): the listener skips what it announced itself, since this
/// process's waiters were woken at its commits already, and an echo would
/// wake one more receiver of every queue after every commit.
pub(crate) type OwnPid = Arc<AtomicI32>;

/// Sends announcements from a thread of its own.
pub(crate) struct Announcer {
    tx: Option<SyncSender<SpaceId>>,
    thread: Option<JoinHandle<()>>,
    own_pid: OwnPid,
}

impl Announcer {
    pub(crate) fn start(opts: &PostgresOptions) -> Self {
        let (tx, rx) = sync_channel(PENDING_MAX);
        let (opts, own_pid) = (opts.clone(), OwnPid::default());
        let pid = own_pid.clone();
        let thread = std::thread::Builder::new()
            .name("engram-pg-announce".into())
            .spawn(move || announce_loop(&opts, &rx, &pid))
            .expect("spawn the announcer");
        Self { tx: Some(tx), thread: Some(thread), own_pid }
    }

    /// Where the announcer's connection's process id is kept.
    pub(crate) fn own_pid(&self) -> OwnPid {
        self.own_pid.clone()
    }

    /// Queues an announcement; never blocks a writer (a full queue already
    /// holds wake-ups that will go out).
    pub(crate) fn announce(&self, space: SpaceId) {
        if let Some(tx) = &self.tx
            && let Err(TrySendError::Disconnected(_)) = tx.try_send(space)
        {
            tracing::debug!("the change announcer has stopped");
        }
    }

    pub(crate) fn stop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn announce_loop(opts: &PostgresOptions, rx: &Receiver<SpaceId>, own_pid: &AtomicI32) {
    let mut conn: Option<Conn> = None;
    let chan = channel(opts);
    while let Ok(first) = rx.recv() {
        // Commits come in bursts (one per job of a batch, batches back to
        // back): a short pause lets one NOTIFY carry the burst, instead of
        // a transaction on this connection and a wake-up of every
        // listening server per commit.
        std::thread::sleep(COALESCE);
        let mut ids = BTreeSet::from([first.0]);
        while let Ok(more) = rx.try_recv() {
            ids.insert(more.0);
        }
        for payload in payloads(&ids) {
            if conn.as_ref().is_none_or(Conn::is_closed) {
                conn = Conn::open(opts).ok();
                let pid = conn.as_mut().and_then(|c| c.backend_pid().ok());
                own_pid.store(pid.unwrap_or(0), Ordering::SeqCst);
            }
            let Some(c) = conn.as_mut() else { continue };
            if let Err(e) = c.execute("announcing changes", "SELECT pg_notify($1, $2)", &[&chan, &payload]) {
                tracing::debug!(error = %e.message(), "announcing changes failed");
                conn = None;
            }
        }
    }
}

/// Comma-separated ids, split to stay under the payload limit.
fn payloads(ids: &BTreeSet<i64>) -> Vec<String> {
    let mut out = vec![String::new()];
    for id in ids {
        let last = out.last_mut().expect("one payload");
        if last.len() + 21 > PAYLOAD_BYTES_MAX {
            out.push(String::new());
        }
        let last = out.last_mut().expect("one payload");
        if !last.is_empty() {
            last.push(',');
        }
        last.push_str(&id.to_string());
    }
    out
}

/// Listens for other servers' announcements.
pub(crate) struct Listener {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Listener {
    pub(crate) fn start(opts: &PostgresOptions, changed: ChangeCallback, own_pid: OwnPid) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (opts, flag) = (opts.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("engram-pg-listen".into())
            .spawn(move || listen_loop(&opts, &changed, &flag, &own_pid))
            .expect("spawn the listener");
        Self { stop, thread: Mutex::new(Some(thread)) }
    }

    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.lock().unwrap_or_else(PoisonError::into_inner).take() {
            let _ = t.join();
        }
    }
}

fn listen_loop(opts: &PostgresOptions, changed: &ChangeCallback, stop: &AtomicBool, own_pid: &AtomicI32) {
    let chan = channel(opts);
    let mut pause = Duration::from_millis(100);
    while !stop.load(Ordering::SeqCst) {
        let mut conn = match Conn::open(opts).and_then(|mut c| c.listen(&chan).map(|()| c)) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e.message(), "listening for changes failed; retrying");
                std::thread::sleep(pause);
                pause = (pause * 2).min(RECONNECT_MAX);
                continue;
            }
        };
        pause = Duration::from_millis(100);
        // Connected (again): whatever was announced meanwhile is lost.
        changed(None);
        while !stop.load(Ordering::SeqCst) {
            match conn.next_notification(LISTEN_TICK) {
                // Announced by this process: its waiters were woken already.
                Ok(Some((pid, _))) if pid != 0 && pid == own_pid.load(Ordering::SeqCst) => {}
                Ok(Some((_, payload))) => {
                    for id in payload.split(',').filter_map(|p| p.parse::<i64>().ok()) {
                        changed(Some(SpaceId(id)));
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = %e.message(), "the change listener's connection failed; reconnecting");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_split_under_the_limit() {
        let ids: BTreeSet<i64> = (0..2_000).map(|i| i64::MAX - i).collect();
        let parts = payloads(&ids);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| p.len() <= PAYLOAD_BYTES_MAX));
        let back: BTreeSet<i64> =
            parts.iter().flat_map(|p| p.split(',').map(|x| x.parse::<i64>().expect("id"))).collect();
        assert_eq!(back, ids);
    }
}
