//! The text index: fields, dictionary, per-document forward map and corpus statistics; upsert and remove.

use crate::analyze::{Analyzed, check_input};
use crate::bm25::FieldStats;
use crate::dictionary::{Dictionary, TermId};
use crate::error::TextError;
use crate::hash::FastMap;
use crate::limits::{FIELD_NAME_BYTES_MAX, FIELDS_MAX, INDEX_POSITIONS_MAX};
use crate::query::TextQuery;

/// What the index remembers of one document, to remove it physically without scanning postings.
#[derive(Debug)]
pub(crate) struct DocEntry {
    /// Kept tokens per field.
    pub(crate) lens: Box<[u32]>,
    /// Every (term, field) pair holding a posting of this document.
    pub(crate) terms: Box<[(TermId, u8)]>,
}

/// An in-memory positional inverted index over documents keyed by `u32`, each with up to
/// [`crate::FIELDS_MAX`] text fields, ranked by BM25 (see [`crate::bm25`] for the formula).
///
/// Removal is physical: once a key is removed or its text replaced, no structure holds its old postings,
/// positions or terms that no other document has.
#[derive(Debug)]
pub struct TextIndex {
    pub(crate) fields: Vec<String>,
    pub(crate) dict: Dictionary,
    pub(crate) docs: FastMap<u32, DocEntry>,
    pub(crate) stats: Vec<FieldStats>,
    /// Sum of all documents' kept tokens, bounded by [`INDEX_POSITIONS_MAX`].
    pub(crate) positions: u64,
    /// Reused buffers of `upsert`.
    pub(crate) scratch: Analyzed,
}

impl TextIndex {
    /// An empty index over the named fields, in order; field `i` of [`TextIndex::upsert`] is `fields[i]`.
    ///
    /// # Errors
    /// [`TextError::TooLarge`] unless there are 1 to [`crate::FIELDS_MAX`] fields;
    /// [`TextError::UnknownField`] for a name that is empty, longer than [`crate::FIELD_NAME_BYTES_MAX`],
    /// not made of ASCII letters, digits and `_` (the query syntax's `field:`), or repeated.
    pub fn new(fields: &[&str]) -> Result<Self, TextError> {
        check_fields(fields)?;
        Ok(TextIndex {
            fields: fields.iter().map(|f| f.to_string()).collect(),
            dict: Dictionary::default(),
            docs: FastMap::default(),
            stats: vec![FieldStats::default(); fields.len()],
            positions: 0,
            scratch: Analyzed::default(),
        })
    }

    /// The declared field names, in order.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// Number of indexed documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether no document is indexed.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Whether `key` is indexed.
    pub fn contains(&self, key: u32) -> bool {
        self.docs.contains_key(&key)
    }

    /// Number of distinct terms in the dictionary.
    pub fn term_count(&self) -> usize {
        self.dict.len()
    }

    /// Number of postings of `term` (exact dictionary form, i.e. lowercased) summed over all fields.
    pub fn postings_len(&self, term: &str) -> usize {
        self.dict.get(term).map_or(0, |id| self.dict.entry(id).doc_freq(None))
    }

    /// Parses `q` against this index's fields; shorthand for [`TextQuery::parse`].
    ///
    /// # Errors
    /// As [`TextQuery::parse`].
    pub fn parse_query(&self, q: &str) -> Result<TextQuery, TextError> {
        let names: Vec<&str> = self.fields.iter().map(String::as_str).collect();
        TextQuery::parse(q, &names)
    }

    /// Indexes `texts` (pairs of field index and text) under `key`, replacing all previous content of `key`.
    /// Texts that hold no token (or none at all) remove `key`. A field given twice is indexed as one
    /// field, with a position gap between the texts.
    ///
    /// # Errors
    /// [`TextError::UnknownField`] for a field index out of range; [`TextError::TooLarge`] beyond
    /// [`crate::DOC_BYTES_MAX`] bytes or when the index would exceed [`crate::INDEX_POSITIONS_MAX`]
    /// positions. On error the index is unchanged.
    pub fn upsert(&mut self, key: u32, texts: &[(usize, &str)]) -> Result<(), TextError> {
        let bound = check_input(texts, self.fields.len())?;
        let old = self.docs.get(&key).map_or(0, |d| d.lens.iter().map(|&l| u64::from(l)).sum());
        if self.positions - old + bound > INDEX_POSITIONS_MAX {
            return Err(TextError::TooLarge(format!("index would exceed {INDEX_POSITIONS_MAX} positions")));
        }
        // Remove first: mapping tokens to ids below may create entries that must not be seen as dead.
        self.remove(key);
        let mut analyzed = std::mem::take(&mut self.scratch);
        analyzed.fill(texts, self.fields.len(), &mut self.dict);
        if analyzed.total() > 0 {
            self.insert(key, &analyzed);
        }
        self.scratch = analyzed;
        Ok(())
    }

    /// Adds a document known to be absent from its analyzed tokens.
    fn insert(&mut self, key: u32, analyzed: &Analyzed) {
        let groups = || analyzed.tokens.chunk_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let mut terms = Vec::with_capacity(groups().count());
        let mut positions = Vec::new();
        for group in groups() {
            let (field, id) = (group[0].0, group[0].1);
            positions.clear();
            positions.extend(group.iter().map(|t| t.2));
            self.dict.entry_mut(id).list_mut(field).insert(key, analyzed.lens[usize::from(field)], &positions);
            terms.push((id, field));
        }
        self.add_stats(&analyzed.lens, 1);
        self.docs.insert(key, DocEntry { lens: analyzed.lens.as_slice().into(), terms: terms.into() });
    }

    /// Removes `key` and every posting, position and now-unused term of it; false when absent.
    pub fn remove(&mut self, key: u32) -> bool {
        let Some(doc) = self.docs.remove(&key) else {
            return false;
        };
        for &(id, field) in doc.terms.iter() {
            self.dict.entry_mut(id).remove_posting(field, key);
            self.dict.remove_if_empty(id);
        }
        self.add_stats(&doc.lens, -1);
        true
    }

    /// Adds (`sign` 1) or subtracts (`sign` -1) one document's field lengths to the statistics.
    pub(crate) fn add_stats(&mut self, lens: &[u32], sign: i64) {
        for (stats, &len) in self.stats.iter_mut().zip(lens) {
            if len > 0 {
                stats.docs = stats.docs.saturating_add_signed(sign);
                stats.tokens = stats.tokens.saturating_add_signed(sign * i64::from(len));
                self.positions = self.positions.saturating_add_signed(sign * i64::from(len));
            }
        }
    }
}

/// Validates field declarations; see [`TextIndex::new`].
fn check_fields(fields: &[&str]) -> Result<(), TextError> {
    if fields.is_empty() || fields.len() > FIELDS_MAX {
        return Err(TextError::TooLarge(format!("{} fields declared; 1..={FIELDS_MAX} allowed", fields.len())));
    }
    for (i, name) in fields.iter().enumerate() {
        let valid = !name.is_empty()
            && name.len() <= FIELD_NAME_BYTES_MAX
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(TextError::UnknownField(format!("invalid field name {name:?}: use 1..=64 of [A-Za-z0-9_]")));
        }
        if fields[..i].contains(name) {
            return Err(TextError::UnknownField(format!("field {name:?} declared twice")));
        }
    }
    Ok(())
}
