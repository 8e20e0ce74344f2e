//! The Merkle tree of each space's change log, with the roots of complete
//! chunks of [`CHUNK_LEAVES`] entries and of their aligned power-of-two runs
//! cached in memory (about 96 bytes per chunk: 384 KiB per million
//! entries), so a root or proof reads at most two chunks of the log and
//! O(log n) cached roots. Chunks are read with their chain checked, so no root is ever
//! computed over a log whose links are broken.
//!
//! Invariant: an entry at a position never changes once written (a space's
//! id is never reused), so a cached chunk root stays true for the space's
//! life; deleting the space drops its cache.

use crate::space::Space;
use engram_core::backend::{Reader, SpaceId};
use engram_core::changelog::{ChangeEntry, ChangeHead, Digest, verify_run};
use engram_core::merkle::{CHUNK_LEAVES, ChunkLevels, Hash, LeafSource, Tree, leaf_hash, root_of};
use engram_core::{Error, Result};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// One space's cached chunks: the roots of chunks and their runs, each
/// chunk's last entry's hash, and the leaves after the last complete chunk.
#[derive(Default)]
struct Chunks {
    roots: ChunkLevels,
    ends: Vec<Digest>,
    tail: Vec<Hash>,
    /// The hash of the last entry read (the chain's link for the next).
    last: Digest,
}

impl Chunks {
    /// Entries cached (complete chunks and tail).
    fn len(&self) -> u64 {
        self.roots.chunks() * CHUNK_LEAVES + self.tail.len() as u64
    }

    /// Reads and chain-checks entries until `size` are cached.
    fn extend(&mut self, reader: &dyn Reader, space: SpaceId, size: u64) -> Result<()> {
        while self.len() < size {
            let after = self.len();
            let want = (size - after).min(CHUNK_LEAVES - self.tail.len() as u64);
            let run = reader.changes(space, after, want as usize)?;
            if run.is_empty() {
                return Err(Error::corrupted(format!("change {}: missing from the log", after + 1)));
            }
            let head = verify_run(ChangeHead { position: after, hash: self.last, hlc: 0 }, &run)?;
            self.last = head.hash;
            self.tail.extend(run.iter().map(|e| leaf_hash(&e.hash)));
            if self.tail.len() as u64 == CHUNK_LEAVES {
                self.roots.push(root_of(&self.tail));
                self.ends.push(self.last);
                self.tail.clear();
            }
        }
        Ok(())
    }
}

/// Every space's cached chunks.
#[derive(Default)]
pub(crate) struct TreeCache(Mutex<HashMap<SpaceId, Chunks>>);

impl TreeCache {
    /// Drops a deleted space's chunks.
    pub fn forget(&self, space: SpaceId) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).remove(&space);
    }
}

/// A signed checkpoint's contents: the tree of a log's first `tree_size`
/// entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHead {
    pub tree_size: u64,
    pub root: Hash,
    /// The chained hash of entry `tree_size` (zeros when empty).
    pub head_hash: Digest,
}

/// Leaves read from the log, over one space's cached chunk roots.
struct LogLeaves<'a> {
    reader: &'a dyn Reader,
    space: SpaceId,
    chunks: &'a Chunks,
}

impl LogLeaves<'_> {
    /// The entries of chunk `c`, their chain checked from the chunk before.
    fn entries(&self, c: u64) -> Result<Vec<ChangeEntry>> {
        let start = c * CHUNK_LEAVES;
        let run = self.reader.changes(self.space, start, CHUNK_LEAVES as usize)?;
        let prev = match c {
            0 => ChangeHead::default(),
            _ => {
                let hash = *self.chunks.ends.get(c as usize - 1).ok_or_else(|| Error::internal("chunk not cached"))?;
                ChangeHead { position: start, hash, hlc: 0 }
            }
        };
        verify_run(prev, &run)?;
        Ok(run)
    }
}

