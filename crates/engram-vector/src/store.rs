//! Vector storage: one contiguous f32 array of node slots, the key <-> node maps and the free-slot list.

use crate::keyhash::KeyMap;

/// Slots of vectors. Invariant: slot `i` occupies `data[i*dims..(i+1)*dims]`; a free slot is all zeros,
/// has `slot_key[i] == None` and appears exactly once in `free`.
pub(crate) struct Store {
    pub(crate) dims: usize,
    pub(crate) data: Vec<f32>,
    pub(crate) slot_key: Vec<Option<u32>>,
    pub(crate) key_slot: KeyMap,
    pub(crate) free: Vec<u32>,
}

impl Store {
    pub(crate) fn new(dims: usize) -> Store {
        Store { dims, data: Vec::new(), slot_key: Vec::new(), key_slot: KeyMap::default(), free: Vec::new() }
    }

    /// Number of slots, live and free.
    pub(crate) fn slots(&self) -> usize {
        self.slot_key.len()
    }

    /// Number of live vectors.
    pub(crate) fn len(&self) -> usize {
        self.key_slot.len()
    }

    #[inline(always)]
    pub(crate) fn vector(&self, node: u32) -> &[f32] {
        let start = node as usize * self.dims;
        &self.data[start..start + self.dims]
    }

    pub(crate) fn node_of(&self, key: u32) -> Option<u32> {
        self.key_slot.get(&key).copied()
    }

    /// The key stored in `node`. Only live nodes are reachable in the graph, so a miss is a bug.
    #[inline(always)]
    pub(crate) fn key_of(&self, node: u32) -> u32 {
        self.slot_key[node as usize].expect("graph nodes are live slots")
    }

    /// Stores `v` under `key` (which must be absent) in a free slot or a new one; returns the node.
    pub(crate) fn insert(&mut self, key: u32, v: &[f32]) -> u32 {
        debug_assert!(!self.key_slot.contains_key(&key));
        let node = match self.free.pop() {
            Some(node) => {
                let start = node as usize * self.dims;
                self.data[start..start + self.dims].copy_from_slice(v);
                self.slot_key[node as usize] = Some(key);
                node
            }
            None => {
                let node = u32::try_from(self.slot_key.len()).expect("callers check NODES_MAX before inserting");
                self.data.extend_from_slice(v);
                self.slot_key.push(Some(key));
                node
            }
        };
        self.key_slot.insert(key, node);
        node
    }

    /// Frees `node`: zeroes its vector (a removed vector must physically leave memory) and lists it as free.
    pub(crate) fn release(&mut self, node: u32) {
        let start = node as usize * self.dims;
        self.data[start..start + self.dims].fill(0.0);
        if let Some(key) = self.slot_key[node as usize].take() {
            self.key_slot.remove(&key);
        }
        self.free.push(node);
    }
}
