//! Write/read roundtrip and rejection of damaged files.

use engram_text::{TextError, TextIndex};

use crate::common::Rng;

fn sample() -> TextIndex {
    let mut index = TextIndex::new(&["title", "body"]).unwrap();
    let mut rng = Rng(7);
    let words = ["alpha", "beta", "gamma", "delta", "épsilon", "zeta", "eta", "theta"];
    for key in 0..60u32 {
        let text =
            |rng: &mut Rng, n: usize| (0..n).map(|_| words[rng.below(words.len())]).collect::<Vec<_>>().join(" ");
        let (title, body) = (text(&mut rng, 2), text(&mut rng, 12));
        index.upsert(key * 3, &[(0, &title), (1, &body)]).unwrap();
    }
    index.remove(9);
    index
}

fn bytes(index: &TextIndex) -> Vec<u8> {
    let mut out = Vec::new();
    index.write_to(&mut out).unwrap();
    out
}

#[test]
fn roundtrip_gives_identical_results_and_bytes() {
    let index = sample();
    let data = bytes(&index);
    let loaded = TextIndex::read_from(&mut data.as_slice()).unwrap();
    assert_eq!(loaded.fields(), index.fields());
    assert_eq!((loaded.len(), loaded.term_count()), (index.len(), index.term_count()));
    for q in ["alpha", "\"beta gamma\"", "+delta -eta", "title:ze*", "épsilon theta", "e*"] {
        let q = index.parse_query(q).unwrap();
        assert_eq!(loaded.search(&q, 20, &[2.0, 1.0], None), index.search(&q, 20, &[2.0, 1.0], None));
    }
    assert_eq!(bytes(&loaded), data);
}

#[test]
fn loaded_index_supports_further_mutation() {
    let data = bytes(&sample());
    let mut loaded = TextIndex::read_from(&mut data.as_slice()).unwrap();
    for key in 0..60u32 {
        loaded.remove(key * 3);
    }
    assert_eq!(loaded.term_count(), 0);
}

#[test]
fn every_truncation_is_corrupt() {
    let data = bytes(&sample());
    for len in (0..data.len()).step_by(7).chain([data.len() - 1]) {
        let got = TextIndex::read_from(&mut &data[..len]);
        assert!(matches!(got, Err(TextError::Corrupt(_))), "truncated to {len}: {got:?}");
    }
}

#[test]
fn every_flipped_byte_is_corrupt() {
    let data = bytes(&sample());
    for i in 0..data.len() {
        let mut bad = data.clone();
        bad[i] ^= 0x10;
        let got = TextIndex::read_from(&mut bad.as_slice());
        assert!(matches!(got, Err(TextError::Corrupt(_))), "flipped byte {i}: {got:?}");
    }
}

#[test]
fn structurally_bad_content_with_valid_checksum_is_corrupt() {
    let data = bytes(&sample());
    let content = &data[..data.len() - 32];
    let mut rng = Rng(99);
    for _ in 0..300 {
        let mut bad = content.to_vec();
        let i = 12 + rng.below(bad.len() - 12);
        bad[i] = rng.next_u64() as u8;
        if bad == content {
            continue;
        }
        bad.extend_from_slice(blake3::hash(&bad).as_bytes());
        // Either rejected or, if the change happens to be consistent, loaded without panicking.
        if let Err(e) = TextIndex::read_from(&mut bad.as_slice()) {
            assert!(matches!(e, TextError::Corrupt(_)), "{e:?}");
        }
    }
}
