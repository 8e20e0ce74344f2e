//! Engram's vector index: HNSW approximate search, exact scans, deletes that erase vectors, and a
//! checksummed file format. It knows nothing of engine types: callers map their ids to u32 keys.
//!
//! Distances: cosine stores unit vectors and measures `1 - dot`; dot measures `-dot`; L2 measures the
//! squared Euclidean distance. Lower is always closer.

mod build;
mod error;
mod exact;
mod graph;
mod heuristic;
mod index;
pub mod kernel;
mod keyhash;
pub mod limits;
mod metric;
mod params;
mod persist;
mod remove;
mod rng;
mod scored;
mod scratch;
mod search;
mod store;

pub use error::VectorError;
pub use index::{Hit, VectorIndex};
pub use limits::{DIMS_MAX, EF_CONSTRUCTION_MAX, EF_MAX, K_MAX, LEVEL_MAX, M_MAX, M_MIN, NODES_MAX};
pub use metric::Metric;
pub use params::HnswParams;

#[cfg(test)]
mod tests {
    use super::VectorIndex;

    #[test]
    fn index_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<VectorIndex>();
    }
}
