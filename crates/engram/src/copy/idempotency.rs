//! Copying a space's idempotency records, so a request retried after the
//! move with a key used before it is answered with its first response
//! instead of running again.

use super::CHUNK_ROWS;
use engram_core::Result;
use engram_core::backend::{Backend, BackendExt, Reader, SpaceId};

/// Writes every record of the source snapshot to the target, a chunk per
/// transaction; returns how many. Writing a record is an upsert, so a
/// resumed copy writes them all again rather than tracking progress.
pub(super) fn copy_records(src: &dyn Reader, source: SpaceId, to: &dyn Backend, target: SpaceId) -> Result<u64> {
    let (mut after, mut total) = (None::<String>, 0);
    loop {
        let records = src.idempotency_records(source, after.as_deref(), CHUNK_ROWS)?;
        let Some((last, _)) = records.last() else { return Ok(total) };
        after = Some(last.clone());
        let full = records.len() == CHUNK_ROWS;
        total += records.len() as u64;
        to.write_with(move |tx| {
            tx.lock_space(target)?;
            for (key, record) in &records {
                tx.put_idempotency(target, key, record)?;
            }
            Ok(())
        })?;
        if !full {
            return Ok(total);
        }
    }
}
