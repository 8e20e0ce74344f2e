//! A Merkle tree over a space's change log in the style of RFC 9162
//! (Certificate Transparency 2.0): tree heads, inclusion proofs and
//! consistency proofs, and their verification.
//!
//! Leaf `i` is change-log position `i + 1`; its input is that entry's
//! chained hash, so the leaf commits to the entry and everything before it.
//! Hashes are SHA-256 with RFC 9162's domain separation: a leaf is
//! `SHA-256(0x00 ‖ input)`, an interior node `SHA-256(0x01 ‖ left ‖ right)`,
//! the empty tree `SHA-256("")`. A tree of `n` leaves splits at `k`, the
//! largest power of two below `n`.
//!
//! Computing a node needs the leaves under it. [`Tree`] takes them from a
//! [`LeafSource`] in aligned chunks of [`CHUNK_LEAVES`] and uses the
//! source's cached roots of complete, aligned power-of-two runs of chunks:
//! every such run is a node of every tree that contains it (the splits of
//! any node wider than a chunk fall on chunk boundaries, and a left child's
//! width is a power of two aligned to it), so a root or a proof reads at
//! most two chunks' leaves and O(log n) cached roots.

use crate::{Error, Result};
use std::cell::RefCell;
use std::collections::HashMap;

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Leaves per chunk whose root a [`LeafSource`] caches (a power of two).
pub const CHUNK_LEAVES: u64 = 256;

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The leaf hash of an input (a change-log entry's chained hash).
pub fn leaf_hash(input: &[u8]) -> Hash {
    sha256(&[&[0], input])
}

/// An interior node's hash.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[1], left, right])
}

/// The root of the empty tree.
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The root of `leaves` (leaf hashes), computed directly: the reference
/// the chunked [`Tree`] is tested against, and the root of one chunk.
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// Where a [`Tree`] gets leaves.
pub trait LeafSource {
    /// Leaf hashes `chunk · CHUNK_LEAVES ..` up to `CHUNK_LEAVES` of them
    /// (fewer only for the log's last, partial chunk).
    fn chunk_leaves(&self, chunk: u64) -> Result<Vec<Hash>>;
    /// The root of complete chunks `index · 2^level ..` (`2^level` of them;
    /// level 0 is one chunk), all within the tree.
    fn subtree_root(&self, level: u32, index: u64) -> Result<Hash>;
}

/// The tree of the first `size` leaves of a source.
pub struct Tree<'a> {
    source: &'a dyn LeafSource,
    size: u64,
    loaded: RefCell<HashMap<u64, Vec<Hash>>>,
}

impl<'a> Tree<'a> {
    pub fn new(source: &'a dyn LeafSource, size: u64) -> Self {
        Self { source, size, loaded: RefCell::default() }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree head: the root of all `size` leaves.
    pub fn root(&self) -> Result<Hash> {
        if self.size == 0 { Ok(empty_root()) } else { self.node(0, self.size) }
    }

    fn leaves(&self, chunk: u64, lo: u64, hi: u64) -> Result<Hash> {
        let mut loaded = self.loaded.borrow_mut();
        let leaves = match loaded.entry(chunk) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(self.source.chunk_leaves(chunk)?),
        };
        let base = chunk * CHUNK_LEAVES;
        let (a, b) = ((lo - base) as usize, (hi - base) as usize);
        if b > leaves.len() {
            return Err(Error::internal(format!("the log has fewer than {hi} entries for its Merkle tree")));
        }
        Ok(root_of(&leaves[a..b]))
    }

    /// Leaf `index`'s hash.
    pub fn leaf(&self, index: u64) -> Result<Hash> {
        if index >= self.size {
            return Err(Error::invalid(format!("leaf {index} is outside a tree of {} leaves", self.size)));
        }
        let chunk = index / CHUNK_LEAVES;
        self.leaves(chunk, index, index + 1)
    }

    /// The hash of node `[lo, hi)` (a node of this tree).
    fn node(&self, lo: u64, hi: u64) -> Result<Hash> {
        let (chunk, width) = (lo / CHUNK_LEAVES, hi - lo);
        if width >= CHUNK_LEAVES && width.is_power_of_two() && lo.is_multiple_of(width) {
            let level = (width / CHUNK_LEAVES).trailing_zeros();
            return self.source.subtree_root(level, lo / width);
        }
        if (hi - 1) / CHUNK_LEAVES == chunk {
            return self.leaves(chunk, lo, hi);
        }
        let k = split(hi - lo);
        Ok(node_hash(&self.node(lo, lo + k)?, &self.node(lo + k, hi)?))
    }

