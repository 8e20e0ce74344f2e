//! The end of a copy: the target's log has the source's head and its whole
//! chain verifies, and every collection has as many documents as the
//! source's.

use super::CHUNK_ROWS;
use engram_core::backend::{Backend, CollectionId, Reader, SpaceId};
use engram_core::changelog::{ChangeHead, verify_run};
use engram_core::json::hex;
use engram_core::{Error, Result};

/// Checks the target against the source snapshot; returns the documents
/// the target holds.
pub(super) fn verify(
    src: &dyn Reader,
    source: SpaceId,
    to: &dyn Backend,
    target: SpaceId,
    head: ChangeHead,
) -> Result<u64> {
    let reader = to.reader()?;
    let mut run = ChangeHead::default();
    loop {
        let entries = reader.changes(target, run.position, CHUNK_ROWS)?;
        if entries.is_empty() {
            break;
        }
        run = verify_run(run, &entries)?;
    }
    if run.position != head.position || run.hash != head.hash {
        return Err(Error::corrupted(format!(
            "after the copy the target's log ends at {} ({}), the source's at {} ({})",
            run.position,
            hex(&run.hash),
            head.position,
            hex(&head.hash)
        )));
    }
    let mut total = 0;
    for coll in src.collections(source)? {
        let theirs = reader.collection(target, &coll.name)?.map(|c| c.id);
        let (want, got) = (count(src, Some(coll.id))?, count(reader.as_ref(), theirs)?);
        if want != got {
            return Err(Error::corrupted(format!(
                "after the copy collection {} has {got} documents in the target, {want} in the source",
                coll.name
            )));
        }
        total += got;
    }
    Ok(total)
}

fn count(reader: &dyn Reader, coll: Option<CollectionId>) -> Result<u64> {
    let Some(coll) = coll else { return Ok(0) };
    let (mut n, mut after) = (0, None);
    loop {
        let docs = reader.scan_docs(coll, after.as_deref(), false, CHUNK_ROWS)?;
        n += docs.len() as u64;
        match docs.last() {
            Some(d) if docs.len() == CHUNK_ROWS => after = Some(d.id.clone()),
            _ => return Ok(n),
        }
    }
}
