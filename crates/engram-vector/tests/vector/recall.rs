//! HNSW recall against the exact scan, determinism and result ordering.

use engram_vector::{HnswParams, Metric, VectorIndex};

use crate::common::{build, dataset, recall, reference_distance};

fn check_recall(metric: Metric) {
    let (data, queries) = dataset(11, 5000, 200, 64);
    let index = build(metric, &data);
    let r = recall(&index, &queries, 10, 64);
    assert!(r >= 0.95, "{metric:?} recall@10 = {r}");
}

#[test]
fn recall_cosine() {
    check_recall(Metric::Cosine);
}

#[test]
fn recall_dot() {
    check_recall(Metric::Dot);
}

#[test]
fn recall_l2() {
    check_recall(Metric::L2);
}

#[test]
fn distances_match_the_metric() {
    let (data, queries) = dataset(12, 300, 5, 24);
    for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
        let index = build(metric, &data);
        for q in &queries {
            for hit in index.search(q, 5, 32, None).expect("search") {
                let want = reference_distance(metric, q, &data[hit.key as usize]);
                assert!((f64::from(hit.distance) - want).abs() < 1e-3 * want.abs().max(1.0), "{metric:?}");
            }
        }
    }
}

#[test]
fn same_seed_same_results() {
    let (data, queries) = dataset(13, 2000, 20, 32);
    let a = build(Metric::L2, &data);
    let b = build(Metric::L2, &data);
    for q in &queries {
        assert_eq!(a.search(q, 10, 20, None).expect("a"), b.search(q, 10, 20, None).expect("b"));
    }
}

#[test]
fn hits_ascend_with_ties_by_key() {
    let mut index = VectorIndex::new(3, Metric::L2, HnswParams::default()).expect("index");
    for key in [9, 3, 5] {
        index.upsert(key, &[1.0, 1.0, 1.0]).expect("upsert");
    }
    index.upsert(1, &[5.0, 5.0, 5.0]).expect("upsert");
    let keys = |hits: Vec<engram_vector::Hit>| hits.iter().map(|h| h.key).collect::<Vec<_>>();
    assert_eq!(keys(index.search(&[1.0, 1.0, 1.0], 4, 10, None).expect("search")), [3, 5, 9, 1]);
    assert_eq!(keys(index.exact_filtered(&[1.0, 1.0, 1.0], 2, None).expect("exact")), [3, 5]);
}

#[test]
fn empty_index_and_zero_k() {
    let index = VectorIndex::new(4, Metric::Cosine, HnswParams::default()).expect("index");
    assert!(index.is_empty());
    assert!(index.search(&[1.0, 0.0, 0.0, 0.0], 10, 10, None).expect("search").is_empty());
    let mut full = build(Metric::L2, &dataset(14, 50, 1, 4).0);
    assert!(full.search(&[0.0; 4], 0, 10, None).expect("search").is_empty());
    assert_eq!(full.search(&[0.0; 4], 100, 10, None).expect("search").len(), 50);
    full.upsert(1000, &[0.0; 4]).expect("upsert");
    assert_eq!(full.search(&[0.0; 4], 1, 10, None).expect("search")[0].key, 1000);
}

#[test]
fn concurrent_searches_agree() {
    let (data, queries) = dataset(15, 2000, 16, 32);
    let index = build(Metric::Cosine, &data);
    let expected: Vec<_> = queries.iter().map(|q| index.search(q, 10, 32, None).expect("search")).collect();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for (q, want) in queries.iter().zip(&expected) {
                    assert_eq!(&index.search(q, 10, 32, None).expect("search"), want);
                }
            });
        }
    });
}
