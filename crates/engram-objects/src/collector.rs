//! The collector: deletes bytes nothing refers to. It finds them in the
//! engine's records, never by scanning the bucket:
//! - expired objects (the `_objects` expiry index) lose their reference;
//! - blobs unreferenced for longer than the grace period (the `_blobs` gc
//!   index, kept by the same transactions that change references, so it
//!   follows the change log) are marked, their bytes deleted, their
//!   record removed; a crash between the steps is finished by the next
//!   pass (the mark stays in the index);
//! - temporary uploads older than the grace period (a crash mid-upload)
//!   are found by listing each space's `tmp/` prefix, which holds only
//!   uploads in flight;
//! - the bytes of deleted spaces (their records went with them) by
//!   listing the deleted space's prefix, once per process.
//!
//! One collector per database at a time (the engine's `objects-collector`
//! lease), so two never race over one blob.

use crate::objects_error;
use crate::service::{Objects, blocking};
use engram::Engine;
use engram_core::Result;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The lease one collector per database holds.
pub const COLLECTOR_LEASE: &str = "objects-collector";
/// Records handled per step.
const BATCH: usize = 500;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    pub expired_objects: usize,
    pub blobs_deleted: usize,
    pub temporaries_deleted: usize,
    pub deleted_space_files: usize,
}

/// Totals over a collector's passes (what `/metrics` reports).
#[derive(Debug, Default)]
pub struct CollectorStats {
    pub passes: AtomicU64,
    pub failed_passes: AtomicU64,
    pub expired_objects: AtomicU64,
    pub blobs_deleted: AtomicU64,
    pub temporaries_deleted: AtomicU64,
    pub deleted_space_files: AtomicU64,
}

impl CollectorStats {
    fn add(&self, c: &Collected) {
        let add = |a: &AtomicU64, n: usize| a.fetch_add(n as u64, Ordering::Relaxed);
        add(&self.expired_objects, c.expired_objects);
        add(&self.blobs_deleted, c.blobs_deleted);
        add(&self.temporaries_deleted, c.temporaries_deleted);
        add(&self.deleted_space_files, c.deleted_space_files);
    }
}

/// Runs collection passes; remembers which deleted spaces it has swept.
#[derive(Debug)]
pub struct Collector {
    swept: Mutex<HashSet<i64>>,
    /// When this collector was made: staging files older than this were
    /// left by a process that died (see `Store::sweep_staging_files`).
    started: SystemTime,
    staging_swept: std::sync::atomic::AtomicBool,
    stats: Arc<CollectorStats>,
}

impl Default for Collector {
    fn default() -> Self {
        Self::with_stats(Arc::default())
    }
}

impl Collector {
    /// A collector adding its passes' totals to `stats`.
    pub fn with_stats(stats: Arc<CollectorStats>) -> Self {
        Self { swept: Mutex::default(), started: SystemTime::now(), staging_swept: Default::default(), stats }
    }

    /// One pass over every space (nothing when another process holds the
    /// lease).
    pub async fn run_once(&self, engine: &Engine, objects: &Objects) -> Result<Collected> {
        let mut done = Collected::default();
        let e = engine.clone();
        if !tokio::task::spawn_blocking(move || e.try_lease(COLLECTOR_LEASE)).await.map_err(objects_error)?? {
            return Ok(done);
        }
        let e = engine.clone();
        let spaces = tokio::task::spawn_blocking(move || e.spaces()).await.map_err(objects_error)??;
        let mut failed = None;
        for info in spaces {
            let e = engine.clone();
            let name = info.name.clone();
            let Ok(space) = tokio::task::spawn_blocking(move || e.space(&name)).await.map_err(objects_error)? else {
                continue; // deleted meanwhile
            };
            // One space's failure does not hold up the others'.
            if let Err(e) = self.space(&space, objects, &mut done).await {
                tracing::warn!(space = space.name(), error = %e, "object collection of a space failed");
                failed.get_or_insert(e);
            }
        }
        self.deleted_spaces(engine, objects, &mut done).await?;
        self.staging_files(objects, &mut done).await?;
        failed.map_or(Ok(done), Err)
    }

    async fn space(&self, space: &engram::Space, objects: &Objects, done: &mut Collected) -> Result<()> {
        loop {
            let n = blocking(space, |s| s.expire_objects(BATCH)).await?;
            done.expired_objects += n;
            if n < BATCH {
                break;
            }
        }
        let cutoff = wall_ms().saturating_sub(millis(objects.grace()));
        let store = objects.store();
        loop {
            let due = blocking(space, move |s| s.collectable_blobs(cutoff, BATCH)).await?;
            let n = due.len();
            for blob in due {
                let digest = blob.digest.clone();
                if !blocking(space, move |s| s.begin_collect(&digest, cutoff)).await? {
                    continue; // referred to again, or staged anew
                }
                store.delete(&store.blob_path(space.id(), &blob.digest)).await?;
                let digest = blob.digest.clone();
                blocking(space, move |s| s.end_collect(&digest)).await?;
                done.blobs_deleted += 1;
            }
            if n < BATCH {
                break;
            }
        }
        let before = SystemTime::now().checked_sub(objects.tmp_grace());
        for path in store.list_older(&store.tmp_prefix(space.id()), before, BATCH).await? {
            store.delete(&path).await?;
            done.temporaries_deleted += 1;
        }
        Ok(())
    }

    /// Once per process: what killed processes left of their writes.
    async fn staging_files(&self, objects: &Objects, done: &mut Collected) -> Result<()> {
        if self.staging_swept.load(Ordering::SeqCst) {
            return Ok(());
        }
        let (store, before) = (objects.store().clone(), self.started);
        done.temporaries_deleted +=
            tokio::task::spawn_blocking(move || store.sweep_staging_files(before)).await.map_err(objects_error)??;
        self.staging_swept.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Deletes the stored bytes of spaces deleted since this process
    /// started (or not yet swept by it).
    async fn deleted_spaces(&self, engine: &Engine, objects: &Objects, done: &mut Collected) -> Result<()> {
        let e = engine.clone();
        let deleted = tokio::task::spawn_blocking(move || e.deleted_spaces()).await.map_err(objects_error)??;
        let store = objects.store();
        for (_, id, _) in deleted {
            if self.swept.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&id) {
                continue;
            }
            loop {
                let paths = store.list_older(&store.space_prefix(id), None, BATCH).await?;
                for path in &paths {
                    store.delete(path).await?;
                }
                done.deleted_space_files += paths.len();
                if paths.len() < BATCH {
                    break;
                }
            }
            self.swept.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id);
        }
        Ok(())
    }

    /// Runs passes every `every` until the task is dropped; a failed pass
    /// is logged and retried at the next tick.
    pub async fn run(self, engine: Engine, objects: Objects, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.stats.passes.fetch_add(1, Ordering::Relaxed);
            match self.run_once(&engine, &objects).await {
                Ok(c) => {
                    self.stats.add(&c);
                    if c != Collected::default() {
                        tracing::info!(?c, "object collector pass");
                    }
                }
                Err(e) => {
                    self.stats.failed_passes.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "object collector pass failed; retrying at the next tick");
                }
            }
        }
    }
}

fn wall_ms() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, millis)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
