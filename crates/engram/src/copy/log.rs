//! Copying a space's change log entry for entry (same positions, times and
//! hashes), resynchronising in the same transaction the already-copied
//! documents and collections that the new entries touch.

use super::{CHUNK_ROWS, CopyProgress};
use crate::catalog::Compiled;
use engram_core::backend::{Backend, BackendExt, CollectionId, Reader, SpaceId, SpaceRow, StoredDoc, WriteTx};
use engram_core::changelog::{ChangeEntry, ChangeOp};
use engram_core::names::SpaceName;
use engram_core::{Error, ErrorKind, Result};
use std::collections::{HashMap, HashSet};

/// A document an entry touched, with its state in the source snapshot
/// (`None`: absent there).
struct Touched {
    collection: String,
    id: String,
    doc: Option<StoredDoc>,
}

/// What one log chunk changes in the target besides appending entries.
#[derive(Default)]
struct Resync {
    /// Collections whose spec changed or that were dropped or created:
    /// deleted in the target, to be copied again whole.
    dropped: Vec<String>,
    touched: Vec<Touched>,
}

/// Appends the source's entries after the target's head, creating the
/// target space with the first chunk. Returns the target space and the
/// entries written.
pub(super) fn copy_log(
    src: &dyn Reader,
    space: &SpaceRow,
    target: Option<SpaceId>,
    to: &dyn Backend,
    state: &mut CopyProgress,
    progress: &mut dyn FnMut(&CopyProgress),
) -> Result<(SpaceId, u64)> {
    let mut target = target;
    let mut at = match target {
        Some(id) => to.change_head(id)?.position,
        None => 0,
    };
    let source_colls: HashMap<String, CollectionId> =
        src.collections(space.id)?.into_iter().map(|c| (c.name.as_str().to_owned(), c.id)).collect();
    let mut written = 0;
    loop {
        state.log_done = at;
        progress(state);
        let entries = src.changes(space.id, at, CHUNK_ROWS)?;
        let Some(last) = entries.last() else { break };
        at = last.position;
        written += entries.len() as u64;
        let resync = match target {
            Some(id) => resync_of(src, &source_colls, &target_collections(to, id)?, &entries)?,
            None => Resync::default(),
        };
        target = Some(write_chunk(to, &space.name, space.created_hlc, target, entries, resync)?);
    }
    let id = match target {
        Some(id) => id,
        // An empty source log (no engine writes one): the space alone.
        None => to.write_with({
            let (name, hlc) = (space.name.clone(), space.created_hlc);
            move |tx| tx.insert_space(&name, hlc)
        })?,
    };
    Ok((id, written))
}

fn target_collections(to: &dyn Backend, space: SpaceId) -> Result<HashSet<String>> {
    Ok(to.reader()?.collections(space)?.into_iter().map(|c| c.name.as_str().to_owned()).collect())
}

/// The resynchronisation a chunk needs, reading touched documents only for
/// collections the target has (none on a first run).
fn resync_of(
    src: &dyn Reader,
    source_colls: &HashMap<String, CollectionId>,
    in_target: &HashSet<String>,
    entries: &[ChangeEntry],
) -> Result<Resync> {
    let mut out = Resync::default();
    let mut seen = HashSet::new();
    for e in entries.iter().filter(|e| in_target.contains(&e.collection)) {
        match e.op {
            ChangeOp::CollectionCreate | ChangeOp::CollectionUpdate | ChangeOp::CollectionDrop => {
                out.dropped.push(e.collection.clone());
            }
            ChangeOp::Put | ChangeOp::Patch | ChangeOp::Delete | ChangeOp::Expire => {
                if seen.insert((e.collection.as_str(), e.doc_id.as_str())) {
                    let doc = match source_colls.get(&e.collection) {
                        Some(&coll) => src.doc(coll, &e.doc_id)?,
                        None => None,
                    };
                    out.touched.push(Touched { collection: e.collection.clone(), id: e.doc_id.clone(), doc });
                }
            }
            ChangeOp::SpaceCreate => {}
        }
    }
    Ok(out)
}

/// One transaction: the target space if new, the entries, the resync.
fn write_chunk(
    to: &dyn Backend,
    name: &SpaceName,
    created_hlc: u64,
    target: Option<SpaceId>,
    entries: Vec<ChangeEntry>,
    resync: Resync,
) -> Result<SpaceId> {
    let name = name.clone();
    to.write_with(move |tx| {
        let id = match target {
            Some(id) => id,
            None => tx.insert_space(&name, created_hlc)?,
        };
        let head = tx.lock_space(id)?;
        // The first entry must follow the head read before the chunk: if
        // not, something else writes this space in the target.
        if entries.first().is_some_and(|e| e.position != head.position + 1) {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("space {name} in the target was written during the copy"),
            ));
        }
        for e in &entries {
            tx.append_change(id, e)?;
        }
        apply_resync(tx, id, &resync)?;
        Ok(id)
    })
}

/// Deletes the collections to copy again, then brings every touched
/// document within a collection's copied prefix to its source state.
fn apply_resync(tx: &mut dyn WriteTx, space: SpaceId, resync: &Resync) -> Result<()> {
    if resync.dropped.is_empty() && resync.touched.is_empty() {
        return Ok(());
    }
    let mut kept = HashMap::new();
    for row in tx.collections(space)? {
        if resync.dropped.iter().any(|d| d == row.name.as_str()) {
            tx.delete_collection(row.id)?;
        } else {
            kept.insert(row.name.as_str().to_owned(), row);
        }
    }
    let mut prepared: HashMap<&str, (Compiled, Option<String>)> = HashMap::new();
    for t in &resync.touched {
        let Some(row) = kept.get(&t.collection) else { continue };
        if !prepared.contains_key(t.collection.as_str()) {
            let last = super::docs::last_id(tx, row.id)?;
            prepared.insert(t.collection.as_str(), (Compiled::compile(row.clone())?, last));
        }
        let (coll, last) = &prepared[t.collection.as_str()];
        // Documents after the copied prefix are copied later, from the
        // same snapshot; writing one now would move the prefix past
        // documents not copied yet.
        if last.as_deref().is_some_and(|l| t.id.as_str() <= l) {
            super::docs::sync_doc(tx, coll, &t.id, t.doc.as_ref())?;
        }
    }
    Ok(())
}
