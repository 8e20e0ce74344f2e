//! HNSW construction parameters and their validation.

use crate::error::VectorError;
use crate::limits::{EF_CONSTRUCTION_MAX, M_MAX, M_MIN};

/// HNSW construction parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node on upper levels; level 0 keeps up to `2 * m`. Range `M_MIN..=M_MAX`.
    pub m: usize,
    /// Beam width while inserting. Range `1..=EF_CONSTRUCTION_MAX`; values below `m` act as `m`.
    pub ef_construction: usize,
    /// Seed of the level generator: same seed and insertion order give the same graph.
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams { m: 16, ef_construction: 200, seed: 0x5eed }
    }
}

impl HnswParams {
    /// Checks every field against its limits.
    pub fn validate(&self) -> Result<(), VectorError> {
        if self.m < M_MIN {
            return Err(VectorError::InvalidParameter { name: "m", value: self.m, min: M_MIN });
        }
        if self.m > M_MAX {
            return Err(VectorError::TooLarge { what: "m", got: self.m, max: M_MAX });
        }
        if self.ef_construction == 0 {
            return Err(VectorError::InvalidParameter { name: "ef_construction", value: 0, min: 1 });
        }
        if self.ef_construction > EF_CONSTRUCTION_MAX {
            let got = self.ef_construction;
            return Err(VectorError::TooLarge { what: "ef_construction", got, max: EF_CONSTRUCTION_MAX });
        }
        Ok(())
    }
}
