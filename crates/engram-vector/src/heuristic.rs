//! The HNSW neighbour-selection heuristic: keep a candidate only if no kept neighbour is closer to it than
//! the base node is, which spreads links over directions instead of crowding one cluster.

use crate::index::VectorIndex;
use crate::metric::Eval;
use crate::scored::Scored;

impl VectorIndex {
    /// Selects up to `m` of `sorted` (ascending distance to the base node). Fewer than `m` candidates are
    /// all kept: pruning only pays when links are scarce.
    pub(crate) fn select_neighbors(&self, d: impl Eval, sorted: &[Scored], m: usize) -> Vec<u32> {
        if sorted.len() <= m {
            return sorted.iter().map(|s| s.id).collect();
        }
        let mut kept: Vec<u32> = Vec::with_capacity(m);
        for c in sorted {
            if kept.len() >= m {
                break;
            }
            if self.is_diverse(d, c, &kept) {
                kept.push(c.id);
            }
        }
        kept
    }

    /// True when every node in `kept` is at least as far from `c` as the base node is.
    pub(crate) fn is_diverse(&self, d: impl Eval, c: &Scored, kept: &[u32]) -> bool {
        let cv = self.store.vector(c.id);
        kept.iter().all(|&r| d.eval(cv, self.store.vector(r)) >= c.dist)
    }

    /// `links` with their distances to `base`, ascending.
    pub(crate) fn sorted_by_distance(&self, d: impl Eval, base: u32, links: impl Iterator<Item = u32>) -> Vec<Scored> {
        let bv = self.store.vector(base);
        let mut out: Vec<Scored> = links.map(|n| Scored::new(d.eval(bv, self.store.vector(n)), n)).collect();
        out.sort_unstable();
        out
    }
}
