//! Search index files: arbitrary bytes → `VectorIndex::read_from` / `TextIndex::read_from` (the first byte picks
//! which); never panics and never allocates without bound, and an accepted file answers a search.

#![no_main]

use engram_text::{TextIndex, TextQuery};
use engram_vector::VectorIndex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let mut r = rest;
    if which % 2 == 0 {
        if let Ok(ix) = VectorIndex::read_from(&mut r) {
            let q = vec![0.5f32; ix.dims()];
            let hits = ix.search(&q, 5, 16, None).expect("a loaded index searches");
            assert!(hits.len() <= 5);
            let exact = ix.exact_filtered(&q, 5, None).expect("a loaded index scans");
            assert!(exact.len() <= 5);
        }
    } else if let Ok(ix) = TextIndex::read_from(&mut r) {
        let fields: Vec<&str> = ix.fields().iter().map(String::as_str).collect();
        if let Ok(q) = TextQuery::parse("a b*", &fields) {
            assert!(ix.search(&q, 5, &[], None).len() <= 5);
        }
    }
});
