//! Loading an index: header checks bound every size before the arrays are read, then the checksum, then
//! the structural checks in `check`.

use super::io::HashReader;
use super::{Header, MAGIC, VERSION};
use crate::error::VectorError;
use crate::graph::{Graph, NO_NODE};
use crate::index::{VectorIndex, check_dims};
use crate::limits::{LEVEL_MAX, NODES_MAX};
use crate::metric::{Distance, Metric};
use crate::params::HnswParams;
use crate::rng::Rng;
use crate::scratch::ScratchPool;
use crate::store::Store;

/// Every failure to parse a header field is corruption, whatever its finer cause.
fn corrupt(what: impl std::fmt::Display) -> VectorError {
    VectorError::Corrupt(what.to_string())
}

impl VectorIndex {
    /// Reads an index written by `write_to`. Truncated, altered or malformed input yields `Corrupt`.
    pub fn read_from(r: &mut dyn std::io::Read) -> Result<Self, VectorError> {
        let mut input = HashReader::new(r);
        let header = read_header(&mut input)?;
        let (dims, metric, params) = check_header(&header)?;
        let mut index = VectorIndex {
            metric,
            params,
            dist: Distance::new(metric),
            store: Store::new(dims),
            graph: Graph::new(params.m),
            rng: Rng::new(header.rng_state),
            pool: ScratchPool::default(),
        };
        index.read_arrays(&mut input, &header)?;
        input.finish()?;
        index.check_structure()?;
        Ok(index)
    }

    /// Reads the arrays. Sizes come from the header but each array grows only as its bytes arrive.
    fn read_arrays(&mut self, input: &mut HashReader<'_>, h: &Header) -> Result<(), VectorError> {
        let slots = h.slots as usize;
        input.f32s(slots * self.dims(), &mut self.store.data)?;
        let mut keys = Vec::new();
        input.u32s(slots, &mut keys)?;
        input.u8s(slots, &mut self.graph.levels)?;
        if self.graph.levels.iter().any(|&l| l as usize > LEVEL_MAX) {
            return Err(corrupt("node level above LEVEL_MAX"));
        }
        input.u32s(slots * (self.graph.cap0 + 1), &mut self.graph.links0)?;
        let row = self.graph.cap_upper + 1;
        for i in 0..slots {
            let mut rows = Vec::new();
            input.u32s(self.graph.levels[i] as usize * row, &mut rows)?;
            self.graph.upper.push(rows);
        }
        input.u32s(h.free as usize, &mut self.store.free)?;
        self.store.slot_key = keys.into_iter().map(Some).collect();
        self.graph.entry = (h.entry != NO_NODE).then_some(h.entry);
        Ok(())
    }
}

fn read_header(input: &mut HashReader<'_>) -> Result<Header, VectorError> {
    let mut magic = [0u8; 8];
    input.bytes(&mut magic)?;
    if magic != MAGIC {
        return Err(corrupt("not a vector index (bad magic)"));
    }
    let version = input.u32()?;
    if version != VERSION {
        return Err(corrupt(format!("unsupported format version {version}")));
    }
    Ok(Header {
        dims: input.u32()?,
        metric: input.u32()?,
        m: input.u32()?,
        ef_construction: input.u32()?,
        seed: input.u64()?,
        rng_state: input.u64()?,
        slots: input.u32()?,
        free: input.u32()?,
        entry: input.u32()?,
    })
}

/// Validates the header's fields against the named limits.
fn check_header(h: &Header) -> Result<(usize, Metric, HnswParams), VectorError> {
    let dims = h.dims as usize;
    check_dims(dims).map_err(corrupt)?;
    let metric = Metric::from_code(h.metric).ok_or_else(|| corrupt("unknown metric"))?;
    let params = HnswParams { m: h.m as usize, ef_construction: h.ef_construction as usize, seed: h.seed };
    params.validate().map_err(corrupt)?;
    if h.slots as usize > NODES_MAX || h.free > h.slots {
        return Err(corrupt("slot counts out of range"));
    }
    if h.entry != NO_NODE && h.entry >= h.slots {
        return Err(corrupt("entry point out of range"));
    }
    Ok((dims, metric, params))
}
