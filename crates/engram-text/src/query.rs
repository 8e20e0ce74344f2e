//! The parsed query: clauses of terms, phrases and prefixes with their occurrence and field scope.

use crate::error::TextError;
use crate::parse::parse_query;

/// How a clause takes part in matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Occur {
    /// Optional; contributes score. Without any `Must` clause, a document must match at least one.
    Should,
    /// `+clause`: every result matches it.
    Must,
    /// `-clause`: no result matches it.
    MustNot,
}

/// What a clause looks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ClauseKind {
    /// One lowercased token.
    Term(String),
    /// Two or more tokens with their position offsets from the first one (gaps from dropped long tokens kept).
    Phrase(Vec<(String, u32)>),
    /// Every dictionary term starting with this lowercased prefix.
    Prefix(String),
}

/// One clause of a query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Clause {
    pub(crate) occur: Occur,
    /// Index of the one field searched, or `None` for all fields.
    pub(crate) field: Option<usize>,
    pub(crate) kind: ClauseKind,
}

/// A parsed full-text query.
///
/// Syntax, clauses separated by whitespace:
/// - `cat hat`: bare terms are OR-ed; a word that tokenizes to several tokens (`don't`) is a phrase;
/// - `+term` must match, `-term` must not match (also before phrases, prefixes and fields);
/// - `"a quoted phrase"`: the tokens at consecutive positions within one field;
/// - `pre*`: any dictionary term with that prefix, at most [`crate::PREFIX_EXPANSION_MAX`] of the most frequent;
/// - `field:term`, `field:"phrase"`, `field:pre*`: restrict the clause to one declared field.
///
/// A query that tokenizes to nothing, or has only `-` clauses, is an error.
#[derive(Debug, Clone, PartialEq)]
pub struct TextQuery {
    pub(crate) clauses: Vec<Clause>,
}

impl TextQuery {
    /// Parses `q` against the declared `fields` (pass [`crate::TextIndex::fields`]).
    ///
    /// # Errors
    /// [`TextError::Query`] for bad syntax (naming the problem and byte position), [`TextError::UnknownField`]
    /// for an undeclared `field:`, [`TextError::TooLarge`] beyond [`crate::QUERY_BYTES_MAX`] bytes or
    /// [`crate::QUERY_CLAUSES_MAX`] clauses.
    pub fn parse(q: &str, fields: &[&str]) -> Result<TextQuery, TextError> {
        parse_query(q, fields)
    }

    /// The distinct lowercased terms the query looks for, in query order, excluded (`-`) clauses left out.
    ///
    /// Phrases contribute each of their words; prefix clauses contribute their prefix (without `*`).
    pub fn terms(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for clause in self.clauses.iter().filter(|c| c.occur != Occur::MustNot) {
            match &clause.kind {
                ClauseKind::Term(t) | ClauseKind::Prefix(t) => push_distinct(&mut out, t),
                ClauseKind::Phrase(words) => words.iter().for_each(|(w, _)| push_distinct(&mut out, w)),
            }
        }
        out
    }
}

/// Appends `term` unless already present (queries are small; a linear scan is cheapest).
fn push_distinct<'a>(out: &mut Vec<&'a str>, term: &'a str) {
    if !out.contains(&term) {
        out.push(term);
    }
}
