//! Copying a space's collections (same spec and generation) and their
//! documents (same id, version, body, expiry and timestamp), with index
//! entries computed from the spec as the engine computes them.

use super::{CHUNK_ROWS, CopyProgress};
use crate::catalog::Compiled;
use engram_core::Result;
use engram_core::backend::{
    Backend, BackendExt, CollectionId, CollectionRow, IndexEntry, Reader, SpaceId, SpaceRow, StoredDoc, WriteTx,
};
use engram_core::json::decode_document;

/// What the collection phase did.
pub(super) struct Copied {
    pub collections: usize,
    pub written: u64,
}

/// Copies every collection of the source snapshot, continuing each after
/// the last document the target holds; target collections the source no
/// longer has are deleted.
pub(super) fn copy_collections(
    src: &dyn Reader,
    space: &SpaceRow,
    target: SpaceId,
    to: &dyn Backend,
    state: &mut CopyProgress,
    progress: &mut dyn FnMut(&CopyProgress),
) -> Result<Copied> {
    let source = src.collections(space.id)?;
    state.collections_total = source.len();
    delete_strays(to, target, &source)?;
    let before = state.docs_written;
    for row in &source {
        let coll = prepare(to, target, row)?;
        let compiled = Compiled::compile(row.clone())?;
        copy_docs(src, &compiled, to, target, coll, state, progress)?;
        state.collections_done += 1;
        progress(state);
    }
    Ok(Copied { collections: source.len(), written: state.docs_written - before })
}

fn delete_strays(to: &dyn Backend, target: SpaceId, source: &[CollectionRow]) -> Result<()> {
    let stray: Vec<CollectionId> = to
        .reader()?
        .collections(target)?
        .into_iter()
        .filter(|t| !source.iter().any(|s| s.name == t.name))
        .map(|t| t.id)
        .collect();
    for id in stray {
        to.write_with(move |tx| tx.delete_collection(id))?;
    }
    Ok(())
}

/// The target's collection for `row`: kept when its spec and generation
/// match (a resumed copy), else (re)created with them.
fn prepare(to: &dyn Backend, target: SpaceId, row: &CollectionRow) -> Result<CollectionId> {
    let existing = to.reader()?.collection(target, &row.name)?;
    if let Some(t) = &existing
        && t.spec == row.spec
        && t.generation == row.generation
    {
        return Ok(t.id);
    }
    let stale = existing.map(|t| t.id);
    let (name, spec, generation) = (row.name.clone(), row.spec.clone(), row.generation);
    to.write_with(move |tx| {
        tx.lock_space(target)?;
        if let Some(id) = stale {
            tx.delete_collection(id)?;
        }
        let id = tx.insert_collection(target, &name, &spec)?;
        // Caches key compiled specs by generation: keep the source's.
        if generation != 1 {
            tx.update_collection(id, &spec, generation)?;
        }
        Ok(id)
    })
}

/// Documents after the target's last one, a chunk per transaction.
fn copy_docs(
    src: &dyn Reader,
    compiled: &Compiled,
    to: &dyn Backend,
    target: SpaceId,
    coll: CollectionId,
    state: &mut CopyProgress,
    progress: &mut dyn FnMut(&CopyProgress),
) -> Result<()> {
    let mut after = {
        let reader = to.reader()?;
        reader.scan_docs(coll, None, true, 1)?.pop().map(|d| d.id)
    };
    loop {
        let docs = src.scan_docs(compiled.row.id, after.as_deref(), false, CHUNK_ROWS)?;
        let Some(last) = docs.last() else { return Ok(()) };
        after = Some(last.id.clone());
        let full = docs.len() == CHUNK_ROWS;
        let rows = docs.into_iter().map(|d| Ok((entries(compiled, &d)?, d))).collect::<Result<Vec<_>>>()?;
        let n = rows.len() as u64;
        to.write_with(move |tx| {
            tx.lock_space(target)?;
            // Past the target's last id: nothing to replace.
            for (entries, d) in &rows {
                tx.put_doc(coll, d)?;
                if !entries.is_empty() {
                    tx.replace_index_entries(coll, &d.id, &[], entries)?;
                }
            }
            Ok(())
        })?;
        state.docs_written += n;
        progress(state);
        if !full {
            return Ok(());
        }
    }
}

fn entries(coll: &Compiled, doc: &StoredDoc) -> Result<Vec<IndexEntry>> {
    if coll.indexes.is_empty() {
        return Ok(Vec::new());
    }
    Ok(coll.index_entries(&decode_document(&doc.body)?))
}

/// The greatest document id of a collection in the target.
pub(super) fn last_id(tx: &dyn WriteTx, coll: CollectionId) -> Result<Option<String>> {
    Ok(tx.scan_docs(coll, None, true, 1)?.pop().map(|d| d.id))
}

/// Makes the target's document `id` equal `doc` (absent when `None`),
/// index entries included.
pub(super) fn sync_doc(tx: &mut dyn WriteTx, coll: &Compiled, id: &str, doc: Option<&StoredDoc>) -> Result<()> {
    let old = match tx.doc(coll.row.id, id)? {
        Some(d) => entries(coll, &d)?,
        None => Vec::new(),
    };
    let new = match doc {
        Some(d) => {
            tx.put_doc(coll.row.id, d)?;
            entries(coll, d)?
        }
        None => {
            tx.delete_doc(coll.row.id, id)?;
            Vec::new()
        }
    };
    if old.is_empty() && new.is_empty() {
        return Ok(());
    }
    tx.replace_index_entries(coll.row.id, id, &old, &new)
}
