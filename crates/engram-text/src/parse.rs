//! The query parser: turns query syntax into [`TextQuery`] clauses.

use crate::error::TextError;
use crate::limits::{QUERY_BYTES_MAX, QUERY_CLAUSES_MAX};
use crate::query::{Clause, ClauseKind, Occur, TextQuery};
use crate::tokenize::{Token, tokenize};

/// A clause as written, before tokenization.
struct RawClause<'q> {
    occur: Occur,
    field: Option<usize>,
    body: Body<'q>,
    /// Byte offset of the body, for error messages.
    at: usize,
}

/// The text part of a raw clause.
enum Body<'q> {
    Word(&'q str),
    Quoted(&'q str),
    Prefix(&'q str),
}

/// Parses a whole query; see [`TextQuery`] for the syntax.
pub(crate) fn parse_query(q: &str, fields: &[&str]) -> Result<TextQuery, TextError> {
    if q.len() > QUERY_BYTES_MAX {
        return Err(TextError::TooLarge(format!("query of {} bytes exceeds {QUERY_BYTES_MAX}", q.len())));
    }
    if q.trim().is_empty() {
        return Err(TextError::Query("empty query".into()));
    }
    let mut scanner = Scanner { q, pos: 0, fields };
    let mut clauses = Vec::new();
    while let Some(raw) = scanner.next_clause()? {
        if let Some(clause) = to_clause(raw)? {
            clauses.push(clause);
        }
        if clauses.len() > QUERY_CLAUSES_MAX {
            return Err(TextError::TooLarge(format!("query has more than {QUERY_CLAUSES_MAX} clauses")));
        }
    }
    check_matchable(&clauses)?;
    Ok(TextQuery { clauses })
}

/// Rejects queries that could never match anything by construction.
fn check_matchable(clauses: &[Clause]) -> Result<(), TextError> {
    if clauses.is_empty() {
        return Err(TextError::Query("query has no searchable terms".into()));
    }
    if clauses.iter().all(|c| c.occur == Occur::MustNot) {
        return Err(TextError::Query("query has only excluded (-) clauses".into()));
    }
    Ok(())
}

/// Tokenizes a raw clause; `None` when its text holds no token (such clauses are dropped).
fn to_clause(raw: RawClause<'_>) -> Result<Option<Clause>, TextError> {
    let kind = match raw.body {
        Body::Word(text) => words_kind(text),
        Body::Quoted(text) if text.trim().is_empty() => {
            return Err(TextError::Query(format!("empty phrase at byte {}", raw.at)));
        }
        Body::Quoted(text) => words_kind(text),
        Body::Prefix(text) => Some(prefix_kind(text, raw.at)?),
    };
    Ok(kind.map(|kind| Clause { occur: raw.occur, field: raw.field, kind }))
}

/// A term for one token, a phrase for several, nothing for none.
fn words_kind(text: &str) -> Option<ClauseKind> {
    let tokens: Vec<Token<'_>> = tokenize(text).collect();
    match tokens.as_slice() {
        [] => None,
        [one] => Some(ClauseKind::Term(one.text.to_string())),
        [first, ..] => {
            let base = first.position;
            Some(ClauseKind::Phrase(tokens.iter().map(|t| (t.text.to_string(), t.position - base)).collect()))
        }
    }
}

/// A prefix must be exactly one whole token.
fn prefix_kind(text: &str, at: usize) -> Result<ClauseKind, TextError> {
    if text.is_empty() {
        return Err(TextError::Query(format!("empty prefix before '*' at byte {at}")));
    }
    let mut tokens = tokenize(text);
    match (tokens.next(), tokens.next()) {
        (Some(t), None) if t.start == 0 && t.end == text.len() => Ok(ClauseKind::Prefix(t.text.into_owned())),
        _ => Err(TextError::Query(format!("prefix at byte {at} must be one alphanumeric word"))),
    }
}

/// Splits the query string into raw clauses, left to right.
struct Scanner<'q, 'f> {
    q: &'q str,
    pos: usize,
    fields: &'f [&'f str],
}

impl<'q> Scanner<'q, '_> {
    /// The next raw clause, or `None` at the end of the query.
    fn next_clause(&mut self) -> Result<Option<RawClause<'q>>, TextError> {
        self.skip_whitespace();
        if self.pos >= self.q.len() {
            return Ok(None);
        }
        let occur = self.occur()?;
        let field = self.field()?;
        let at = self.pos;
        let body = if self.rest().starts_with('"') { self.quoted()? } else { self.word()? };
        Ok(Some(RawClause { occur, field, body, at }))
    }

    fn rest(&self) -> &'q str {
        &self.q[self.pos..]
    }

    fn skip_whitespace(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// Whether the scan is at the end or at whitespace, where no clause body can start.
    fn at_break(&self) -> bool {
        self.rest().chars().next().is_none_or(char::is_whitespace)
    }

    /// An optional `+` or `-`, which must be followed by the clause.
    fn occur(&mut self) -> Result<Occur, TextError> {
        let occur = match self.rest().as_bytes()[0] {
            b'+' => Occur::Must,
            b'-' => Occur::MustNot,
            _ => return Ok(Occur::Should),
        };
        let at = self.pos;
        self.pos += 1;
        if self.at_break() {
            return Err(TextError::Query(format!("dangling operator at byte {at}")));
        }
        Ok(occur)
    }

    /// An optional `name:` prefix naming a declared field.
    fn field(&mut self) -> Result<Option<usize>, TextError> {
        let rest = self.rest();
        let name_len = rest.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
        if name_len == 0 || rest.as_bytes().get(name_len) != Some(&b':') {
            return Ok(None);
        }
        let name = &rest[..name_len];
        let index = self.fields.iter().position(|f| *f == name).ok_or_else(|| TextError::UnknownField(name.into()))?;
        let at = self.pos;
        self.pos += name_len + 1;
        if self.at_break() {
            return Err(TextError::Query(format!("missing term after '{name}:' at byte {at}")));
        }
        Ok(Some(index))
    }

    /// A `"…"` phrase; it must be closed and followed by whitespace or the end.
    fn quoted(&mut self) -> Result<Body<'q>, TextError> {
        let open = self.pos;
        let inner = &self.q[open + 1..];
        let close = inner.find('"').ok_or_else(|| Self::unterminated(open))?;
        self.pos = open + 1 + close + 1;
        if !self.at_break() {
            return Err(TextError::Query(format!("unexpected character after closing quote at byte {}", self.pos)));
        }
        Ok(Body::Quoted(&inner[..close]))
    }

    fn unterminated(open: usize) -> TextError {
        TextError::Query(format!("unterminated quote starting at byte {open}"))
    }

    /// A bare word up to whitespace; a trailing `*` makes it a prefix.
    fn word(&mut self) -> Result<Body<'q>, TextError> {
        let start = self.pos;
        let rest = self.rest();
        let len = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..len];
        self.pos += len;
        if let Some(i) = word.find('"') {
            return Err(TextError::Query(format!("unexpected quote at byte {}", start + i)));
        }
        match word.strip_suffix('*') {
            Some(stem) if stem.contains('*') => {
                Err(TextError::Query(format!("'*' is only allowed once, at the end of a word, at byte {start}")))
            }
            Some(stem) => Ok(Body::Prefix(stem)),
            None if word.contains('*') => {
                Err(TextError::Query(format!("'*' is only allowed at the end of a word, at byte {start}")))
            }
            None => Ok(Body::Word(word)),
        }
    }
}
