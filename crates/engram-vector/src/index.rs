//! `VectorIndex`: construction, accessors, input validation and the public mutation entry points.

use std::borrow::Cow;

use crate::error::VectorError;
use crate::graph::Graph;
use crate::limits::{DIMS_MAX, NODES_MAX};
use crate::metric::{Distance, Metric};
use crate::params::HnswParams;
use crate::rng::Rng;
use crate::scratch::ScratchPool;
use crate::store::Store;

/// One search hit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The caller's key.
    pub key: u32,
    /// Distance to the query under the index's metric; lower is closer.
    pub distance: f32,
}

/// An HNSW index of f32 vectors under caller-chosen u32 keys, with exact scans, deletes and persistence.
///
/// Searches take `&self` and may run concurrently; mutations take `&mut self`.
pub struct VectorIndex {
    pub(crate) metric: Metric,
    pub(crate) params: HnswParams,
    pub(crate) dist: Distance,
    pub(crate) store: Store,
    pub(crate) graph: Graph,
    pub(crate) rng: Rng,
    pub(crate) pool: ScratchPool,
}

impl std::fmt::Debug for VectorIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorIndex")
            .field("dims", &self.dims())
            .field("metric", &self.metric)
            .field("params", &self.params)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl VectorIndex {
    /// An empty index. `dims` must be in `1..=DIMS_MAX` and `params` within their limits.
    pub fn new(dims: usize, metric: Metric, params: HnswParams) -> Result<Self, VectorError> {
        check_dims(dims)?;
        params.validate()?;
        Ok(VectorIndex {
            metric,
            params,
            dist: Distance::new(metric),
            store: Store::new(dims),
            graph: Graph::new(params.m),
            rng: Rng::new(params.seed),
            pool: ScratchPool::default(),
        })
    }

    /// Dimensions of every vector.
    pub fn dims(&self) -> usize {
        self.store.dims
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The construction parameters.
    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Number of stored vectors.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// True when no vector is stored.
    pub fn is_empty(&self) -> bool {
        self.store.len() == 0
    }

    /// True when `key` has a vector.
    pub fn contains(&self, key: u32) -> bool {
        self.store.node_of(key).is_some()
    }

    /// The stored vector of `key` (normalized to unit length under the cosine metric).
    pub fn get(&self, key: u32) -> Option<&[f32]> {
        self.store.node_of(key).map(|node| self.store.vector(node))
    }

    /// Every stored key, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = u32> + '_ {
        self.store.key_slot.keys().copied()
    }

    /// Checks that `v` could be stored or used as a query: right dimensions, finite, and non-zero for cosine.
    pub fn validate(&self, v: &[f32]) -> Result<(), VectorError> {
        if v.len() != self.dims() {
            return Err(VectorError::WrongDimensions { expected: self.dims(), got: v.len() });
        }
        if let Some(index) = v.iter().position(|x| !x.is_finite()) {
            return Err(VectorError::NotFinite { index });
        }
        if self.metric == Metric::Cosine && v.iter().all(|&x| x == 0.0) {
            return Err(VectorError::ZeroVector);
        }
        Ok(())
    }

    /// Validates `v` and returns it in stored form (unit length for cosine).
    pub(crate) fn prepare<'v>(&self, v: &'v [f32]) -> Result<Cow<'v, [f32]>, VectorError> {
        self.validate(v)?;
        if self.metric != Metric::Cosine {
            return Ok(Cow::Borrowed(v));
        }
        // f64 so that neither huge nor tiny finite components overflow or underflow the norm.
        let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
        Ok(Cow::Owned(v.iter().map(|&x| (f64::from(x) / norm) as f32).collect()))
    }

    /// Inserts `v` under `key`, replacing (remove, then insert) any vector the key had.
    pub fn upsert(&mut self, key: u32, v: &[f32]) -> Result<(), VectorError> {
        let v = self.prepare(v)?;
        if !self.remove(key) && self.store.free.is_empty() && self.store.slots() >= NODES_MAX {
            return Err(VectorError::TooLarge { what: "nodes", got: self.store.slots() + 1, max: NODES_MAX });
        }
        self.insert_node(key, &v);
        Ok(())
    }
}

/// Checks the dimension count against `1..=DIMS_MAX`.
pub(crate) fn check_dims(dims: usize) -> Result<(), VectorError> {
    if dims == 0 {
        return Err(VectorError::InvalidParameter { name: "dims", value: 0, min: 1 });
    }
    if dims > DIMS_MAX {
        return Err(VectorError::TooLarge { what: "dims", got: dims, max: DIMS_MAX });
    }
    Ok(())
}
