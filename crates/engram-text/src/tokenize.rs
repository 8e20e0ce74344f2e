//! The tokenizer: tantivy's default analyzer (simple tokenizer, long-token filter, lowercaser).

use std::borrow::Cow;

use crate::limits::TOKEN_BYTES_MAX;

/// One token of an input text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    /// The lowercased token; borrowed from the input when it already was lowercase.
    pub text: Cow<'a, str>,
    /// Byte offset of the token's first byte in the input.
    pub start: usize,
    /// Byte offset one past the token's last byte in the input.
    pub end: usize,
    /// Ordinal of the token among all alphanumeric runs of the input, counting dropped long runs too.
    pub position: u32,
}

/// Splits `text` into tokens: maximal runs of [`char::is_alphanumeric`] characters, lowercased char by char.
///
/// Runs longer than [`TOKEN_BYTES_MAX`] bytes are dropped but still consume a position, as in tantivy, so a
/// phrase never matches across a dropped token and positions of later tokens do not depend on the filter.
pub fn tokenize(text: &str) -> impl Iterator<Item = Token<'_>> {
    Tokens { text, offset: 0, position: 0 }
}

/// Iterator state behind [`tokenize`].
struct Tokens<'a> {
    text: &'a str,
    /// Byte offset where the scan resumes.
    offset: usize,
    /// Position the next run (kept or dropped) gets.
    position: u32,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        loop {
            let (start, end) = next_run(self.text, self.offset)?;
            self.offset = end;
            let position = self.position;
            self.position = self.position.saturating_add(1);
            if end - start <= TOKEN_BYTES_MAX {
                return Some(Token { text: lowercase(&self.text[start..end]), start, end, position });
            }
        }
    }
}

/// Byte range of the first alphanumeric run at or after `from`.
fn next_run(text: &str, from: usize) -> Option<(usize, usize)> {
    let rest = &text[from..];
    let (rel_start, _) = rest.char_indices().find(|&(_, c)| is_token_char(c))?;
    let start = from + rel_start;
    let rel_end = text[start..].char_indices().find(|&(_, c)| !is_token_char(c)).map_or(text.len() - start, |(i, _)| i);
    Some((start, start + rel_end))
}

/// Whether `c` belongs to a token; ASCII takes the cheap path.
#[inline]
fn is_token_char(c: char) -> bool {
    if c.is_ascii() { c.is_ascii_alphanumeric() } else { c.is_alphanumeric() }
}

/// Lowercases char by char (no context-sensitive rules such as final sigma, like tantivy), borrowing when
/// nothing changes.
fn lowercase(word: &str) -> Cow<'_, str> {
    if word.is_ascii() {
        if word.bytes().any(|b| b.is_ascii_uppercase()) {
            return Cow::Owned(word.to_ascii_lowercase());
        }
        return Cow::Borrowed(word);
    }
    let lowered: String = word.chars().flat_map(char::to_lowercase).collect();
    if lowered == word { Cow::Borrowed(word) } else { Cow::Owned(lowered) }
}

/// Calls `f(term, position)` for every token of `text`, as [`tokenize`] yields them, without allocating
/// per token: terms needing lowercasing are built in `scratch`.
pub(crate) fn for_each_term(text: &str, scratch: &mut String, mut f: impl FnMut(&str, u32)) {
    let (mut offset, mut position) = (0, 0u32);
    while let Some((start, end)) = next_run(text, offset) {
        offset = end;
        let word = &text[start..end];
        if word.len() <= TOKEN_BYTES_MAX {
            f(lowercase_into(word, scratch), position);
        }
        position = position.saturating_add(1);
    }
}

/// `word` lowercased, borrowed when unchanged, else written to `scratch`.
fn lowercase_into<'a>(word: &'a str, scratch: &'a mut String) -> &'a str {
    if word.is_ascii() && !word.bytes().any(|b| b.is_ascii_uppercase()) {
        return word;
    }
    scratch.clear();
    scratch.extend(word.chars().flat_map(char::to_lowercase));
    scratch
}
