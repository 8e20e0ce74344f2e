//! Input validation: dimensions, non-finite components, zero vectors under cosine, and limits.

use engram_vector::{DIMS_MAX, EF_MAX, HnswParams, K_MAX, Metric, VectorError, VectorIndex};

fn index(metric: Metric) -> VectorIndex {
    VectorIndex::new(3, metric, HnswParams::default()).expect("index")
}

#[test]
fn dimensions_must_be_in_range() {
    let p = HnswParams::default();
    assert!(matches!(VectorIndex::new(0, Metric::L2, p), Err(VectorError::InvalidParameter { name: "dims", .. })));
    assert!(matches!(VectorIndex::new(DIMS_MAX + 1, Metric::L2, p), Err(VectorError::TooLarge { .. })));
    assert!(VectorIndex::new(DIMS_MAX, Metric::L2, p).is_ok());
    assert!(VectorIndex::new(1, Metric::L2, p).is_ok());
}

#[test]
fn params_must_be_in_range() {
    let bad_m = HnswParams { m: 1, ..HnswParams::default() };
    assert!(matches!(VectorIndex::new(3, Metric::L2, bad_m), Err(VectorError::InvalidParameter { name: "m", .. })));
    let bad_ef = HnswParams { ef_construction: 0, ..HnswParams::default() };
    assert!(VectorIndex::new(3, Metric::L2, bad_ef).is_err());
}

#[test]
fn vectors_are_validated() {
    let mut ix = index(Metric::Cosine);
    let wrong = ix.upsert(1, &[1.0, 2.0]);
    assert!(matches!(wrong, Err(VectorError::WrongDimensions { expected: 3, got: 2 })));
    assert!(matches!(ix.upsert(1, &[1.0, f32::NAN, 0.0]), Err(VectorError::NotFinite { index: 1 })));
    assert!(matches!(ix.upsert(1, &[1.0, 0.0, f32::INFINITY]), Err(VectorError::NotFinite { index: 2 })));
    assert!(matches!(ix.upsert(1, &[0.0, 0.0, 0.0]), Err(VectorError::ZeroVector)));
    assert!(ix.is_empty(), "rejected vectors are not stored");
    assert!(matches!(ix.search(&[0.0; 3], 1, 1, None), Err(VectorError::ZeroVector)));
    assert!(matches!(ix.exact_filtered(&[1.0; 4], 1, None), Err(VectorError::WrongDimensions { .. })));
    let mut l2 = index(Metric::L2);
    l2.upsert(1, &[0.0, 0.0, 0.0]).expect("zero vectors are fine for L2");
    index(Metric::Dot).upsert(1, &[0.0, 0.0, 0.0]).expect("zero vectors are fine for dot");
}

#[test]
fn search_limits_are_enforced() {
    let mut ix = index(Metric::L2);
    ix.upsert(1, &[1.0, 2.0, 3.0]).expect("upsert");
    assert!(matches!(ix.search(&[1.0; 3], K_MAX + 1, 10, None), Err(VectorError::TooLarge { what: "k", .. })));
    assert!(matches!(ix.search(&[1.0; 3], 1, EF_MAX + 1, None), Err(VectorError::TooLarge { what: "ef", .. })));
    assert!(ix.exact_filtered(&[1.0; 3], K_MAX + 1, None).is_err());
}

#[test]
fn cosine_stores_unit_vectors() {
    let mut ix = index(Metric::Cosine);
    ix.upsert(1, &[3.0, 0.0, 4.0]).expect("upsert");
    assert_eq!(ix.get(1), Some(&[0.6, 0.0, 0.8][..]));
    let hit = ix.search(&[6.0, 0.0, 8.0], 1, 1, None).expect("search")[0];
    assert!(hit.distance.abs() < 1e-6);
    // Tiny and huge finite components still normalize.
    ix.upsert(2, &[1e-30, 0.0, 0.0]).expect("tiny");
    ix.upsert(3, &[3e38, 3e38, 0.0]).expect("huge");
    assert_eq!(ix.get(2), Some(&[1.0, 0.0, 0.0][..]));
}

#[test]
fn errors_classify_input_versus_service() {
    assert!(VectorError::ZeroVector.is_input_error());
    assert!(!VectorError::Corrupt("x".into()).is_input_error());
}
