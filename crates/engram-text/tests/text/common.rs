//! Shared helpers: a seeded RNG and small index builders.

use engram_text::{TextIndex, TextQuery};

/// SplitMix64: tiny, seeded, good enough for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// A one-field index ("body") over `(key, text)` pairs.
pub fn body_index(docs: &[(u32, &str)]) -> TextIndex {
    let mut index = TextIndex::new(&["body"]).unwrap();
    for &(key, text) in docs {
        index.upsert(key, &[(0, text)]).unwrap();
    }
    index
}

/// Keys of the top 10 for `q`.
pub fn keys(index: &TextIndex, q: &str) -> Vec<u32> {
    search(index, q).into_iter().map(|(k, _)| k).collect()
}

pub fn search(index: &TextIndex, q: &str) -> Vec<(u32, f32)> {
    let query = index.parse_query(q).unwrap();
    index.search(&query, 10, &[], None)
}

pub fn parse(q: &str, fields: &[&str]) -> TextQuery {
    TextQuery::parse(q, fields).unwrap()
}
