//! Turns a document's field texts into sorted (field, term id, position) triples and field lengths.

use crate::dictionary::{Dictionary, TermId};
use crate::error::TextError;
use crate::limits::DOC_BYTES_MAX;
use crate::tokenize::for_each_term;

/// A document's tokens, grouped for insertion.
#[derive(Debug, Default)]
pub(crate) struct Analyzed {
    /// Sorted by (field, term, position): each (field, term) run is one posting with ascending positions.
    pub(crate) tokens: Vec<(u8, TermId, u32)>,
    /// Kept tokens per field.
    pub(crate) lens: Vec<u32>,
    /// Reusable lowercasing buffer.
    scratch: String,
}

/// Checks field indices and size; returns an upper bound on the tokens the texts hold (a token takes a
/// byte and is followed by a separator or the end of its text).
pub(crate) fn check_input(texts: &[(usize, &str)], field_count: usize) -> Result<u64, TextError> {
    if let Some(&(field, _)) = texts.iter().find(|(f, _)| *f >= field_count) {
        return Err(TextError::UnknownField(format!("field index {field} (index has {field_count} fields)")));
    }
    let bytes: usize = texts.iter().map(|(_, t)| t.len()).sum();
    if bytes > DOC_BYTES_MAX {
        return Err(TextError::TooLarge(format!("document of {bytes} bytes exceeds {DOC_BYTES_MAX}")));
    }
    Ok(texts.iter().map(|(_, t)| t.len().div_ceil(2) as u64).sum())
}

impl Analyzed {
    /// Tokenizes every checked `(field index, text)` into `self`, adding new terms to `dict` (they stay
    /// without postings until the caller inserts them). A field given twice continues after a one-position
    /// gap, so a phrase never spans the two texts.
    pub(crate) fn fill(&mut self, texts: &[(usize, &str)], field_count: usize, dict: &mut Dictionary) {
        self.tokens.clear();
        self.lens.clear();
        self.lens.resize(field_count, 0);
        let mut next_pos = vec![0u32; field_count];
        for &(field, text) in texts {
            let base = next_pos[field];
            let field_u8 = u8::try_from(field).expect("field count bounded by FIELDS_MAX");
            let (tokens, lens) = (&mut self.tokens, &mut self.lens);
            let mut last = None;
            for_each_term(text, &mut self.scratch, |term, position| {
                let position = base.saturating_add(position);
                last = Some(position);
                lens[field] += 1;
                tokens.push((field_u8, dict.get_or_insert(term), position));
            });
            // Positions stay below DOC_BYTES_MAX plus one gap per text, far from overflowing.
            next_pos[field] = last.map_or(base, |p| p.saturating_add(2));
        }
        // Integers sort much faster than the term strings would.
        self.tokens.sort_unstable();
    }

    /// Total kept tokens.
    pub(crate) fn total(&self) -> u64 {
        self.lens.iter().map(|&l| u64::from(l)).sum()
    }
}
