//! The documents both sides write and the ids both sides read, generated
//! once per run from a seed so every side sees exactly the same input.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// One document to write: its id and body.
pub type Doc = (String, Value);

/// A small JSON document (about 65 bytes serialized).
pub fn doc(n: usize) -> Value {
    json!({"i": n, "name": format!("user-{n}"), "tags": ["a", "b"], "score": (n % 10_000) as f64 / 100.0})
}

/// The id of document `n`.
pub fn doc_id(n: usize) -> String {
    format!("doc-{n}")
}

/// Documents `0..count` in a shuffled order (a random-key primary-key
/// insert, the realistic case), the same order on both sides.
pub fn shuffled_docs(count: usize, seed: u64) -> Vec<Doc> {
    let mut order: Vec<usize> = (0..count).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    order.into_iter().map(|n| (doc_id(n), doc(n))).collect()
}

/// `count` uniformly random document numbers below `docs` (with repeats).
pub fn random_gets(count: usize, docs: usize, seed: u64) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(1));
    (0..count).map(|_| rng.random_range(0..docs)).collect()
}

/// Distinct documents for single writes, tagged so several workloads can
/// share one store without clashing.
pub fn tagged_docs(tag: &str, count: usize) -> Vec<Doc> {
    (0..count).map(|n| (format!("{tag}-{n}"), doc(n))).collect()
}

/// Splits `docs` into transactions of at most `size` documents.
pub fn chunks(docs: &[Doc], size: usize) -> Vec<Vec<Doc>> {
    docs.chunks(size).map(<[Doc]>::to_vec).collect()
}

/// The checksum both sides compute over what they read: the sum of the
/// documents' `i` fields, so a side that skips work cannot match.
pub fn checksum_of(body: &Value) -> u64 {
    body.get("i").and_then(Value::as_u64).unwrap_or(u64::MAX / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_small_and_the_order_is_a_permutation() {
        let len = serde_json::to_string(&doc(123_456)).expect("serializes").len();
        assert!((50..=90).contains(&len), "{len} bytes");
        let docs = shuffled_docs(1000, 7);
        let mut seen: Vec<usize> = docs.iter().map(|(_, b)| checksum_of(b) as usize).collect();
        assert_ne!(seen[..10], (0..10).collect::<Vec<_>>()[..], "shuffled");
        seen.sort_unstable();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        assert_eq!(shuffled_docs(1000, 7), docs, "deterministic");
    }

    #[test]
    fn gets_stay_in_range_and_chunks_cover_everything() {
        assert!(random_gets(500, 10, 1).iter().all(|&n| n < 10));
        let docs = tagged_docs("t", 25);
        let c = chunks(&docs, 10);
        assert_eq!(c.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
    }
}
