//! Upserts replace, removals are physical, reused keys keep postings sorted.

use engram_text::TextIndex;

use crate::common::{body_index, keys};

#[test]
fn upsert_replaces_previous_text() {
    let mut index = body_index(&[(1, "old words"), (2, "old stuff")]);
    index.upsert(1, &[(0, "fresh content")]).unwrap();
    assert_eq!(keys(&index, "words"), Vec::<u32>::new());
    assert_eq!(keys(&index, "old"), [2]);
    assert_eq!(keys(&index, "fresh"), [1]);
    assert_eq!(index.postings_len("words"), 0);
    assert_eq!(index.postings_len("old"), 1);
    assert_eq!(index.len(), 2);
}

#[test]
fn remove_is_physical() {
    let mut index = body_index(&[(1, "alpha beta"), (2, "beta gamma")]);
    assert_eq!(index.term_count(), 3);
    assert!(index.remove(1));
    assert!(!index.remove(1));
    assert!(!index.contains(1));
    assert_eq!(index.term_count(), 2);
    assert_eq!(index.postings_len("alpha"), 0);
    assert_eq!(index.postings_len("beta"), 1);
    assert!(index.remove(2));
    assert_eq!(index.term_count(), 0);
    assert!(index.is_empty());
    assert!(keys(&index, "beta").is_empty());
}

#[test]
fn empty_text_removes_the_key() {
    let mut index = body_index(&[(1, "alpha")]);
    index.upsert(1, &[(0, " ... ")]).unwrap();
    assert!(!index.contains(1));
    assert_eq!(index.term_count(), 0);
    index.upsert(2, &[(0, "x")]).unwrap();
    index.upsert(2, &[]).unwrap();
    assert!(index.is_empty());
}

#[test]
fn reused_keys_keep_postings_sorted() {
    let mut index = body_index(&[(1, "w"), (5, "w"), (9, "w")]);
    index.remove(5);
    index.upsert(3, &[(0, "w w w")]).unwrap();
    index.upsert(5, &[(0, "w w")]).unwrap();
    index.upsert(0, &[(0, "w")]).unwrap();
    // Must-clause path walks keys in order; a disorder would lose matches.
    let q = index.parse_query("+w").unwrap();
    let mut got: Vec<u32> = index.search(&q, 100, &[], None).into_iter().map(|h| h.0).collect();
    got.sort_unstable();
    assert_eq!(got, [0, 1, 3, 5, 9]);
    assert_eq!(keys(&index, "\"w w w\""), [3]);
    assert_eq!(index.postings_len("w"), 5);
}

#[test]
fn rejects_bad_field_indices_and_declarations() {
    let mut index = TextIndex::new(&["a", "b"]).unwrap();
    assert!(matches!(index.upsert(1, &[(2, "x")]), Err(engram_text::TextError::UnknownField(_))));
    assert!(index.is_empty());
    assert!(TextIndex::new(&[]).is_err());
    assert!(TextIndex::new(&["a"; 17]).is_err());
    assert!(TextIndex::new(&["a", "a"]).is_err());
    assert!(TextIndex::new(&["bad name"]).is_err());
}

#[test]
fn repeated_field_texts_do_not_form_phrases_across_them() {
    let mut index = TextIndex::new(&["body"]).unwrap();
    index.upsert(1, &[(0, "alpha"), (0, "beta")]).unwrap();
    assert_eq!(keys(&index, "alpha beta"), [1]);
    assert!(keys(&index, "\"alpha beta\"").is_empty());
}

#[test]
fn index_and_query_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TextIndex>();
    assert_send_sync::<engram_text::TextQuery>();
}