    /// The audit path of leaf `index` (RFC 9162 §2.1.3.1), leaf-side first.
    pub fn inclusion_proof(&self, index: u64) -> Result<Vec<Hash>> {
        if index >= self.size {
            return Err(Error::invalid(format!("leaf {index} is outside a tree of {} leaves", self.size)));
        }
        let mut out = Vec::new();
        self.path(index, 0, self.size, &mut out)?;
        Ok(out)
    }

    fn path(&self, m: u64, lo: u64, hi: u64, out: &mut Vec<Hash>) -> Result<()> {
        if hi - lo <= 1 {
            return Ok(());
        }
        let k = split(hi - lo);
        if m < lo + k {
            self.path(m, lo, lo + k, out)?;
            out.push(self.node(lo + k, hi)?);
        } else {
            self.path(m, lo + k, hi, out)?;
            out.push(self.node(lo, lo + k)?);
        }
        Ok(())
    }

    /// The proof that the tree of the first `old` leaves is a prefix of
    /// this one (RFC 9162 §2.1.4.1); empty when `old` is 0 or the size.
    pub fn consistency_proof(&self, old: u64) -> Result<Vec<Hash>> {
        if old > self.size {
            return Err(Error::invalid(format!("a tree of {old} leaves is not a prefix of one of {}", self.size)));
        }
        let mut out = Vec::new();
        if old > 0 && old < self.size {
            self.subproof(old, 0, self.size, true, &mut out)?;
        }
        Ok(out)
    }

    fn subproof(&self, m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<Hash>) -> Result<()> {
        let n = hi - lo;
        if m == n {
            if !whole {
                out.push(self.node(lo, hi)?);
            }
            return Ok(());
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, lo, lo + k, whole, out)?;
            out.push(self.node(lo + k, hi)?);
        } else {
            self.subproof(m - k, lo + k, hi, false, out)?;
            out.push(self.node(lo, lo + k)?);
        }
        Ok(())
    }
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2): that `leaf` is leaf
/// `index` of the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<()> {
    if index >= size {
        return Err(Error::invalid(format!("leaf {index} is outside a tree of {size} leaves")));
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(Error::invalid("the inclusion proof is longer than the tree is deep"));
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(Error::invalid("the inclusion proof is shorter than the tree is deep"));
    }
    if r != *root {
        return Err(Error::invalid("the inclusion proof does not lead to the tree's root"));
    }
    Ok(())
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2): that the tree of
/// `old_size` leaves with root `old_root` is a prefix of the tree of
/// `new_size` leaves with root `new_root`.
pub fn verify_consistency(
    old_size: u64,
    old_root: &Hash,
    new_size: u64,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid(format!("the consistency proof fails: {why}")));
    if old_size > new_size {
        return bad("the old tree is larger than the new one");
    }
    if old_size == new_size {
        return if proof.is_empty() && old_root == new_root { Ok(()) } else { bad("equal sizes, different roots") };
    }
    if old_size == 0 {
        return if proof.is_empty() { Ok(()) } else { bad("a proof from the empty tree must be empty") };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else { return bad("the proof is empty") };
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return bad("the proof is too long");
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return bad("the proof is too short");
    }
    if fr != *old_root {
        return bad("it does not lead to the old root");
    }
    if sr != *new_root {
        return bad("it does not lead to the new root");
    }
    Ok(())
}

/// Roots of complete, aligned power-of-two runs of chunks, built as chunk
/// roots are appended: `levels[k][j]` covers chunks `j·2^k .. (j+1)·2^k`.
#[derive(Debug, Default, Clone)]
pub struct ChunkLevels {
    levels: Vec<Vec<Hash>>,
}

