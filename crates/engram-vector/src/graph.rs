//! HNSW link storage: a flat level-0 array with fixed capacity per node, and per-node arrays for upper levels.

/// Marker for "no entry point" in the file format.
pub(crate) const NO_NODE: u32 = u32::MAX;

/// The layered graph. Invariants: every link points to a live node other than its owner; a node's list at
/// level `l` exists only for `l <= levels[node]`; counts never exceed the level's capacity.
pub(crate) struct Graph {
    /// Capacity of upper-level lists (`m`).
    pub(crate) cap_upper: usize,
    /// Capacity of level-0 lists (`2m`).
    pub(crate) cap0: usize,
    /// Level-0 rows of `cap0 + 1` words: the count, then the links.
    pub(crate) links0: Vec<u32>,
    /// Per node, rows of `cap_upper + 1` words for levels 1..=level: the count, then the links.
    pub(crate) upper: Vec<Vec<u32>>,
    /// Top level of each node (meaningless for free slots).
    pub(crate) levels: Vec<u8>,
    /// Entry point: a live node of the highest level, if any node is live.
    pub(crate) entry: Option<u32>,
}

impl Graph {
    pub(crate) fn new(m: usize) -> Graph {
        Graph { cap_upper: m, cap0: 2 * m, links0: Vec::new(), upper: Vec::new(), levels: Vec::new(), entry: None }
    }

    /// Level of the entry point (0 when empty).
    pub(crate) fn top_level(&self) -> usize {
        self.entry.map_or(0, |e| self.levels[e as usize] as usize)
    }

    pub(crate) fn capacity(&self, level: usize) -> usize {
        if level == 0 { self.cap0 } else { self.cap_upper }
    }

    /// The row (count word first) of `node` at `level`.
    fn row(&self, node: u32, level: usize) -> &[u32] {
        if level == 0 {
            let start = node as usize * (self.cap0 + 1);
            &self.links0[start..start + self.cap0 + 1]
        } else {
            let start = (level - 1) * (self.cap_upper + 1);
            &self.upper[node as usize][start..start + self.cap_upper + 1]
        }
    }

    fn row_mut(&mut self, node: u32, level: usize) -> &mut [u32] {
        if level == 0 {
            let start = node as usize * (self.cap0 + 1);
            &mut self.links0[start..start + self.cap0 + 1]
        } else {
            let start = (level - 1) * (self.cap_upper + 1);
            &mut self.upper[node as usize][start..start + self.cap_upper + 1]
        }
    }

    /// The links of `node` at `level`.
    #[inline(always)]
    pub(crate) fn neighbors(&self, node: u32, level: usize) -> &[u32] {
        let row = self.row(node, level);
        &row[1..1 + row[0] as usize]
    }

    /// Hints the CPU to load the links of `node` at `level` (level 0 only; upper levels are few and small).
    #[inline(always)]
    pub(crate) fn prefetch_links(&self, node: u32, level: usize) {
        if level == 0 {
            let start = node as usize * (self.cap0 + 1);
            if let Some(row) = self.links0.get(start..start + self.cap0 + 1) {
                // The first line holds the count and the first links; measured no better when prefetching all.
                crate::kernel::prefetch(row);
            }
        }
    }

    /// Replaces the links of `node` at `level` (at most the level's capacity).
    pub(crate) fn set_neighbors(&mut self, node: u32, level: usize, links: &[u32]) {
        let row = self.row_mut(node, level);
        debug_assert!(links.len() < row.len());
        row[0] = links.len() as u32;
        row[1..1 + links.len()].copy_from_slice(links);
    }

    /// Appends a link if there is room; returns false when the list is full.
    pub(crate) fn try_push(&mut self, node: u32, level: usize, link: u32) -> bool {
        let row = self.row_mut(node, level);
        let count = row[0] as usize;
        if count + 1 >= row.len() {
            return false;
        }
        row[1 + count] = link;
        row[0] += 1;
        true
    }

    /// Prepares storage for `node` (a new or a reused slot) with top level `level` and no links.
    pub(crate) fn place(&mut self, node: u32, level: usize) {
        let n = node as usize;
        if n == self.levels.len() {
            self.levels.push(0);
            self.upper.push(Vec::new());
            self.links0.resize(self.links0.len() + self.cap0 + 1, 0);
        }
        self.levels[n] = level as u8;
        self.upper[n] = vec![0; level * (self.cap_upper + 1)];
        self.set_neighbors(node, 0, &[]);
    }

    /// Drops every link of `node` (its slot is being freed).
    pub(crate) fn clear(&mut self, node: u32) {
        self.set_neighbors(node, 0, &[]);
        self.upper[node as usize] = Vec::new();
        self.levels[node as usize] = 0;
    }
}
