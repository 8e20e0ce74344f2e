//! BM25 values, ranking order, boolean operators, phrases, prefixes, fields, boosts and filters.

use engram_text::{PREFIX_EXPANSION_MAX, TextIndex};

use crate::common::{body_index, keys, parse, search};

fn close(a: f32, b: f64) -> bool {
    (f64::from(a) - b).abs() < 1e-5 * b.abs().max(1.0)
}

#[test]
fn bm25_equals_hand_computed_value() {
    let index = body_index(&[(1, "cat hat"), (2, "cat cat dog"), (3, "dog")]);
    // N = 3, n(cat) = 2, avg length = (2 + 3 + 1) / 3 = 2.
    let idf = (1.0f64 + (3.0 - 2.0 + 0.5) / (2.0 + 0.5)).ln();
    let doc2 = idf * 2.0 * 2.2 / (2.0 + 1.2 * (0.25 + 0.75 * 3.0 / 2.0));
    let doc1 = idf * 1.0 * 2.2 / (1.0 + 1.2 * (0.25 + 0.75 * 2.0 / 2.0));
    let hits = search(&index, "cat");
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].0, 2);
    assert!(close(hits[0].1, doc2), "{} vs {doc2}", hits[0].1);
    assert_eq!(hits[1].0, 1);
    assert!(close(hits[1].1, doc1), "{} vs {doc1}", hits[1].1);
}

#[test]
fn or_query_ranks_documents_matching_more_rare_terms_first() {
    let index = body_index(&[
        (1, "the quick brown fox"),
        (2, "the lazy dog"),
        (3, "the quick dog"),
        (4, "the the the"),
        (5, "zebra quick"),
    ]);
    let got = keys(&index, "quick dog");
    assert_eq!(got[0], 3, "{got:?}");
    assert_eq!(got.len(), 4);
    assert!(!got.contains(&4));
    // Equal scores tie by key ascending.
    let index = body_index(&[(9, "same text"), (4, "same text"), (7, "same text")]);
    assert_eq!(keys(&index, "same"), [4, 7, 9]);
}

