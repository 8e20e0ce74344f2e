//! Reading the prepared benchmark data (`bench/search/prepare.py`): raw
//! little-endian arrays with a `meta.json` per dataset.

use serde_json::Value;
use std::path::Path;

/// A vector dataset: base rows, queries, exact top-10 ground truth.
pub struct VectorSet {
    pub n: usize,
    pub d: usize,
    #[allow(dead_code)]
    pub metric: String,
    pub base: Vec<f32>,
    pub queries: Vec<f32>,
    pub gt: Vec<i32>,
}

impl VectorSet {
    pub fn row(&self, i: usize) -> &[f32] {
        &self.base[i * self.d..(i + 1) * self.d]
    }
    pub fn query(&self, i: usize) -> &[f32] {
        &self.queries[i * self.d..(i + 1) * self.d]
    }
    pub fn nq(&self) -> usize {
        self.queries.len() / self.d
    }
}

pub fn meta(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("meta.json")).expect("meta.json (run bench/search/prepare.py)");
    serde_json::from_str(&text).expect("meta.json is JSON")
}

pub fn f32s(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

pub fn i32s(path: &Path) -> Vec<i32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

pub fn u16s(path: &Path) -> Vec<u16> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()
}

pub fn load(dir: &Path) -> VectorSet {
    let m = meta(dir);
    let n = m["n"].as_u64().expect("n") as usize;
    let d = m["d"].as_u64().expect("d") as usize;
    let metric = m["metric"].as_str().expect("metric").to_owned();
    let base = f32s(&dir.join("base.f32"));
    assert_eq!(base.len(), n * d, "base.f32 size");
    VectorSet { n, d, metric, base, queries: f32s(&dir.join("queries.f32")), gt: i32s(&dir.join("gt.i32")) }
}

/// Lines of a JSON-lines file.
pub fn jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

/// recall@k of `got` against one ground-truth row (-1 pads).
pub fn recall(got: &[usize], truth: &[i32]) -> f64 {
    let truth: Vec<usize> = truth.iter().filter(|t| **t >= 0).map(|t| *t as usize).collect();
    if truth.is_empty() {
        return 1.0;
    }
    got.iter().filter(|g| truth.contains(g)).count() as f64 / truth.len() as f64
}
