//! Exact k-nearest-neighbour scans: a straight loop over candidates into a bounded max-heap.

use std::collections::BinaryHeap;

use crate::error::VectorError;
use crate::index::{Hit, VectorIndex};
use crate::metric::Eval;
use crate::scored::Scored;
use crate::search::check_k;

/// The `k` smallest (distance, key) pairs seen so far. Invariant: the heap's top is the worst kept pair.
struct TopK {
    k: usize,
    heap: BinaryHeap<Scored>,
}

impl TopK {
    fn new(k: usize) -> TopK {
        TopK { k, heap: BinaryHeap::with_capacity(k + 1) }
    }

    #[inline(always)]
    fn offer(&mut self, dist: f32, key: u32) {
        let s = Scored::new(dist, key);
        if self.heap.len() < self.k {
            self.heap.push(s);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && s < *worst
        {
            *worst = s;
        }
    }

    fn into_hits(self) -> Vec<Hit> {
        self.heap.into_sorted_vec().into_iter().map(|s| Hit { key: s.id, distance: s.dist }).collect()
    }
}

impl VectorIndex {
    /// Exact k nearest among `keys` (unknown keys are skipped; a key given twice may appear twice), ascending
    /// by distance, ties by key.
    pub fn exact(&self, query: &[f32], k: usize, keys: &mut dyn Iterator<Item = u32>) -> Result<Vec<Hit>, VectorError> {
        check_k(k)?;
        let q = self.prepare(query)?;
        let mut top = TopK::new(k);
        if k == 0 {
            return Ok(Vec::new());
        }
        for key in keys {
            if let Some(node) = self.store.node_of(key) {
                top.offer(self.dist.eval(&q, self.store.vector(node)), key);
            }
        }
        Ok(top.into_hits())
    }

    /// Exact k nearest among all stored vectors whose key passes `filter` (all, when None).
    pub fn exact_filtered(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&dyn Fn(u32) -> bool>,
    ) -> Result<Vec<Hit>, VectorError> {
        check_k(k)?;
        let q = self.prepare(query)?;
        let mut top = TopK::new(k);
        if k == 0 {
            return Ok(Vec::new());
        }
        let dims = self.dims();
        let slots = self.store.data.chunks_exact(dims).zip(&self.store.slot_key);
        for (v, key) in slots {
            let Some(key) = *key else { continue };
            if filter.is_none_or(|f| f(key)) {
                top.offer(self.dist.eval(&q, v), key);
            }
        }
        Ok(top.into_hits())
    }
}
