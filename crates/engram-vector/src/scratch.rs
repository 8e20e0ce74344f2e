//! Reusable per-search memory: a visited set cleared by bumping an epoch, and the two beam-search heaps.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Mutex;

use crate::limits::SCRATCH_POOL_MAX;
use crate::scored::Packed;

/// Visited marks. Invariant: node `i` is visited in this search iff `marks[i] == epoch`.
pub(crate) struct Visited {
    marks: Vec<u16>,
    epoch: u16,
}

impl Visited {
    /// Starts a new search over `nodes` slots. Clearing costs O(1) except once every 65535 searches.
    fn reset(&mut self, nodes: usize) {
        if self.marks.len() < nodes {
            self.marks.resize(nodes, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    /// Marks `node`; returns true if it was not yet visited.
    #[inline(always)]
    pub(crate) fn insert(&mut self, node: u32) -> bool {
        let mark = &mut self.marks[node as usize];
        let fresh = *mark != self.epoch;
        *mark = self.epoch;
        fresh
    }
}

/// Memory for one search.
pub(crate) struct Scratch {
    pub(crate) visited: Visited,
    /// Nodes to expand, closest first (packed `Scored`).
    pub(crate) candidates: BinaryHeap<Reverse<Packed>>,
    /// Best nodes found, worst on top (bounded by ef; packed `Scored`).
    pub(crate) results: BinaryHeap<Packed>,
    /// Unvisited neighbours of the node being expanded.
    pub(crate) fresh: Vec<u32>,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            visited: Visited { marks: Vec::new(), epoch: 0 },
            candidates: BinaryHeap::new(),
            results: BinaryHeap::new(),
            fresh: Vec::new(),
        }
    }

    /// Makes the scratch ready for a search over `nodes` slots.
    pub(crate) fn reset(&mut self, nodes: usize) {
        self.visited.reset(nodes);
        self.candidates.clear();
        self.results.clear();
    }
}

/// Idle scratch buffers shared by concurrent searches (search takes `&self`).
#[derive(Default)]
pub(crate) struct ScratchPool {
    idle: Mutex<Vec<Scratch>>,
}

impl ScratchPool {
    pub(crate) fn take(&self) -> Scratch {
        // A poisoned lock only means another search panicked; scratch is reset before use, so reuse is safe.
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.pop().unwrap_or_else(Scratch::new)
    }

    pub(crate) fn give(&self, scratch: Scratch) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < SCRATCH_POOL_MAX {
            idle.push(scratch);
        }
    }
}
