//! Filtered search never returns rejected keys; exact scans equal brute force.

use engram_vector::{Hit, Metric};

use crate::common::{build, dataset, reference_distance};

/// Brute force over `data` restricted to `keep`, by f64 reference distances.
fn brute(metric: Metric, data: &[Vec<f32>], q: &[f32], k: usize, keep: impl Fn(u32) -> bool) -> Vec<u32> {
    let mut all: Vec<(f64, u32)> = (0..data.len() as u32)
        .filter(|&key| keep(key))
        .map(|key| (reference_distance(metric, q, &data[key as usize]), key))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.into_iter().take(k).map(|(_, key)| key).collect()
}

fn keys(hits: &[Hit]) -> Vec<u32> {
    hits.iter().map(|h| h.key).collect()
}

#[test]
fn filtered_search_only_returns_accepted_keys() {
    let (data, queries) = dataset(21, 3000, 50, 32);
    let index = build(Metric::L2, &data);
    let filter = |key: u32| key.is_multiple_of(3);
    let mut found = 0;
    for q in &queries {
        let hits = index.search(q, 10, 64, Some(&filter)).expect("search");
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| filter(h.key)));
        let truth = keys(&index.exact_filtered(q, 10, Some(&filter)).expect("exact"));
        found += hits.iter().filter(|h| truth.contains(&h.key)).count();
    }
    let recall = found as f64 / (queries.len() * 10) as f64;
    assert!(recall >= 0.9, "filtered recall {recall}");
}

#[test]
fn filter_rejecting_everything_returns_nothing() {
    let (data, queries) = dataset(22, 500, 3, 16);
    let index = build(Metric::Cosine, &data);
    let none = |_: u32| false;
    assert!(index.search(&queries[0], 10, 32, Some(&none)).expect("search").is_empty());
    assert!(index.exact_filtered(&queries[0], 10, Some(&none)).expect("exact").is_empty());
}

#[test]
fn exact_filtered_equals_brute_force() {
    let (data, queries) = dataset(23, 1500, 20, 24);
    for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
        let index = build(metric, &data);
        let filter = |key: u32| key % 7 != 2;
        for q in &queries {
            let got = keys(&index.exact_filtered(q, 10, Some(&filter)).expect("exact"));
            assert_eq!(got, brute(metric, &data, q, 10, filter), "{metric:?}");
            let all = keys(&index.exact_filtered(q, 10, None).expect("exact"));
            assert_eq!(all, brute(metric, &data, q, 10, |_| true), "{metric:?}");
        }
    }
}

#[test]
fn exact_over_keys_skips_unknown_keys() {
    let (data, queries) = dataset(24, 1000, 10, 16);
    let index = build(Metric::L2, &data);
    for q in &queries {
        let mut subset = (0..2000u32).filter(|k| k % 5 == 1);
        let got = keys(&index.exact(q, 7, &mut subset).expect("exact"));
        assert_eq!(got, brute(Metric::L2, &data, q, 7, |k| k % 5 == 1));
    }
}
