//! Deletion: unlink a node at every level, repair the lists that pointed to it, move the entry point, and
//! zero and free its slot.

use crate::index::VectorIndex;

impl VectorIndex {
    /// Removes `key`'s vector; returns false if the key had none.
    ///
    /// Each node that linked to it is reconnected to candidates among the removed node's neighbours. The
    /// vector's storage is zeroed and its slot reused by later inserts. Cost: a scan of all links per level
    /// of the removed node, O(nodes * m).
    pub fn remove(&mut self, key: u32) -> bool {
        let Some(node) = self.store.node_of(key) else { return false };
        let top = self.graph.levels[node as usize] as usize;
        for level in 0..=top {
            self.unlink(node, level);
        }
        if self.graph.entry == Some(node) {
            self.graph.entry = self.replacement_entry(node);
        }
        self.graph.clear(node);
        self.store.release(node);
        true
    }

    /// Removes every link to `node` at `level`, repairing each list that held one.
    fn unlink(&mut self, node: u32, level: usize) {
        let orphans: Vec<u32> = self.graph.neighbors(node, level).to_vec();
        for owner in self.linking_to(node, level) {
            self.repair(owner, level, node, &orphans);
        }
    }

    /// Nodes whose list at `level` contains `node`.
    fn linking_to(&self, node: u32, level: usize) -> Vec<u32> {
        let g = &self.graph;
        if level == 0 {
            let rows = g.links0.chunks_exact(g.cap0 + 1);
            let hit = |row: &[u32]| row[1..1 + row[0] as usize].contains(&node);
            return rows.enumerate().filter(|(_, row)| hit(row)).map(|(i, _)| i as u32).collect();
        }
        (0..g.levels.len() as u32)
            .filter(|&i| g.upper[i as usize].len() >= level * (g.cap_upper + 1))
            .filter(|&i| g.neighbors(i, level).contains(&node))
            .collect()
    }

    /// Drops `removed` from `owner`'s list and refills the gap from `orphans` (the removed node's links):
    /// candidates closest to `owner` first, kept if the heuristic finds them diverse; if none is, the closest
    /// one is kept anyway so the neighbourhood stays connected through the hole.
    fn repair(&mut self, owner: u32, level: usize, removed: u32, orphans: &[u32]) {
        let mut kept: Vec<u32> = self.graph.neighbors(owner, level).iter().copied().filter(|&n| n != removed).collect();
        let fresh = orphans.iter().copied().filter(|&c| c != owner && c != removed && !kept.contains(&c));
        let candidates = self.sorted_by_distance(self.dist, owner, fresh.collect::<Vec<_>>().into_iter());
        let cap = self.graph.capacity(level);
        let before = kept.len();
        for c in &candidates {
            if kept.len() >= cap {
                break;
            }
            if self.is_diverse(self.dist, c, &kept) {
                kept.push(c.id);
            }
        }
        if kept.len() == before && kept.len() < cap {
            kept.extend(candidates.first().map(|c| c.id));
        }
        self.graph.set_neighbors(owner, level, &kept);
    }

    /// A live node of the highest remaining level, `node` excluded; None if `node` was the last one.
    fn replacement_entry(&self, node: u32) -> Option<u32> {
        let top = self.graph.levels[node as usize] as usize;
        // Any neighbour at the top level has that level too, since `node` was the (highest) entry point.
        if let Some(&n) = self.graph.neighbors(node, top).first() {
            return Some(n);
        }
        let live = self.store.slot_key.iter().enumerate().filter(|(i, k)| k.is_some() && *i != node as usize);
        // Highest level wins; among equals the lowest slot, for determinism.
        live.map(|(i, _)| i as u32).max_by_key(|&i| (self.graph.levels[i as usize], std::cmp::Reverse(i)))
    }
}

#[cfg(test)]
mod tests {
    use crate::{HnswParams, Metric, VectorIndex};

    fn filled(n: u32) -> VectorIndex {
        let mut index = VectorIndex::new(4, Metric::L2, HnswParams::default()).expect("index");
        for key in 0..n {
            let x = key as f32;
            index.upsert(key, &[x, x * 0.5, 1.0, -x]).expect("upsert");
        }
        index
    }

    #[test]
    fn removed_storage_is_zeroed_and_reused() {
        let mut index = filled(100);
        let node = index.store.node_of(42).expect("present");
        assert!(index.remove(42));
        assert!(index.store.vector(node).iter().all(|&x| x == 0.0), "vector must physically leave");
        assert!(index.store.free.contains(&node));
        assert!((0..index.store.slots() as u32).all(|n| !index.graph.neighbors(n, 0).contains(&node)));
        index.upsert(1000, &[9.0, 9.0, 9.0, 9.0]).expect("upsert");
        assert_eq!(index.store.node_of(1000), Some(node), "freed slot is reused");
        assert_eq!(index.store.slots(), 100);
    }

    #[test]
    fn removing_the_entry_point_moves_it() {
        let mut index = filled(300);
        for _ in 0..50 {
            let entry = index.graph.entry.expect("non-empty");
            let key = index.store.key_of(entry);
            assert!(index.remove(key));
            let new_entry = index.graph.entry.expect("still non-empty");
            let top = (0..index.store.slots())
                .filter(|&i| index.store.slot_key[i].is_some())
                .map(|i| index.graph.levels[i])
                .max();
            assert_eq!(Some(index.graph.levels[new_entry as usize]), top);
        }
    }
}
