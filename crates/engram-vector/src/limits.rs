//! Named maxima: every size the index accepts from callers or from a file is bounded here.

/// Largest number of dimensions.
pub const DIMS_MAX: usize = 4096;
/// Largest `k` (hits per search).
pub const K_MAX: usize = 10_000;
/// Largest `ef` (beam width) for search.
pub const EF_MAX: usize = 10_000;
/// Largest `ef_construction`.
pub const EF_CONSTRUCTION_MAX: usize = 10_000;
/// Smallest `m` (with `m` = 1 the level multiplier 1/ln(m) is infinite).
pub const M_MIN: usize = 2;
/// Largest `m` (links per node on upper levels; level 0 holds twice as many).
pub const M_MAX: usize = 128;
/// Highest level a node may be assigned (levels above this are clamped; with m >= 2 they are vanishingly rare).
pub const LEVEL_MAX: usize = 24;
/// Most nodes (live plus free slots) in one index; internal ids are u32 and `u32::MAX` is reserved.
pub const NODES_MAX: usize = (u32::MAX - 1) as usize;
/// Most idle search scratch buffers kept for reuse (one per concurrently searching thread is enough).
pub const SCRATCH_POOL_MAX: usize = 64;
