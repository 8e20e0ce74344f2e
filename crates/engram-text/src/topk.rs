//! Bounded top-k collection: a heap whose root is the worst kept result.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A result; ordered so that the heap's maximum is the worst (lowest score, then highest key).
#[derive(Debug, Clone, Copy)]
struct Entry {
    score: f32,
    key: u32,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        other.score.total_cmp(&self.score).then(self.key.cmp(&other.key))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

/// The best `k` results seen so far: by score descending, ties by key ascending.
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Entry>,
}

impl TopK {
    /// Requires `k >= 1`.
    pub(crate) fn new(k: usize) -> TopK {
        TopK { k, heap: BinaryHeap::with_capacity(k + 1) }
    }

    /// A score a candidate must exceed to enter: the worst kept score once full, else minus infinity.
    ///
    /// Candidates arrive by ascending key, so one merely equal to the worst kept never wins its tie.
    pub(crate) fn threshold(&self) -> f32 {
        match self.heap.peek() {
            Some(worst) if self.heap.len() >= self.k => worst.score,
            _ => f32::NEG_INFINITY,
        }
    }

    /// Whether `(key, score)` would be kept.
    pub(crate) fn admits(&self, key: u32, score: f32) -> bool {
        match self.heap.peek() {
            Some(worst) if self.heap.len() >= self.k => Entry { score, key } < *worst,
            _ => true,
        }
    }

    /// Keeps `(key, score)` if it ranks among the best `k`.
    pub(crate) fn push(&mut self, key: u32, score: f32) {
        if self.admits(key, score) {
            self.heap.push(Entry { score, key });
            if self.heap.len() > self.k {
                self.heap.pop();
            }
        }
    }

    /// The kept results, best first.
    pub(crate) fn into_sorted(self) -> Vec<(u32, f32)> {
        self.heap.into_sorted_vec().into_iter().map(|e| (e.key, e.score)).collect()
    }
}
