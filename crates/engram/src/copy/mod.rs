//! Copying spaces between backends verbatim (`engram copy`): same change
//! log entry for entry, same documents, index entries recomputed.
//!
//! A space is copied from one source snapshot: first its change log (with
//! the resynchronisation of already-copied documents the new entries
//! touch), then its collections and documents, then its idempotency
//! records, then the result is verified. All progress is derived from the target, so a copy killed at
//! any point continues when run again, even if the source was written in
//! between. **Invariant** (what makes resuming sound): in the target, for
//! every collection present, each document with an id up to the
//! collection's last id equals the source's as of the target's log head;
//! documents after it are not yet copied.

mod docs;
mod idempotency;
mod log;
mod verify;

use engram_core::backend::{Backend, Reader, SpaceId, SpaceRow};
use engram_core::changelog::ChangeHead;
use engram_core::json::hex;
use engram_core::names::SpaceName;
use engram_core::{Error, ErrorKind, Result};

/// Rows written per target transaction.
pub(crate) const CHUNK_ROWS: usize = 1_000;

/// Where a space's copy stands, reported after every chunk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyProgress {
    pub space: String,
    /// Change-log entries present in the target, of `log_total`.
    pub log_done: u64,
    pub log_total: u64,
    /// Collections finished, of `collections_total`.
    pub collections_done: usize,
    pub collections_total: usize,
    /// Documents written by this run.
    pub docs_written: u64,
}

/// A space copied and verified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SpaceCopy {
    pub space: String,
    /// The source's log head the copy reproduces (its snapshot's).
    pub position: u64,
    /// Hex of the head entry's hash, equal in source and target.
    pub hash: String,
    pub collections: usize,
    /// Documents in the target after the copy.
    pub documents: u64,
    /// Documents and log entries this run wrote (less after a resume).
    pub documents_written: u64,
    pub entries_written: u64,
    /// Idempotency records copied (all of them on every run).
    pub idempotency_records: u64,
}

/// The spaces of `from` a whole-database copy takes: every space but the
/// engine's reserved ones (the system space holds a shared database's API
/// keys, which belong to the servers of that database, not to the data).
pub fn copyable_spaces(from: &dyn Backend) -> Result<Vec<SpaceName>> {
    let spaces = from.reader()?.spaces()?;
    Ok(spaces.into_iter().map(|s| s.name).filter(|n| !n.is_reserved()).collect())
}

/// Copies one space from `from` to `to` (or continues an interrupted copy)
/// and verifies it: equal log heads, and the target's chain verifies.
pub fn copy_space(
    from: &dyn Backend,
    to: &dyn Backend,
    name: &SpaceName,
    progress: &mut dyn FnMut(&CopyProgress),
) -> Result<SpaceCopy> {
    // One snapshot for the whole space: consistent even if `from` is live.
    let src = from.reader()?;
    let space =
        src.space(name)?.ok_or_else(|| Error::not_found(format!("space {name} does not exist in the source")))?;
    refuse_objects(src.as_ref(), &space)?;
    let head = src.change_head(space.id)?;
    let target = check_target(src.as_ref(), &space, head, to)?;
    let mut state = CopyProgress { space: name.to_string(), log_total: head.position, ..CopyProgress::default() };
    let (target, entries_written) = log::copy_log(src.as_ref(), &space, target, to, &mut state, progress)?;
    let docs = docs::copy_collections(src.as_ref(), &space, target, to, &mut state, progress)?;
    let idempotency_records = idempotency::copy_records(src.as_ref(), space.id, to, target)?;
    let documents = verify::verify(src.as_ref(), space.id, to, target, head)?;
    Ok(SpaceCopy {
        space: name.to_string(),
        position: head.position,
        hash: hex(&head.hash),
        collections: docs.collections,
        documents,
        documents_written: docs.written,
        entries_written,
        idempotency_records,
    })
}

/// Refuses a space that holds objects: their bytes live in an object store
/// under the source's space id, which the copy does not move, so the
/// copied keys would point at missing bytes.
fn refuse_objects(src: &dyn Reader, space: &SpaceRow) -> Result<()> {
    let Some(coll) = src.collection(space.id, &crate::system::System::Objects.collection_name())? else {
        return Ok(());
    };
    if src.scan_docs(coll.id, None, false, 1)?.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "space {} holds objects, and engram copy does not move object bytes yet (the copy's keys would point at missing bytes); delete its objects or keep the space where it is",
        space.name
    )))
}

/// The target's space, if it exists and holds a prefix of the source's
/// history; a different space of the same name is refused.
fn check_target(src: &dyn Reader, space: &SpaceRow, head: ChangeHead, to: &dyn Backend) -> Result<Option<SpaceId>> {
    let reader = to.reader()?;
    let Some(target) = reader.space(&space.name)? else { return Ok(None) };
    let at = reader.change_head(target.id)?;
    let name = &space.name;
    if at.position > head.position {
        return Err(mismatch(format!(
            "space {name} in the target is ahead of the source (log position {} > {}): it is not a copy of it",
            at.position, head.position
        )));
    }
    if at.position == 0 {
        // Only a copy's own first transaction creates a space without its
        // first entry, and it commits both together.
        if reader.collections(target.id)?.is_empty() {
            return Ok(Some(target.id));
        }
        return Err(mismatch(format!("space {name} in the target has collections but no change log")));
    }
    let same = src.changes(space.id, at.position - 1, 1)?.first().is_some_and(|e| e.hash == at.hash);
    if !same {
        return Err(mismatch(format!(
            "space {name} in the target holds a different history (its entry {} differs from the source's); \
             delete it there or copy to another target",
            at.position
        )));
    }
    Ok(Some(target.id))
}

fn mismatch(message: String) -> Error {
    Error::new(ErrorKind::Conflict, message)
}
