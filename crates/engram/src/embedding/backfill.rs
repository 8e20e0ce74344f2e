//! The embedding backfill: a background worker that embeds documents
//! written before a field's current or next generation existed, by
//! rewriting each (an empty patch at the version it read: the write path
//! computes what is missing, and a document changed meanwhile is simply
//! revisited). When a pass finds nothing left, a model switch's next
//! generation becomes current. Progress lives in the documents, so a
//! crash loses nothing: the next pass skips what is done.

use super::status::{DocState, doc_state, scan};
use crate::apply::Writer;
use crate::engine::Inner;
use crate::ops::{Expect, Op};
use crate::space::Space;
use engram_core::backend::CollectionSpec;
use engram_core::changelog::ChangeOp;
use engram_core::names::CollectionName;
use engram_core::{Error, ErrorKind, Result};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

/// The lease the backfill holds on shared storage (one per database).
const BACKFILL_LEASE: &str = "embed-backfill";
/// Documents rewritten per transaction (one embedding batch).
const BACKFILL_BATCH_DOCS: usize = 32;

/// With nothing written here since an idle pass, the next full look at
/// every space's specs waits this long (a spec changed by another server
/// of a shared database is noticed within it).
const IDLE_RESCAN: Duration = Duration::from_secs(30);

/// What the last pass saw.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// This process's write count when the last pass started.
    writes: Option<u64>,
    /// When the last pass looked at every space.
    at: Option<Instant>,
    /// Whether it found work (then the next pass runs regardless).
    busy: bool,
}

/// One pass over every space: fills in and promotes what it can. Skipped
/// while idle: no work found last time, nothing written here since, and
/// the last full look recent.
pub(crate) fn pass(inner: &Arc<Inner>) -> Result<()> {
    if inner.config.embedders.is_empty() {
        return Ok(());
    }
    let writes = inner.writes.load(Ordering::SeqCst);
    {
        let seen = inner.backfill_seen.lock().unwrap_or_else(PoisonError::into_inner);
        let recent = seen.at.is_some_and(|at| at.elapsed() < IDLE_RESCAN);
        if !seen.busy && seen.writes == Some(writes) && recent {
            return Ok(());
        }
    }
    if !inner.backend.try_lease(BACKFILL_LEASE)? {
        return Ok(());
    }
    let mut busy = false;
    let spaces = inner.backend.reader()?.spaces()?;
    for row in spaces.into_iter().filter(|r| !r.name.is_reserved()) {
        let colls = inner.backend.reader()?.collections(row.id)?;
        for c in colls.into_iter().filter(|c| needs_backfill(&c.spec)) {
            busy = true;
            let space = Space::new(inner.clone(), row.id, row.name.clone());
            if let Err(e) = backfill_collection(&space, c.name.as_str()) {
                tracing::warn!(space = %row.name, collection = %c.name, error = %e, "embedding backfill failed; will retry");
            }
        }
    }
    *inner.backfill_seen.lock().unwrap_or_else(PoisonError::into_inner) =
        Seen { writes: Some(writes), at: Some(Instant::now()), busy };
    Ok(())
}

fn needs_backfill(spec: &CollectionSpec) -> bool {
    spec.search.as_ref().is_some_and(|s| s.vectors.iter().any(|v| v.backfilling))
}

/// Runs one collection to completion (or to its first failure).
pub(crate) fn backfill_collection(space: &Space, collection: &str) -> Result<()> {
    let coll = space.inner.collection(space.id, collection)?;
    // Promotion is for the spec this pass worked for: any spec change
    // meanwhile (a cancelled or new switch, a field dropped and added
    // again) bumps the row's generation and leaves it to the next pass.
    let spec_generation = coll.row.generation;
    let Some(search) = &coll.search else { return Ok(()) };
    let fields: Vec<_> = search.vectors.iter().filter(|v| v.spec.backfilling && v.embed.is_some()).collect();
    if fields.is_empty() {
        return Ok(());
    }
    let mut stale = Vec::new();
    // Changed meanwhile: seen again next pass, no promotion now.
    let mut left_behind = 0u64;
    // Cannot be embedded as they are (a source that is not text, too
    // large, failing the schema): reported in status, and not waited for.
    let mut unembeddable = 0u64;
    scan(space, collection, |d| {
        let state = fields.iter().map(|v| doc_state(&d.body, &v.path, v.embed.as_ref().expect("embedded"))).fold(
            DocState::UpToDate,
            |acc, s| match (acc, s) {
                (DocState::Pending, _) | (_, DocState::Pending) => DocState::Pending,
                (DocState::Unembeddable, _) | (_, DocState::Unembeddable) => DocState::Unembeddable,
                _ => DocState::UpToDate,
            },
        );
        match state {
            DocState::Pending => stale.push((d.id.clone(), d.version)),
            // Left as it is: a rewrite would fail the same way.
            DocState::Unembeddable => unembeddable += 1,
            DocState::UpToDate => {}
        }
        if space.inner.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Unavailable, "the engine is closing"));
        }
        if stale.len() >= BACKFILL_BATCH_DOCS {
            let (missed, refused) = rewrite(space, collection, std::mem::take(&mut stale))?;
            left_behind += missed;
            unembeddable += refused;
        }
        Ok(())
    })?;
    let (missed, refused) = rewrite(space, collection, stale)?;
    left_behind += missed;
    unembeddable += refused;
    if unembeddable > 0 {
        tracing::warn!(%collection, unembeddable, "documents whose text cannot be embedded (rewrite them to fix); see the embeddings status");
    }
    if left_behind > 0 {
        tracing::info!(%collection, left_behind, "embedding backfill pass left documents changed meanwhile to the next pass");
        return Ok(());
    }
    let expected: Vec<(String, Option<u32>)> =
        fields.iter().map(|v| (v.spec.name.clone(), v.spec.next.as_ref().map(|n| n.generation))).collect();
    promote(space, collection, spec_generation, expected)
}

