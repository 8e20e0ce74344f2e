//! A scoring cursor over sorted document keys: either a live posting list or precomputed scores.

use std::borrow::Cow;

use crate::bm25::Bm25;
use crate::postings::PostingList;

/// Past the last key; larger than any `u32` key.
pub(crate) const END: u64 = u64::MAX;

/// Where a leaf's scores come from.
enum Scores<'a> {
    /// Computed on demand from the list's tf and field length.
    Live { list: &'a PostingList, bm25: Bm25 },
    /// Parallel to the keys (phrases, prefixes, multi-field required clauses).
    Fixed(Vec<f32>),
}

/// A cursor over ascending keys with a score at each and an upper bound on all of them.
pub(crate) struct Leaf<'a> {
    keys: Cow<'a, [u32]>,
    at: usize,
    upper_bound: f32,
    scores: Scores<'a>,
}

impl<'a> Leaf<'a> {
    /// A leaf scoring `list` with `bm25`.
    pub(crate) fn live(list: &'a PostingList, bm25: Bm25) -> Leaf<'a> {
        let upper_bound = bm25.upper_bound(list.max_tf(), list.min_len());
        Leaf { keys: Cow::Borrowed(list.keys()), at: 0, upper_bound, scores: Scores::Live { list, bm25 } }
    }

    /// A leaf over precomputed `(key, score)` pairs, ascending by key with distinct keys.
    pub(crate) fn fixed(pairs: Vec<(u32, f32)>) -> Leaf<'static> {
        let upper_bound = pairs.iter().map(|p| p.1).fold(0.0, f32::max);
        let (keys, scores) = pairs.into_iter().unzip();
        Leaf { keys: Cow::Owned(keys), at: 0, upper_bound, scores: Scores::Fixed(scores) }
    }

    /// Number of keys (the cost of walking it).
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn upper_bound(&self) -> f32 {
        self.upper_bound
    }

    /// The current key, or [`END`].
    #[inline]
    pub(crate) fn doc(&self) -> u64 {
        self.keys.get(self.at).map_or(END, |&k| u64::from(k))
    }

    /// The score at the current key; only valid while `doc() != END`.
    #[inline]
    pub(crate) fn score(&self) -> f32 {
        match &self.scores {
            Scores::Live { list, bm25 } => bm25.score(list.tf(self.at), list.field_len(self.at)),
            Scores::Fixed(scores) => scores[self.at],
        }
    }

    #[inline]
    pub(crate) fn next(&mut self) {
        self.at += 1;
    }

    /// Moves to the first key `>= target` by galloping then bisecting, so skipping is logarithmic.
    pub(crate) fn advance_to(&mut self, target: u64) {
        let keys = &self.keys[..];
        if self.doc() >= target {
            return;
        }
        let mut step = 1;
        let mut lo = self.at;
        while lo + step < keys.len() && u64::from(keys[lo + step]) < target {
            lo += step;
            step *= 2;
        }
        let hi = (lo + step + 1).min(keys.len());
        self.at = lo + keys[lo..hi].partition_point(|&k| u64::from(k) < target);
    }

    /// Drains the leaf into `(key, score)` pairs.
    pub(crate) fn drain_into(mut self, out: &mut Vec<(u32, f32)>) {
        while self.doc() != END {
            out.push((self.keys[self.at], self.score()));
            self.next();
        }
    }
}

/// Merges leaves into one fixed leaf whose score at a key is the sum over the leaves holding it.
pub(crate) fn merge(leaves: Vec<Leaf<'_>>) -> Leaf<'static> {
    let mut pairs = Vec::with_capacity(leaves.iter().map(Leaf::len).sum());
    leaves.into_iter().for_each(|leaf| leaf.drain_into(&mut pairs));
    // Stable sort keeps leaf order within a key, so sums are added in a deterministic order.
    pairs.sort_by_key(|p| p.0);
    pairs.dedup_by(|later, first| {
        let same = later.0 == first.0;
        if same {
            first.1 += later.1;
        }
        same
    });
    Leaf::fixed(pairs)
}
