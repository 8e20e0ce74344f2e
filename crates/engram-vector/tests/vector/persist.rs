//! Persistence: roundtrips are exact; truncation, flipped bytes and malformed content are `Corrupt`.

use engram_vector::{Metric, VectorError, VectorIndex};

use crate::common::{build, dataset};

fn bytes_of(index: &VectorIndex) -> Vec<u8> {
    let mut out = Vec::new();
    index.write_to(&mut out).expect("write");
    out
}

fn load(bytes: &[u8]) -> Result<VectorIndex, VectorError> {
    VectorIndex::read_from(&mut &bytes[..])
}

/// An index with deletions, so the free list and zeroed slots are exercised.
fn sample() -> (VectorIndex, Vec<Vec<f32>>) {
    let (data, queries) = dataset(41, 2000, 50, 24);
    let mut index = build(Metric::Cosine, &data);
    for key in (0..2000).step_by(9) {
        index.remove(key);
    }
    (index, queries)
}

#[test]
fn roundtrip_gives_identical_results() {
    let (mut index, queries) = sample();
    let mut loaded = load(&bytes_of(&index)).expect("load");
    assert_eq!((loaded.len(), loaded.dims(), loaded.metric()), (index.len(), index.dims(), index.metric()));
    assert_eq!(loaded.params(), index.params());
    for q in &queries {
        assert_eq!(loaded.search(q, 10, 40, None).expect("a"), index.search(q, 10, 40, None).expect("b"));
    }
    for key in 0..2000 {
        assert_eq!(loaded.get(key), index.get(key));
    }
    // The generator state travels too: the same later inserts build the same graph.
    for (i, q) in queries.iter().enumerate() {
        index.upsert(5000 + i as u32, q).expect("upsert");
        loaded.upsert(5000 + i as u32, q).expect("upsert");
    }
    assert_eq!(bytes_of(&loaded), bytes_of(&index));
}

#[test]
fn empty_index_roundtrips() {
    let index = VectorIndex::new(5, Metric::Dot, Default::default()).expect("index");
    let loaded = load(&bytes_of(&index)).expect("load");
    assert!(loaded.is_empty());
    assert_eq!(loaded.dims(), 5);
}

#[test]
fn flipped_bytes_are_corrupt() {
    let (index, _) = sample();
    let bytes = bytes_of(&index);
    let n = bytes.len();
    for pos in [0, 7, 8, 12, 16, 20, 30, 40, 56, 60, 64, 1000, n / 3, n / 2, n - 40, n - 33, n - 32, n - 1] {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x40;
        assert!(matches!(load(&bad), Err(VectorError::Corrupt(_))), "flip at {pos}");
    }
}

#[test]
fn truncations_and_trailing_bytes_are_corrupt() {
    let (index, _) = sample();
    let bytes = bytes_of(&index);
    let n = bytes.len();
    for len in [0, 1, 7, 8, 20, 60, 61, 100, n / 2, n - 33, n - 32, n - 1] {
        assert!(matches!(load(&bytes[..len]), Err(VectorError::Corrupt(_))), "truncated to {len}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(load(&longer), Err(VectorError::Corrupt(_))));
}

/// A change to the bytes of a file body.
type Edit = Box<dyn FnOnce(&mut [u8])>;

/// Rewrites the checksum so that only the structural checks can catch the damage.
fn resealed(mut bytes: Vec<u8>, edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let body = bytes.len() - 32;
    edit(&mut bytes[..body]);
    let hash = blake3::hash(&bytes[..body]);
    bytes[body..].copy_from_slice(hash.as_bytes());
    bytes
}

#[test]
fn malformed_content_with_valid_checksum_is_corrupt() {
    let (index, _) = sample();
    let bytes = bytes_of(&index);
    // Header: magic 8, version 4, dims 4, metric 4, m 4, efc 4, seed 8, rng 8, slots 4, free 4, entry 4.
    let entry_at = 8 + 4 * 5 + 8 * 2 + 4 * 2;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "entry out of range",
            Box::new(move |b| b[entry_at..entry_at + 4].copy_from_slice(&u32::MAX.to_le_bytes()[..])),
        ),
        (
            "huge slot count",
            Box::new(move |b| b[entry_at - 8..entry_at - 4].copy_from_slice(&(u32::MAX - 2).to_le_bytes())),
        ),
        ("metric", Box::new(|b| b[16..20].copy_from_slice(&9u32.to_le_bytes()))),
        ("m", Box::new(|b| b[20..24].copy_from_slice(&1000u32.to_le_bytes()))),
        ("first link", Box::new(corrupt_first_link)),
    ];
    for (name, edit) in cases {
        let bad = resealed(bytes.clone(), edit);
        assert!(matches!(load(&bad), Err(VectorError::Corrupt(_))), "{name}");
    }
}

/// Points the first level-0 link of the first slot outside the index. Layout of the sample: 2000 slots
/// of 24 dims, then keys (4 bytes each) and levels (1 byte each); level-0 rows follow.
fn corrupt_first_link(b: &mut [u8]) {
    let header = 8 + 4 * 5 + 8 * 2 + 4 * 3;
    let links0 = header + 2000 * 24 * 4 + 2000 * 4 + 2000;
    // Slot 0 was removed (keys 0, 9, ... are free), so use slot 1: row of 33 words.
    let first_link = links0 + 33 * 4 + 4;
    b[first_link..first_link + 4].copy_from_slice(&5_000_000u32.to_le_bytes());
}
