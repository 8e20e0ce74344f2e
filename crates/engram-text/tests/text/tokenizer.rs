//! Tokenizer: runs of alphanumerics, lowercasing, offsets, long tokens.

use engram_text::tokenize;

fn texts(s: &str) -> Vec<String> {
    tokenize(s).map(|t| t.text.into_owned()).collect()
}

#[test]
fn splits_on_non_alphanumerics_and_lowercases() {
    assert_eq!(texts("Hello, World! it's 42nd"), ["hello", "world", "it", "s", "42nd"]);
    assert_eq!(texts("  ...  "), Vec::<String>::new());
    assert_eq!(texts(""), Vec::<String>::new());
}

#[test]
fn handles_unicode_letters_and_case() {
    assert_eq!(texts("Ünïcödé ΣΟΦΙΑ naïve café"), ["ünïcödé", "σοφια", "naïve", "café"]);
    assert_eq!(texts("東京タワー is tall"), ["東京タワー", "is", "tall"]);
    // Char-by-char lowercasing, as tantivy: capital sigma always becomes σ.
    assert_eq!(texts("ΟΔΟΣ"), ["οδοσ"]);
}

#[test]
fn reports_byte_offsets_and_positions() {
    let s = "¡Olé, mundo!";
    let tokens: Vec<_> = tokenize(s).collect();
    assert_eq!(tokens.len(), 2);
    assert_eq!(&s[tokens[0].start..tokens[0].end], "Olé");
    assert_eq!(tokens[0].text, "olé");
    assert_eq!(&s[tokens[1].start..tokens[1].end], "mundo");
    assert_eq!((tokens[0].position, tokens[1].position), (0, 1));
}

#[test]
fn borrows_when_already_lowercase() {
    let token = tokenize("plain").next().unwrap();
    assert!(matches!(token.text, std::borrow::Cow::Borrowed(_)));
}

#[test]
fn drops_long_tokens_but_keeps_their_position() {
    let long39 = "a".repeat(39);
    let long40 = "b".repeat(40);
    let s = format!("x {long40} y {long39}");
    let tokens: Vec<_> = tokenize(&s).collect();
    let got: Vec<(&str, u32)> = tokens.iter().map(|t| (t.text.as_ref(), t.position)).collect();
    assert_eq!(got, [("x", 0), ("y", 2), (long39.as_str(), 3)]);
    // The limit counts bytes: 20 two-byte chars are 40 bytes.
    assert_eq!(texts(&"é".repeat(20)), Vec::<String>::new());
    assert_eq!(texts(&"é".repeat(19)).len(), 1);
}
