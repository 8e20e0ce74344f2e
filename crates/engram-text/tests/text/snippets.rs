//! Snippets choose the window with the query's terms and highlight the matched words.

use engram_text::snippet;

use crate::common::parse;

const FIELDS: &[&str] = &["body"];

#[test]
fn picks_the_window_with_the_most_distinct_terms() {
    let filler = "lorem ipsum dolor sit amet ".repeat(20);
    let text = format!("{filler}the cat saw one hat today {filler} cat alone {filler}");
    let s = snippet(&text, &parse("cat hat", FIELDS), 40);
    assert!(s.text.chars().count() <= 40, "{:?}", s.text);
    assert!(s.text.contains("cat saw one hat"), "{:?}", s.text);
    let marked: Vec<&str> = s.highlights.iter().map(|&(a, b)| &s.text[a..b]).collect();
    assert_eq!(marked, ["cat", "hat"]);
}

#[test]
fn highlights_point_at_original_case_and_unicode() {
    let text = "Ça va? Le CAFÉ est là, café noir.";
    let s = snippet(text, &parse("café", FIELDS), 200);
    assert_eq!(s.text, text);
    let marked: Vec<&str> = s.highlights.iter().map(|&(a, b)| &s.text[a..b]).collect();
    assert_eq!(marked, ["CAFÉ", "café"]);
}

#[test]
fn phrases_and_prefixes_highlight_only_real_matches() {
    let text = "new stuff, york stuff, New York city, newer things";
    let s = snippet(text, &parse("\"new york\" newe*", FIELDS), 200);
    let marked: Vec<&str> = s.highlights.iter().map(|&(a, b)| &s.text[a..b]).collect();
    assert_eq!(marked, ["New", "York", "newer"]);
}

#[test]
fn without_match_returns_the_start_cut_at_tokens() {
    let text = "alpha beta gamma delta epsilon";
    let s = snippet(text, &parse("zzz", FIELDS), 12);
    assert_eq!(s.text, "alpha beta");
    assert!(s.highlights.is_empty());
}
