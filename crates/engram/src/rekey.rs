//! Rebuilds index entries that an older data format encoded differently.
//!
//! Format v1 keyed numbers by their nearest f64, which the current exact
//! encoding (`engram_core::keys`) does not match: a v1 entry would be missed
//! by equality lookups and misplaced in ranges. The backend lists the
//! collections still holding such entries; at open, before the engine serves
//! anything, each one's index entries are cleared and recomputed from its
//! stored documents, and the collection is marked rebuilt, in one
//! transaction per collection (a crash leaves it listed; the next open
//! rebuilds it again). Documents and the change log do not change.

use crate::apply::backfill;
use crate::catalog::Compiled;
use engram_core::Result;
use engram_core::backend::{Backend, BackendExt, CollectionId, WriteTx};

/// Rebuilds every collection the backend lists as stale; returns how many.
pub(crate) fn rebuild_stale_indexes(backend: &dyn Backend) -> Result<usize> {
    let stale = backend.reader()?.stale_indexes()?;
    for &coll in &stale {
        backend.write_with(move |tx| rebuild(tx, coll))?;
        tracing::info!(collection = coll.0, "rebuilt index entries written by an older data format");
    }
    Ok(stale.len())
}

/// One collection's entries, all indexes at once, then its mark.
fn rebuild(tx: &mut dyn WriteTx, coll: CollectionId) -> Result<()> {
    // A listed collection may have been deleted since it was listed.
    if let Some(row) = tx.collection_by_id(coll)? {
        let compiled = Compiled::compile(row)?;
        let ids: Vec<u32> = compiled.indexes.iter().map(|ix| ix.spec.id).collect();
        for &id in &ids {
            tx.clear_index(coll, id)?;
        }
        backfill(tx, &compiled, &ids)?;
    }
    tx.mark_indexes_rebuilt(coll)
}
