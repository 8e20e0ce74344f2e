//! A fast seeded hasher for the index's hash maps (term strings and `u32` keys).
//!
//! std's SipHash costs more than the rest of a dictionary lookup for short terms. This hasher mixes 8-byte
//! words with a multiply and finishes with a folded 128-bit multiply. Its seed comes from std's
//! `RandomState`, so colliding inputs cannot be precomputed offline; it is not a cryptographic defence
//! against an attacker who can observe timings.

use std::hash::{BuildHasher, Hasher, RandomState};

/// Odd 64-bit constant with well-spread bits (from the golden ratio).
const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// Builds [`FastHasher`]s with a per-map random seed.
#[derive(Debug, Clone)]
pub(crate) struct SeededState {
    seed: u64,
}

impl Default for SeededState {
    fn default() -> Self {
        SeededState { seed: RandomState::new().hash_one(0x5EED_u64) }
    }
}

impl BuildHasher for SeededState {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher { state: self.seed }
    }
}

/// Multiply-rotate hasher; see the module docs.
pub(crate) struct FastHasher {
    state: u64,
}

impl FastHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.state = (self.state ^ word).wrapping_mul(MULTIPLIER).rotate_left(29);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // The length goes in first so that zero padding of the last word cannot alias a longer input.
        self.mix(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.mix(u64::from_le_bytes(chunk.try_into().expect("chunks_exact yields 8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(last));
        }
    }

    #[inline]
    fn write_u8(&mut self, v: u8) {
        self.mix(u64::from(v));
    }

    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.mix(u64::from(v));
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }

    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.mix(v as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let product = u128::from(self.state) * u128::from(MULTIPLIER);
        (product as u64) ^ ((product >> 64) as u64)
    }
}

/// A `HashMap` using [`SeededState`].
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, SeededState>;
