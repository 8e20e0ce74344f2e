//! The file format: a header, raw little-endian arrays, and a BLAKE3 checksum of everything before it.
//!
//! Layout (all integers little-endian):
//! `MAGIC`, version u32, dims u32, metric u32, m u32, ef_construction u32, seed u64, rng state u64,
//! slots u32, free count u32, entry u32 (`u32::MAX` = none); then the arrays
//! vectors (slots × dims f32), slot keys (slots u32, 0 for free slots), levels (slots u8),
//! level-0 links (slots × (2m + 1) u32: count then links), upper links (for each slot in order,
//! level × (m + 1) u32), the free list (free count u32); then the 32-byte checksum.

mod check;
mod io;
mod read;
mod write;

/// First bytes of every index file.
pub(crate) const MAGIC: [u8; 8] = *b"ENGRMVEC";
/// Current format version; readers reject others.
pub(crate) const VERSION: u32 = 1;

/// The fixed-size header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub(crate) dims: u32,
    pub(crate) metric: u32,
    pub(crate) m: u32,
    pub(crate) ef_construction: u32,
    pub(crate) seed: u64,
    pub(crate) rng_state: u64,
    pub(crate) slots: u32,
    pub(crate) free: u32,
    pub(crate) entry: u32,
}