impl LeafSource for LogLeaves<'_> {
    fn chunk_leaves(&self, chunk: u64) -> Result<Vec<Hash>> {
        if chunk == self.chunks.roots.chunks() {
            return Ok(self.chunks.tail.clone());
        }
        Ok(self.entries(chunk)?.iter().map(|e| leaf_hash(&e.hash)).collect())
    }

    fn subtree_root(&self, level: u32, index: u64) -> Result<Hash> {
        self.chunks.roots.get(level, index)
    }
}

impl Space {
    /// Runs `f` on the tree of the first `size` entries (the whole log when
    /// `None`), after caching the roots of its complete chunks.
    fn with_tree<T>(&self, size: Option<u64>, f: impl FnOnce(&Tree<'_>, &LogLeaves<'_>) -> Result<T>) -> Result<T> {
        let reader = self.inner.backend.reader()?;
        let head = reader.change_head(self.id)?.position;
        let size = size.unwrap_or(head);
        if size > head {
            return Err(Error::invalid(format!("the log has {head} entries; a tree of {size} cannot be made")));
        }
        let mut cache = self.inner.audit.0.lock().unwrap_or_else(PoisonError::into_inner);
        let chunks = cache.entry(self.id).or_default();
        chunks.extend(&*reader, self.id, size)?;
        let leaves = LogLeaves { reader: &*reader, space: self.id, chunks };
        f(&Tree::new(&leaves, size), &leaves)
    }

    /// The tree head of the log's first `size` entries (all when `None`).
    pub fn audit_head(&self, size: Option<u64>) -> Result<TreeHead> {
        self.with_tree(size, head_of)
    }

    /// Entry `position` and its inclusion proof in the tree of the first
    /// `size` entries (all when `None`), with that tree's head.
    pub fn audit_inclusion(&self, position: u64, size: Option<u64>) -> Result<(ChangeEntry, TreeHead, Vec<Hash>)> {
        self.with_tree(size, |tree, leaves| {
            if position == 0 || position > tree.size() {
                return Err(Error::not_found(format!(
                    "change {position} is not among the tree's {} entries",
                    tree.size()
                )));
            }
            let entry = entry_at(leaves, position)?;
            let proof = tree.inclusion_proof(position - 1)?;
            // The proof came from chain-checked leaves: the entry read alone
            // must be the one they hold.
            if leaf_hash(&entry.hash) == leaf_of(tree, position)? {
                Ok((entry, head_of(tree, leaves)?, proof))
            } else {
                Err(Error::corrupted(format!("change {position}: its hash differs from the one the tree holds")))
            }
        })
    }

    /// The proof that the log's first `old` entries are a prefix of its
    /// first `new` (all when `None`), with the newer tree's head.
    pub fn audit_consistency(&self, old: u64, new: Option<u64>) -> Result<(TreeHead, Vec<Hash>)> {
        self.with_tree(new, |tree, leaves| Ok((head_of(tree, leaves)?, tree.consistency_proof(old)?)))
    }
}

/// The entry at `position`, read alone.
fn entry_at(leaves: &LogLeaves<'_>, position: u64) -> Result<ChangeEntry> {
    leaves
        .reader
        .changes(leaves.space, position - 1, 1)?
        .into_iter()
        .find(|e| e.position == position)
        .ok_or_else(|| Error::corrupted(format!("change {position}: missing from the log")))
}

/// The leaf hash the tree holds for `position`.
fn leaf_of(tree: &Tree<'_>, position: u64) -> Result<Hash> {
    tree.leaf(position - 1)
}

fn head_of(tree: &Tree<'_>, leaves: &LogLeaves<'_>) -> Result<TreeHead> {
    let size = tree.size();
    let head_hash = match size {
        0 => [0; 32],
        n => {
            let entry = entry_at(leaves, n)?;
            if leaf_hash(&entry.hash) != leaf_of(tree, n)? {
                return Err(Error::corrupted(format!("change {n}: its hash differs from the one the tree holds")));
            }
            entry.hash
        }
    };
    Ok(TreeHead { tree_size: size, root: tree.root()?, head_hash })
}
