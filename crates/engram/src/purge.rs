//! Background purge of expired documents and idempotency records.
//!
//! Expired documents are already invisible to every read (reads check the
//! expiry); purging removes them physically and logs an `expire` entry so
//! derived indexes drop them too.

use crate::apply::Writer;
use crate::engine::Inner;
use engram_core::Result;
use engram_core::backend::{CollectionId, SpaceId};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The lease the purger holds on shared storage.
const PURGE_LEASE: &str = "purge";
/// Documents purged per transaction.
const PURGE_BATCH_ROWS: usize = 1_000;

impl Inner {
    /// One full purge pass. Takes the `Arc` because write work must own
    /// what it uses (it runs on the backend's writer thread).
    pub(crate) fn purge_once(self: &Arc<Self>) -> Result<usize> {
        // One purger per database: on shared storage the others skip.
        if !self.backend.try_lease(PURGE_LEASE)? {
            return Ok(0);
        }
        let mut total = 0;
        loop {
            let now = self.hlc.wall_ms();
            let mut expired = self.backend.reader()?.expired(now, PURGE_BATCH_ROWS)?;
            // Backends list expired documents in their own order; the log
            // must not depend on the backend, so purge in (collection, id) order.
            expired.sort();
            if expired.is_empty() {
                break;
            }
            total += self.purge_batch(expired)?;
        }
        let now = self.hlc.wall_ms();
        self.write_with(move |tx| {
            fail::fail_point!("engram.purge.idempotency", |_| Err(engram_core::Error::internal(
                "injected failure purging"
            )));
            tx.purge_idempotency(now, PURGE_BATCH_ROWS)
        })?;
        Ok(total)
    }

    /// Purges documents found expired, one transaction per space (each
    /// space's change log gets its `expire` entries under that space's
    /// write lock; a transaction never holds two spaces' locks, so purgers
    /// and writers cannot deadlock). Rechecks expiry inside the write.
    fn purge_batch(self: &Arc<Self>, expired: Vec<(CollectionId, String)>) -> Result<usize> {
        let mut by_space: BTreeMap<SpaceId, Vec<(CollectionId, String)>> = BTreeMap::new();
        {
            let reader = self.backend.reader()?;
            for (coll, id) in expired {
                if let Some(row) = reader.collection_by_id(coll)? {
                    by_space.entry(row.space).or_default().push((coll, id));
                }
            }
        }
        let mut total = 0;
        for (space, docs) in by_space {
            total += self.purge_space(space, docs)?;
        }
        Ok(total)
    }

    fn purge_space(self: &Arc<Self>, space: SpaceId, docs: Vec<(CollectionId, String)>) -> Result<usize> {
        let me = self.clone();
        let actor = crate::actor::Actor::engine("purge");
        self.write_with(move |tx| {
            fail::fail_point!("engram.purge.documents", |_| Err(engram_core::Error::internal(
                "injected failure purging"
            )));
            let Some(row) = tx.spaces()?.into_iter().find(|s| s.id == space) else { return Ok(0) };
            let mut w = Writer::open(tx, space, &row.name, &me.hlc, &me.catalog, &actor)?;
            let mut n = 0;
            for (coll, id) in &docs {
                n += usize::from(w.expire(*coll, id)?);
            }
            Ok(n)
        })
    }
}