impl ChunkLevels {
    /// Complete chunks held.
    pub fn chunks(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends the next chunk's root, completing the runs it ends.
    pub fn push(&mut self, root: Hash) {
        let mut node = root;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(node);
            let row = &self.levels[level];
            if row.len() % 2 == 1 {
                return;
            }
            node = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
    }

    /// A run's root (see [`LeafSource::subtree_root`]).
    pub fn get(&self, level: u32, index: u64) -> Result<Hash> {
        self.levels
            .get(level as usize)
            .and_then(|row| row.get(index as usize))
            .copied()
            .ok_or_else(|| Error::internal(format!("Merkle run {index} of level {level} is not cached")))
    }
}

/// A [`LeafSource`] over leaf hashes held in memory (tests, and a
/// verifier that has read a whole log).
pub struct MemoryLeaves(pub Vec<Hash>);

impl LeafSource for MemoryLeaves {
    fn chunk_leaves(&self, chunk: u64) -> Result<Vec<Hash>> {
        let lo = (chunk * CHUNK_LEAVES) as usize;
        let hi = (lo + CHUNK_LEAVES as usize).min(self.0.len());
        Ok(self.0.get(lo..hi).unwrap_or_default().to_vec())
    }

    fn subtree_root(&self, level: u32, index: u64) -> Result<Hash> {
        let width = (CHUNK_LEAVES << level) as usize;
        let lo = index as usize * width;
        Ok(root_of(self.0.get(lo..lo + width).unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&(i as u64).to_be_bytes())).collect()
    }

    #[test]
    fn chunked_roots_equal_the_direct_computation() {
        for n in [0usize, 1, 2, 3, 255, 256, 257, 511, 512, 513, 700, 1024, 1300] {
            let l = leaves(n);
            let src = MemoryLeaves(l.clone());
            assert_eq!(Tree::new(&src, n as u64).root().expect("root"), root_of(&l), "size {n}");
        }
        // RFC 9162's empty root and a one-leaf tree.
        assert_eq!(hex(&empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(root_of(&leaves(1)), leaves(1)[0]);
    }

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn chunk_levels_hold_every_aligned_run() {
        let l = leaves(CHUNK_LEAVES as usize * 11);
        let src = MemoryLeaves(l.clone());
        let mut levels = ChunkLevels::default();
        for c in 0..11 {
            levels.push(src.subtree_root(0, c).expect("chunk"));
        }
        assert_eq!(levels.chunks(), 11);
        for (level, count) in [(0u32, 11u64), (1, 5), (2, 2), (3, 1)] {
            for i in 0..count {
                assert_eq!(levels.get(level, i).expect("cached"), src.subtree_root(level, i).expect("direct"));
            }
            assert!(levels.get(level, count).is_err());
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_a_wrong_one_fails() {
        for n in [1u64, 2, 3, 5, 8, 13, 257, 600] {
            let l = leaves(n as usize);
            let src = MemoryLeaves(l.clone());
            let tree = Tree::new(&src, n);
            let root = tree.root().expect("root");
            let step = if n > 64 { 37 } else { 1 };
            for i in (0..n).step_by(step) {
                let proof = tree.inclusion_proof(i).expect("proof");
                verify_inclusion(&l[i as usize], i, n, &proof, &root).expect("verifies");
                let other = (i + 1) % n;
                if other != i {
                    assert!(verify_inclusion(&l[other as usize], i, n, &proof, &root).is_err());
                    assert!(verify_inclusion(&l[i as usize], other, n, &proof, &root).is_err());
                }
                if let Some(first) = proof.first() {
                    let mut bad = proof.clone();
                    bad[0] = leaf_hash(first);
                    assert!(verify_inclusion(&l[i as usize], i, n, &bad, &root).is_err());
                    assert!(verify_inclusion(&l[i as usize], i, n, &proof[1..], &root).is_err());
                }
            }
            assert!(tree.inclusion_proof(n).is_err());
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_a_rewritten_history_fails() {
        for n in [1u64, 2, 3, 7, 8, 9, 31, 300, 520] {
            let l = leaves(n as usize);
            let src = MemoryLeaves(l.clone());
            let tree = Tree::new(&src, n);
            let root = tree.root().expect("root");
            let step = if n > 64 { 23 } else { 1 };
            for m in (0..=n).step_by(step) {
                let old_root = root_of(&l[..m as usize]);
                let proof = tree.consistency_proof(m).expect("proof");
                verify_consistency(m, &old_root, n, &root, &proof).expect("consistent");
                if m > 0 && m < n {
                    // The same old size over a different history.
                    let mut forged = l[..m as usize].to_vec();
                    forged[0] = leaf_hash(b"rewritten");
                    assert!(verify_consistency(m, &root_of(&forged), n, &root, &proof).is_err());
                    assert!(verify_consistency(m, &old_root, n, &leaf_hash(b"x"), &proof).is_err());
                }
            }
        }
    }
}
