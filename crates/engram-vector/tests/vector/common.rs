//! Shared helpers: a seeded generator of clustered vectors, index builders and a recall measure.

use engram_vector::{HnswParams, Metric, VectorIndex};

/// Per-component noise around cluster centres: large enough that clusters overlap and neighbours are hard
/// to find (with little noise every search is trivially exact and a recall test could not fail).
const NOISE: f32 = 0.8;

/// xorshift64* generator: tests must be reproducible without extra dependencies.
pub struct TestRng(u64);

impl TestRng {
    pub fn new(seed: u64) -> TestRng {
        TestRng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = (self.unit() as f64).max(1e-12);
        let u2 = self.unit() as f64;
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }
}

/// `n` vectors of `dims` around `clusters` random centres (Gaussian noise of `NOISE` per component, centres in [-1, 1]).
pub fn clustered(seed: u64, n: usize, dims: usize, clusters: usize) -> Vec<Vec<f32>> {
    let mut rng = TestRng::new(seed);
    let centres: Vec<Vec<f32>> = (0..clusters).map(|_| (0..dims).map(|_| rng.unit() * 2.0 - 1.0).collect()).collect();
    (0..n)
        .map(|_| {
            let c = &centres[(rng.next_u64() % clusters as u64) as usize];
            c.iter().map(|x| x + NOISE * rng.normal()).collect()
        })
        .collect()
}

/// Base set and queries drawn from the same clusters.
pub fn dataset(seed: u64, n: usize, queries: usize, dims: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut all = clustered(seed, n + queries, dims, 40);
    let q = all.split_off(n);
    (all, q)
}

pub fn build(metric: Metric, data: &[Vec<f32>]) -> VectorIndex {
    let mut index = VectorIndex::new(data[0].len(), metric, HnswParams::default()).expect("valid params");
    for (key, v) in data.iter().enumerate() {
        index.upsert(key as u32, v).expect("valid vector");
    }
    index
}

/// Mean recall@k of HNSW search at `ef` against the exact scan over the same index.
pub fn recall(index: &VectorIndex, queries: &[Vec<f32>], k: usize, ef: usize) -> f64 {
    let mut found = 0usize;
    for q in queries {
        let truth: Vec<u32> = index.exact_filtered(q, k, None).expect("exact").iter().map(|h| h.key).collect();
        let got = index.search(q, k, ef, None).expect("search");
        found += got.iter().filter(|h| truth.contains(&h.key)).count();
    }
    found as f64 / (queries.len() * k) as f64
}

/// Reference distance computed in f64, for comparison with the index.
pub fn reference_distance(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    match metric {
        Metric::Cosine => {
            let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            1.0 - dot / (na * nb)
        }
        Metric::Dot => -dot,
        Metric::L2 => a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum(),
    }
}
