//! The full-text query language: any string → `TextQuery::parse`; never panics, and an accepted query runs
//! against a small index and yields snippets whose highlight ranges lie on character boundaries of the snippet.

#![no_main]

use engram_text::{TextIndex, TextQuery, snippet};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const FIELDS: [&str; 2] = ["title", "body"];
const TEXTS: [&str; 4] = [
    "Rust storage engine with durable writes",
    "Ünïcödé text, émojis 🦀 and long wooooooooooooooooooooooooooooooooooooooooooords",
    "a phrase a phrase a phrase",
    "",
];

fn index() -> &'static TextIndex {
    static INDEX: OnceLock<TextIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut ix = TextIndex::new(&FIELDS).expect("fields");
        for (i, t) in TEXTS.iter().enumerate() {
            ix.upsert(i as u32, &[(0, t), (1, TEXTS[(i + 1) % TEXTS.len()])]).expect("upsert");
        }
        ix
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(q) = TextQuery::parse(text, &FIELDS) else { return };
    let hits = index().search(&q, 10, &[2.0, 1.0], None);
    assert!(hits.len() <= 10);
    assert!(hits.windows(2).all(|w| w[0].1 >= w[1].1), "hits are sorted by score");
    for t in TEXTS {
        let s = snippet(t, &q, 40);
        for (a, b) in s.highlights {
            assert!(a < b && b <= s.text.len(), "highlight {a}..{b} outside the snippet");
            assert!(s.text.is_char_boundary(a) && s.text.is_char_boundary(b), "highlight splits a character");
        }
    }
});
