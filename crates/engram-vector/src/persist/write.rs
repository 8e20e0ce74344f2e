//! Serializing an index.

use super::io::HashWriter;
use super::{MAGIC, VERSION};
use crate::error::VectorError;
use crate::graph::NO_NODE;
use crate::index::VectorIndex;

impl VectorIndex {
    /// Writes the index in the checksummed file format (see the `persist` module docs).
    pub fn write_to(&self, w: &mut dyn std::io::Write) -> Result<(), VectorError> {
        let mut out = HashWriter::new(w);
        self.write_header(&mut out)?;
        out.f32s(&self.store.data)?;
        let keys: Vec<u32> = self.store.slot_key.iter().map(|k| k.unwrap_or(0)).collect();
        out.u32s(&keys)?;
        out.bytes(&self.graph.levels)?;
        out.u32s(&self.graph.links0)?;
        for rows in &self.graph.upper {
            out.u32s(rows)?;
        }
        out.u32s(&self.store.free)?;
        out.finish()
    }

    fn write_header(&self, out: &mut HashWriter<'_>) -> Result<(), VectorError> {
        // Every count below is bounded by limits far below u32::MAX (DIMS_MAX, M_MAX, NODES_MAX).
        let narrow = |n: usize| u32::try_from(n).expect("bounded by named limits");
        out.bytes(&MAGIC)?;
        out.u32(VERSION)?;
        out.u32(narrow(self.dims()))?;
        out.u32(self.metric.code())?;
        out.u32(narrow(self.params.m))?;
        out.u32(narrow(self.params.ef_construction))?;
        out.u64(self.params.seed)?;
        out.u64(self.rng.state)?;
        out.u32(narrow(self.store.slots()))?;
        out.u32(narrow(self.store.free.len()))?;
        out.u32(self.graph.entry.unwrap_or(NO_NODE))
    }
}
