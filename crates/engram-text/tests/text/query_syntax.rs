//! Query parsing: accepted forms and errors naming the problem.

use engram_text::{QUERY_BYTES_MAX, QUERY_CLAUSES_MAX, TextError, TextQuery};

const FIELDS: &[&str] = &["title", "body"];

fn error(q: &str) -> TextError {
    TextQuery::parse(q, FIELDS).unwrap_err()
}

fn query_message(q: &str) -> String {
    match error(q) {
        TextError::Query(m) => m,
        other => panic!("expected a Query error for {q:?}, got {other:?}"),
    }
}

#[test]
fn accepts_the_documented_forms() {
    let q = TextQuery::parse("Cat +Hat -dog \"Big Red\" pre* title:x body:\"a b\" title:ab*", FIELDS).unwrap();
    assert_eq!(q.terms(), ["cat", "hat", "big", "red", "pre", "x", "a", "b", "ab"]);
}

#[test]
fn unbalanced_quote_names_its_position() {
    let m = query_message("cat \"big red");
    assert!(m.contains("unterminated quote") && m.contains("byte 4"), "{m}");
}

#[test]
fn empty_and_termless_queries_are_errors() {
    assert!(query_message("").contains("empty"));
    assert!(query_message("   ").contains("empty"));
    assert!(query_message("!!! ???").contains("no searchable terms"));
    assert!(query_message("-cat").contains("excluded"));
    assert!(query_message("\"\"").contains("empty phrase"));
}

#[test]
fn operator_and_prefix_mistakes() {
    assert!(query_message("cat +").contains("dangling"));
    assert!(query_message("*").contains("empty prefix"));
    assert!(query_message("a*b").contains("'*'"));
    assert!(query_message("foo-bar*").contains("one alphanumeric word"));
    assert!(query_message("title:").contains("missing term"));
    assert!(query_message("ab\"cd\"").contains("unexpected quote"));
}

#[test]
fn unknown_field_is_its_own_error() {
    assert!(matches!(error("author:smith"), TextError::UnknownField(f) if f == "author"));
}

#[test]
fn limits_are_enforced() {
    let long = "a".repeat(QUERY_BYTES_MAX + 1);
    assert!(matches!(error(&long), TextError::TooLarge(_)));
    let many = vec!["w"; QUERY_CLAUSES_MAX + 1].join(" ");
    assert!(matches!(error(&many), TextError::TooLarge(_)));
    let ok = vec!["w"; QUERY_CLAUSES_MAX].join(" ");
    assert!(TextQuery::parse(&ok, FIELDS).is_ok());
}
