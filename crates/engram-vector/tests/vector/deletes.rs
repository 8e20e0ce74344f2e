//! Upserts replace, removed keys vanish from every result, and recall survives heavy deletion.

use std::collections::HashSet;

use engram_vector::{HnswParams, Metric, VectorIndex};

use crate::common::{TestRng, build, dataset, recall};

#[test]
fn upsert_replaces_the_vector() {
    let (data, _) = dataset(31, 500, 0, 16);
    let mut index = build(Metric::L2, &data);
    let replacement = vec![50.0f32; 16];
    index.upsert(7, &replacement).expect("upsert");
    assert_eq!(index.len(), 500);
    assert_eq!(index.get(7), Some(&replacement[..]));
    let hit = index.search(&replacement, 1, 16, None).expect("search")[0];
    assert_eq!((hit.key, hit.distance), (7, 0.0));
    let near_old = index.search(&data[7], 1, 32, None).expect("search");
    assert!(near_old[0].key != 7 || near_old[0].distance > 0.0);
}

/// Removes a seeded 30% of keys and checks they never come back and recall holds.
#[test]
fn removed_keys_never_return_and_recall_holds() {
    let (data, queries) = dataset(32, 5000, 200, 64);
    for metric in [Metric::Cosine, Metric::L2] {
        let mut index = build(metric, &data);
        let mut rng = TestRng::new(5);
        let removed: HashSet<u32> = (0..5000u32).filter(|_| rng.unit() < 0.3).collect();
        for &key in &removed {
            assert!(index.remove(key));
        }
        assert_eq!(index.len(), 5000 - removed.len());
        for q in &queries {
            let hits = index.search(q, 10, 64, None).expect("search");
            assert!(hits.iter().all(|h| !removed.contains(&h.key)));
        }
        let r = recall(&index, &queries, 10, 64);
        assert!(r >= 0.95, "{metric:?} recall after deletes = {r}");
        // At a small ef, recall is sensitive to graph quality: the repaired graph must match a graph built
        // from the survivors alone (without repair it falls 0.03-0.05 below).
        let survivors: Vec<Vec<f32>> =
            data.iter().enumerate().filter(|(k, _)| !removed.contains(&(*k as u32))).map(|(_, v)| v.clone()).collect();
        let (repaired, fresh) =
            (recall(&index, &queries, 10, 16), recall(&build(metric, &survivors), &queries, 10, 16));
        assert!(repaired >= fresh - 0.02, "{metric:?} recall at ef 16: repaired {repaired}, rebuilt {fresh}");
    }
}

#[test]
fn remove_unknown_or_twice_is_false() {
    let (data, _) = dataset(33, 100, 0, 8);
    let mut index = build(Metric::L2, &data);
    assert!(!index.remove(1000));
    assert!(index.remove(3));
    assert!(!index.remove(3));
    assert!(!index.contains(3));
    assert_eq!(index.get(3), None);
}

#[test]
fn remove_everything_then_insert_again() {
    let (data, queries) = dataset(34, 800, 20, 16);
    let mut index = build(Metric::Cosine, &data);
    for key in 0..800 {
        assert!(index.remove(key));
    }
    assert!(index.is_empty());
    assert!(index.search(&queries[0], 5, 16, None).expect("search").is_empty());
    for (key, v) in data.iter().enumerate().take(400) {
        index.upsert(key as u32 + 10_000, v).expect("upsert");
    }
    assert_eq!(index.len(), 400);
    let r = recall(&index, &queries, 10, 64);
    assert!(r >= 0.95, "recall after refill = {r}");
}

#[test]
fn reinsert_after_partial_removal_keeps_recall() {
    let (data, queries) = dataset(35, 3000, 100, 32);
    let mut index = build(Metric::L2, &data);
    for key in (0..3000).step_by(2) {
        index.remove(key);
    }
    for key in (0..3000).step_by(2) {
        index.upsert(key, &data[key as usize]).expect("upsert");
    }
    assert_eq!(index.len(), 3000);
    let r = recall(&index, &queries, 10, 64);
    assert!(r >= 0.95, "recall after remove and reinsert = {r}");
}

#[test]
fn keys_lists_live_keys() {
    let mut index = VectorIndex::new(2, Metric::Dot, HnswParams::default()).expect("index");
    for key in [4, 8, 15, 16, 23, 42] {
        index.upsert(key, &[key as f32, 1.0]).expect("upsert");
    }
    index.remove(15);
    let mut keys: Vec<u32> = index.keys().collect();
    keys.sort_unstable();
    assert_eq!(keys, [4, 8, 16, 23, 42]);
}
