//! The exact-scan kernel alone: dot products at 384 dimensions on one core,
//! in cache (2,000 vectors, 3 MB) and from memory (the whole MiniLM base).

use super::SearchArgs;
use super::data;
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::Instant;

fn scan(base: &[f32], d: usize, q: &[f32], passes: usize) -> f64 {
    let n = base.len() / d;
    let t = Instant::now();
    let mut acc = 0.0f32;
    for _ in 0..passes {
        for row in base.chunks_exact(d) {
            acc += engram_vector::kernel::dot(black_box(row), black_box(q));
        }
    }
    black_box(acc);
    (n * passes) as f64 / t.elapsed().as_secs_f64()
}

pub fn run(args: &SearchArgs) -> Value {
    let set = data::load(&args.data.join("minilm"));
    let d = set.d;
    let q = set.query(0).to_vec();
    let small = &set.base[..2_000 * d];
    scan(small, d, &q, 20); // warm up
    let in_cache = (0..3).map(|_| scan(small, d, &q, 500)).fold(0.0, f64::max);
    let in_memory = (0..3).map(|_| scan(&set.base, d, &q, 5)).fold(0.0, f64::max);
    eprintln!("exact kernel at {d} dims: {in_cache:.3e} vectors/s in cache, {in_memory:.3e} from memory");
    json!({"dims": d, "vectors_per_s": in_cache, "vectors_per_s_from_memory": in_memory})
}
