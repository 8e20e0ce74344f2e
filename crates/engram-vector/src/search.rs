//! Graph traversal: greedy descent on upper levels, beam search on one level, and the public `search`.

use std::cmp::Reverse;

use crate::error::VectorError;
use crate::index::{Hit, VectorIndex};
use crate::kernel::prefetch;
use crate::limits::{EF_MAX, K_MAX};
use crate::metric::{Eval, with_static};
use crate::scored::Scored;
use crate::scratch::{Scratch, Visited};

impl VectorIndex {
    /// Approximate k nearest neighbours by HNSW with beam width `max(ef, k)`.
    ///
    /// `filter` is applied to keys as results are collected: nodes it rejects are still traversed but never
    /// returned. Returns up to `k` hits ascending by distance, ties by key.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&dyn Fn(u32) -> bool>,
    ) -> Result<Vec<Hit>, VectorError> {
        check_k(k)?;
        if ef > EF_MAX {
            return Err(VectorError::TooLarge { what: "ef", got: ef, max: EF_MAX });
        }
        let q = self.prepare(query)?;
        let Some(entry) = self.graph.entry else { return Ok(Vec::new()) };
        if k == 0 {
            return Ok(Vec::new());
        }
        Ok(with_static!(self.dist, d => self.search_with(d, &q, entry, k, ef.max(k), filter)))
    }

    /// `search` after validation, with the distance fixed at compile time.
    fn search_with<D: Eval>(
        &self,
        d: D,
        q: &[f32],
        entry: u32,
        k: usize,
        ef: usize,
        filter: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Hit> {
        let mut cur = Scored::new(d.eval(q, self.store.vector(entry)), entry);
        for level in (1..=self.graph.top_level()).rev() {
            cur = self.greedy(d, q, cur, level);
        }
        let mut scratch = self.pool.take();
        match filter {
            None => self.beam(d, q, cur, ef, 0, &mut scratch, |_| true),
            Some(f) => self.beam(d, q, cur, ef, 0, &mut scratch, |node| f(self.store.key_of(node))),
        }
        let hits = self.hits_from(&mut scratch, k);
        self.pool.give(scratch);
        hits
    }

    /// Moves from `cur` to ever closer neighbours at `level` until none is closer.
    pub(crate) fn greedy<D: Eval>(&self, dist: D, q: &[f32], mut cur: Scored, level: usize) -> Scored {
        loop {
            let mut moved = false;
            for &n in self.graph.neighbors(cur.id, level) {
                let d = dist.eval(q, self.store.vector(n));
                if d < cur.dist {
                    cur = Scored::new(d, n);
                    moved = true;
                }
            }
            if !moved {
                return cur;
            }
        }
    }

    /// Beam search at `level` from `entry`; leaves the best `ef` accepted nodes in `scratch.results`.
    ///
    /// Rejected nodes are expanded like the rest, so a filter never disconnects the graph; while fewer than
    /// `ef` nodes are accepted the search keeps going, which is why selective filters belong to exact scans.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn beam<D: Eval>(
        &self,
        dist: D,
        q: &[f32],
        entry: Scored,
        ef: usize,
        level: usize,
        scratch: &mut Scratch,
        accept: impl Fn(u32) -> bool,
    ) {
        scratch.reset(self.store.slots());
        let Scratch { visited, candidates, results, fresh } = scratch;
        visited.insert(entry.id);
        candidates.push(Reverse(entry.pack()));
        if accept(entry.id) {
            results.push(entry.pack());
        }
        // Distance a node must beat to enter the results: infinite until `ef` nodes were accepted.
        let mut bound = if results.len() >= ef { entry.dist } else { f32::INFINITY };
        while let Some(Reverse(c)) = candidates.pop() {
            let c = Scored::unpack(c);
            if c.dist > bound {
                break;
            }
            // The next candidate's links are likely a cache miss: start loading them during this expansion.
            if let Some(&Reverse(next)) = candidates.peek() {
                self.graph.prefetch_links(next as u32, level);
            }
            self.unvisited(c.id, level, visited, fresh);
            for (i, &n) in fresh.iter().enumerate() {
                // The vectors are mostly cache misses: start loading the next one while this one is measured.
                if let Some(&next) = fresh.get(i + 1) {
                    prefetch(self.store.vector(next));
                }
                let d = dist.eval(q, self.store.vector(n));
                if d >= bound {
                    continue;
                }
                let s = Scored::new(d, n).pack();
                candidates.push(Reverse(s));
                if accept(n) {
                    results.push(s);
                    if results.len() > ef {
                        results.pop();
                    }
                    if results.len() >= ef {
                        bound = results.peek().map_or(f32::INFINITY, |&w| Scored::unpack(w).dist);
                    }
                }
            }
        }
    }

    /// Collects the not yet visited neighbours of `node` at `level` into `fresh`, marking them visited.
    #[inline(always)]
    fn unvisited(&self, node: u32, level: usize, visited: &mut Visited, fresh: &mut Vec<u32>) {
        fresh.clear();
        for &n in self.graph.neighbors(node, level) {
            if visited.insert(n) {
                fresh.push(n);
            }
        }
        if let Some(&first) = fresh.first() {
            prefetch(self.store.vector(first));
        }
    }

    /// The best `k` results as hits, ascending by distance, ties by key.
    fn hits_from(&self, scratch: &mut Scratch, k: usize) -> Vec<Hit> {
        let mut hits: Vec<Scored> =
            scratch.results.drain().map(Scored::unpack).map(|s| Scored::new(s.dist, self.store.key_of(s.id))).collect();
        hits.sort_unstable();
        hits.truncate(k);
        hits.into_iter().map(|s| Hit { key: s.id, distance: s.dist }).collect()
    }
}

/// Checks `k` against `K_MAX`.
pub(crate) fn check_k(k: usize) -> Result<(), VectorError> {
    if k > K_MAX {
        return Err(VectorError::TooLarge { what: "k", got: k, max: K_MAX });
    }
    Ok(())
}
