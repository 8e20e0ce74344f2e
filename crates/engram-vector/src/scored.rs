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

/// A `Scored` packed into one integer with the same order: heaps compare it in one instruction.
pub(crate) type Packed = u64;

impl Scored {
    /// Packs into a u64 ordered exactly like `Scored::cmp` (the IEEE total order of the distance, then id).
    #[inline(always)]
    pub(crate) fn pack(self) -> Packed {
        let bits = self.dist.to_bits();
        // Negative floats order reversed: flip all their bits; positive ones: set the sign bit.
        let ordered = if bits >> 31 == 1 { !bits } else { bits | 0x8000_0000 };
        (u64::from(ordered) << 32) | u64::from(self.id)
    }

    /// Inverse of `pack`.
    #[inline(always)]
    pub(crate) fn unpack(p: Packed) -> Scored {
        let ordered = (p >> 32) as u32;
        let bits = if ordered >> 31 == 1 { ordered & 0x7fff_ffff } else { !ordered };
        Scored::new(f32::from_bits(bits), p as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::Scored;

    #[test]
    fn packing_keeps_the_order_and_round_trips() {
        let dists = [f32::NEG_INFINITY, -3.5, -1e-30, -0.0, 0.0, 1e-30, 0.25, 1.0, 7e20, f32::INFINITY];
        let all: Vec<Scored> = dists.iter().flat_map(|&d| [0u32, 1, u32::MAX].map(|id| Scored::new(d, id))).collect();
        for a in &all {
            let back = Scored::unpack(a.pack());
            assert_eq!(back.dist.to_bits(), a.dist.to_bits());
            assert_eq!(back.id, a.id);
            for b in &all {
                assert_eq!(a.cmp(b), a.pack().cmp(&b.pack()), "{a:?} vs {b:?}");
            }
        }
    }
}