#[test]
fn required_and_excluded_terms() {
    let index = body_index(&[(1, "apple banana"), (2, "apple cherry"), (3, "banana cherry"), (4, "apple")]);
    assert_eq!(sorted(keys(&index, "+apple banana")), [1, 2, 4]);
    assert_eq!(keys(&index, "+apple banana")[0], 1);
    assert_eq!(sorted(keys(&index, "+apple +cherry")), [2]);
    assert_eq!(sorted(keys(&index, "apple -cherry")), [1, 4]);
    assert_eq!(sorted(keys(&index, "+banana -apple")), [3]);
    assert_eq!(sorted(keys(&index, "+apple +missing")), Vec::<u32>::new());
    assert_eq!(sorted(keys(&index, "banana cherry -apple")), [3]);
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

#[test]
fn phrase_needs_consecutive_positions_in_one_field() {
    let mut index = TextIndex::new(&["title", "body"]).unwrap();
    index.upsert(1, &[(0, "new york"), (1, "city")]).unwrap();
    index.upsert(2, &[(0, "york new"), (1, "new stuff")]).unwrap();
    index.upsert(3, &[(0, "new"), (1, "york")]).unwrap();
    index.upsert(4, &[(1, "we love New-York!")]).unwrap();
    let q = index.parse_query("\"new york\"").unwrap();
    let got = sorted(index.search(&q, 10, &[], None).into_iter().map(|h| h.0).collect());
    assert_eq!(got, [1, 4]);
    // A word with inner punctuation is a phrase too.
    let q = index.parse_query("new-york").unwrap();
    assert_eq!(sorted(index.search(&q, 10, &[], None).into_iter().map(|h| h.0).collect()), [1, 4]);
    let q = index.parse_query("title:\"new york\"").unwrap();
    assert_eq!(index.search(&q, 10, &[], None).into_iter().map(|h| h.0).collect::<Vec<_>>(), [1]);
}

#[test]
fn phrase_with_repeated_words_and_long_token_gap() {
    let gap = "x".repeat(45);
    let text = format!("one two {gap} three");
    let index = body_index(&[(1, "la la land"), (2, "la land"), (3, &text)]);
    assert_eq!(keys(&index, "\"la la\""), [1]);
    assert_eq!(keys(&index, "\"two three\""), Vec::<u32>::new());
}

#[test]
fn prefix_expands_to_dictionary_terms() {
    let index = body_index(&[(1, "prefix"), (2, "prefetch"), (3, "present"), (4, "other")]);
    assert_eq!(sorted(keys(&index, "pre*")), [1, 2, 3]);
    assert_eq!(sorted(keys(&index, "pref*")), [1, 2]);
    assert_eq!(sorted(keys(&index, "+pre* -present")), [1, 2]);
    assert_eq!(keys(&index, "zzz*"), Vec::<u32>::new());
}

#[test]
fn prefix_expansion_is_bounded_to_the_most_frequent_terms() {
    let mut index = TextIndex::new(&["body"]).unwrap();
    let total = PREFIX_EXPANSION_MAX as u32 + 10;
    for i in 0..total {
        index.upsert(i, &[(0, &format!("ab{i:04}"))]).unwrap();
    }
    // ab9999 is the most frequent term, so it survives the cut.
    index.upsert(total, &[(0, "ab9999")]).unwrap();
    index.upsert(total + 1, &[(0, "ab9999")]).unwrap();
    let q = index.parse_query("ab*").unwrap();
    let hits = index.search(&q, 10_000, &[], None);
    assert_eq!(hits.len(), PREFIX_EXPANSION_MAX + 1);
    assert!(hits.iter().any(|h| h.0 == total));
}

#[test]
fn field_restriction_searches_one_field() {
    let mut index = TextIndex::new(&["title", "body"]).unwrap();
    index.upsert(1, &[(0, "rust"), (1, "systems")]).unwrap();
    index.upsert(2, &[(0, "systems"), (1, "rust")]).unwrap();
    let fields = ["title", "body"];
    assert_eq!(index.search(&parse("title:rust", &fields), 10, &[], None)[0].0, 1);
    assert_eq!(index.search(&parse("body:rust", &fields), 10, &[], None).len(), 1);
    assert_eq!(index.search(&parse("body:rus*", &fields), 10, &[], None)[0].0, 2);
    assert_eq!(index.search(&parse("rust -title:rust", &fields), 10, &[], None).len(), 1);
}

#[test]
fn boosts_change_ordering() {
    let mut index = TextIndex::new(&["title", "body"]).unwrap();
    index.upsert(1, &[(0, "rust"), (1, "other words here")]).unwrap();
    index.upsert(2, &[(0, "other"), (1, "rust words here")]).unwrap();
    let q = parse("rust", &["title", "body"]);
    let order = |boosts: &[f32]| index.search(&q, 10, boosts, None).into_iter().map(|h| h.0).collect::<Vec<_>>();
    assert_eq!(order(&[5.0, 1.0]), [1, 2]);
    assert_eq!(order(&[1.0, 5.0]), [2, 1]);
    // A zero boost takes the field out of matching.
    assert_eq!(order(&[0.0, 1.0]), [2]);
    let plain = index.search(&q, 10, &[], None);
    let doubled = index.search(&q, 10, &[2.0, 2.0], None);
    assert!((doubled[0].1 - 2.0 * plain[0].1).abs() < 1e-5);
}

#[test]
fn filter_excludes_keys_without_displacing_matches() {
    let docs: Vec<(u32, String)> = (0..50).map(|i| (i, format!("common {}", "rare ".repeat(i as usize % 5)))).collect();
    let refs: Vec<(u32, &str)> = docs.iter().map(|(k, t)| (*k, t.as_str())).collect();
    let index = body_index(&refs);
    let q = index.parse_query("common rare").unwrap();
    let even = |k: u32| k.is_multiple_of(2);
    let hits = index.search(&q, 10, &[], Some(&even));
    assert_eq!(hits.len(), 10);
    assert!(hits.iter().all(|h| h.0.is_multiple_of(2)));
    let all = index.search(&q, 50, &[], None);
    let expected: Vec<u32> = all.iter().map(|h| h.0).filter(|k| k.is_multiple_of(2)).take(10).collect();
    assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), expected);
}

#[test]
fn k_bounds_the_result_count() {
    let index = body_index(&[(1, "a"), (2, "a"), (3, "a")]);
    let q = index.parse_query("a").unwrap();
    assert_eq!(index.search(&q, 2, &[], None).len(), 2);
    assert!(index.search(&q, 0, &[], None).is_empty());
    assert_eq!(index.search(&q, usize::MAX, &[], None).len(), 3);
}
