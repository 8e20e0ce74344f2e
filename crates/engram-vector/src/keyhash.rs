//! A fast hasher for u32 keys: keys come from the engine, not from adversaries, so SipHash's cost buys nothing.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Map from caller key to internal node.
pub(crate) type KeyMap = HashMap<u32, u32, BuildHasherDefault<KeyHasher>>;

/// Multiplicative (Fibonacci) hashing of one integer.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        // Mixing in the previous state keeps multi-field hashing sound; the odd constant spreads low bits high.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