/// Rewrites documents so the write path embeds them; returns how many
/// were changed meanwhile (the next pass sees them again) and how many
/// cannot be embedded as they are.
fn rewrite(space: &Space, collection: &str, docs: Vec<(String, u64)>) -> Result<(u64, u64)> {
    if docs.is_empty() {
        return Ok((0, 0));
    }
    let patch = |(id, version): &(String, u64)| Op::Patch {
        collection: collection.to_owned(),
        id: id.clone(),
        patch: json!({}),
        expect: Expect::Version(*version),
        ttl_seconds: None,
    };
    match space.commit(docs.iter().map(patch).collect(), None) {
        Ok(_) => Ok((0, 0)),
        Err(e) if changed(&e) || refused(&e) => {
            let (mut missed, mut bad) = (0, 0);
            for d in &docs {
                match space.commit(vec![patch(d)], None) {
                    Ok(_) => {}
                    Err(e) if changed(&e) => missed += 1,
                    Err(e) if refused(&e) => bad += 1,
                    Err(e) => return Err(e),
                }
            }
            Ok((missed, bad))
        }
        Err(e) => Err(e),
    }
}

/// The document changed or went away since the pass read it.
fn changed(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::PreconditionFailed | ErrorKind::Conflict | ErrorKind::NotFound)
}

/// The document cannot be embedded as it is: its source is not text or
/// too large, it would grow too large, or it fails the current schema.
fn refused(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::InvalidInput | ErrorKind::TooLarge | ErrorKind::SchemaViolation)
}

/// Makes each field's next generation current and clears its backfill
/// flag, if the stored spec is still the one the pass worked for.
fn promote(space: &Space, collection: &str, spec_generation: u64, expected: Vec<(String, Option<u32>)>) -> Result<()> {
    let cname = CollectionName::new(collection)?;
    let promoted = space.write(move |w| promote_in(w, &cname, spec_generation, &expected))?;
    space.inner.forget_collection(space.id, collection);
    if promoted {
        tracing::info!(space = %space.name(), %collection, "embedding backfill complete");
    }
    Ok(())
}

fn promote_in(
    w: &mut Writer<'_>,
    name: &CollectionName,
    spec_generation: u64,
    expected: &[(String, Option<u32>)],
) -> Result<bool> {
    let Some(row) = w.tx.collection(w.space, name)? else { return Ok(false) };
    if row.generation != spec_generation {
        return Ok(false); // The spec moved on: a later pass handles it.
    }
    let mut spec = row.spec.clone();
    let Some(search) = spec.search.as_mut() else { return Ok(false) };
    let mut changed = false;
    for (field, next_generation) in expected {
        let Some(v) = search.vectors.iter_mut().find(|v| &v.name == field) else { continue };
        if !v.backfilling || v.next.as_ref().map(|n| n.generation) != *next_generation {
            continue; // The spec moved on: a later pass handles it.
        }
        if let Some(n) = v.next.take() {
            v.embed = Some(n.embed);
            v.model = n.model;
            v.dims = n.dims;
            v.generation = n.generation;
        }
        v.backfilling = false;
        changed = true;
    }
    if changed {
        w.replace_spec(&row, &spec, ChangeOp::CollectionUpdate)?;
    }
    Ok(changed)
}

impl Space {
    /// Runs the embedding backfill of `collection` now, on this thread
    /// (the background worker does the same every second), and returns
    /// what is left.
    pub fn backfill_embeddings(&self, collection: &str) -> Result<super::EmbeddingStatus> {
        backfill_collection(self, collection)?;
        self.embedding_status(collection)
    }
}
