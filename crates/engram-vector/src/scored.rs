//! A (distance, id) pair with a total order: by distance, then id, so every result order is deterministic.

use std::cmp::Ordering;

/// A node or key with its distance to the query.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scored {
    pub(crate) dist: f32,
    pub(crate) id: u32,
}

impl Scored {
    pub(crate) fn new(dist: f32, id: u32) -> Scored {
        Scored { dist, id }
    }
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    #[inline(always)]
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist.total_cmp(&other.dist).then(self.id.cmp(&other.id))
    }
}
