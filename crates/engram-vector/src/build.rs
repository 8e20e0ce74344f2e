//! Insertion: sample a level, descend greedily, beam-search each level, link by the heuristic both ways.

use crate::index::VectorIndex;
use crate::limits::LEVEL_MAX;
use crate::metric::{Eval, with_static};
use crate::scored::Scored;

impl VectorIndex {
    /// Inserts the prepared vector `v` under the absent `key`.
    pub(crate) fn insert_node(&mut self, key: u32, v: &[f32]) {
        let level = self.sample_level();
        let node = self.store.insert(key, v);
        self.graph.place(node, level);
        let Some(entry) = self.graph.entry else {
            self.graph.entry = Some(node);
            return;
        };
        with_static!(self.dist, d => self.link_node(d, node, v, entry, level));
    }

    /// Links the placed `node` at every level up to its own, descending from `entry`.
    fn link_node<D: Eval>(&mut self, d: D, node: u32, v: &[f32], entry: u32, level: usize) {
        let top = self.graph.top_level();
        let mut cur = Scored::new(d.eval(v, self.store.vector(entry)), entry);
        for l in (level + 1..=top).rev() {
            cur = self.greedy(d, v, cur, l);
        }
        for l in (0..=level.min(top)).rev() {
            cur = self.link_level(d, node, v, cur, l);
        }
        if level > top {
            self.graph.entry = Some(node);
        }
    }

    /// Links `node` at `level` starting the beam from `cur`; returns the closest node found (next entry).
    fn link_level<D: Eval>(&mut self, d: D, node: u32, v: &[f32], cur: Scored, level: usize) -> Scored {
        let ef = self.params.ef_construction.max(self.params.m);
        let mut scratch = self.pool.take();
        self.beam(d, v, cur, ef, level, &mut scratch, |_| true);
        let mut found: Vec<Scored> = scratch.results.drain().map(Scored::unpack).collect();
        self.pool.give(scratch);
        found.sort_unstable();
        let chosen = self.select_neighbors(d, &found, self.params.m);
        self.graph.set_neighbors(node, level, &chosen);
        for &n in &chosen {
            self.add_link(d, n, level, node);
        }
        // The beam always holds at least its entry, so `found` is never empty.
        found.first().copied().unwrap_or(cur)
    }

    /// Adds `link` to `owner`'s list at `level`, re-selecting by the heuristic when the list is full.
    pub(crate) fn add_link<D: Eval>(&mut self, d: D, owner: u32, level: usize, link: u32) {
        if self.graph.try_push(owner, level, link) {
            return;
        }
        let links = self.graph.neighbors(owner, level).iter().copied().chain(std::iter::once(link));
        let sorted = self.sorted_by_distance(d, owner, links.collect::<Vec<_>>().into_iter());
        let kept = self.select_neighbors(d, &sorted, self.graph.capacity(level));
        self.graph.set_neighbors(owner, level, &kept);
    }

    /// Draws a level with P(level >= l) = m^-l, as in the HNSW paper (multiplier 1/ln m).
    fn sample_level(&mut self) -> usize {
        let mult = 1.0 / (self.params.m as f64).ln();
        let level = (-self.rng.next_unit().ln() * mult) as usize;
        level.min(LEVEL_MAX)
    }
}
