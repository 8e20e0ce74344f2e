//! Structural checks of a loaded index, so that even a well-checksummed but malformed file cannot make
//! later operations panic or return vectors of freed slots.

use crate::error::VectorError;
use crate::index::VectorIndex;

fn corrupt(what: &str) -> VectorError {
    VectorError::Corrupt(what.to_string())
}

impl VectorIndex {
    /// Establishes the store and graph invariants, building the key map on the way.
    pub(crate) fn check_structure(&mut self) -> Result<(), VectorError> {
        self.mark_free_slots()?;
        self.build_key_map()?;
        self.check_vectors()?;
        for node in 0..self.store.slots() as u32 {
            self.check_links(node)?;
        }
        self.check_entry()
    }

    /// Clears the keys of free slots; each listed slot must exist and be listed once.
    fn mark_free_slots(&mut self) -> Result<(), VectorError> {
        for &node in &self.store.free {
            let slot = self.store.slot_key.get_mut(node as usize).ok_or_else(|| corrupt("free slot out of range"))?;
            if slot.take().is_none() {
                return Err(corrupt("slot listed twice as free"));
            }
        }
        Ok(())
    }

    fn build_key_map(&mut self) -> Result<(), VectorError> {
        for (node, key) in self.store.slot_key.iter().enumerate() {
            if let Some(key) = *key
                && self.store.key_slot.insert(key, node as u32).is_some()
            {
                return Err(corrupt("duplicate key"));
            }
        }
        Ok(())
    }

    /// Live vectors are finite; free slots are zero.
    fn check_vectors(&self) -> Result<(), VectorError> {
        let dims = self.dims();
        for (v, key) in self.store.data.chunks_exact(dims).zip(&self.store.slot_key) {
            let ok = if key.is_some() { v.iter().all(|x| x.is_finite()) } else { v.iter().all(|&x| x == 0.0) };
            if !ok {
                return Err(corrupt("vector data invalid for its slot"));
            }
        }
        Ok(())
    }

    /// Every list of `node` fits its capacity and links only to other live nodes that reach that level.
    fn check_links(&self, node: u32) -> Result<(), VectorError> {
        let live = self.store.slot_key[node as usize].is_some();
        let level = self.graph.levels[node as usize] as usize;
        if !live && (level != 0 || self.graph.links0[node as usize * (self.graph.cap0 + 1)] != 0) {
            return Err(corrupt("free slot has links"));
        }
        for l in 0..=level {
            let row = self.raw_row(node, l);
            let count = row[0] as usize;
            if count >= row.len() {
                return Err(corrupt("link count above capacity"));
            }
            for &n in &row[1..1 + count] {
                let target_ok = (n as usize) < self.store.slots()
                    && n != node
                    && self.store.slot_key[n as usize].is_some()
                    && self.graph.levels[n as usize] as usize >= l;
                if !target_ok {
                    return Err(corrupt("invalid link"));
                }
            }
        }
        Ok(())
    }

    /// The row (count first) of `node` at `level`, without trusting the count.
    fn raw_row(&self, node: u32, level: usize) -> &[u32] {
        let g = &self.graph;
        if level == 0 {
            let start = node as usize * (g.cap0 + 1);
            &g.links0[start..start + g.cap0 + 1]
        } else {
            let start = (level - 1) * (g.cap_upper + 1);
            &g.upper[node as usize][start..start + g.cap_upper + 1]
        }
    }

    /// The entry point exists iff some node is live, and is a live node of the highest level.
    fn check_entry(&self) -> Result<(), VectorError> {
        let live = self.store.slot_key.iter().zip(&self.graph.levels).filter(|(k, _)| k.is_some());
        let top = live.map(|(_, &l)| l).max();
        let ok = match (self.graph.entry, top) {
            (None, None) => true,
            (Some(e), Some(top)) => self.store.slot_key[e as usize].is_some() && self.graph.levels[e as usize] == top,
            _ => false,
        };
        if ok { Ok(()) } else { Err(corrupt("invalid entry point")) }
    }
}
