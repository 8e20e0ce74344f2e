//! The file format: write an index to bytes and read it back, verifying everything.
//!
//! Layout (integers are LEB128 varints unless noted):
//!
//! ```text
//! magic "ENGRMTXT" (8 bytes) | version (u32 LE) |
//! field_count | field_count × name (len, UTF-8) |
//! doc_count | doc_count × (key delta from previous key, field_count × field length) |
//! term_count | term_count × (text (len, UTF-8), list_count | list_count × (field, posting_count |
//!     posting_count × (key delta, tf, tf × position delta))) |
//! BLAKE3 of all preceding bytes (32 bytes)
//! ```
//!
//! Documents are written by ascending key, terms in lexicographic order and lists by field, so equal
//! indexes give equal bytes. The checksum is verified before anything is parsed; parsing still checks every
//! structural invariant, so a file with a valid checksum but wrong content is rejected too.

use std::io::{Read, Write};

use crate::codec::{Decoder, Encoder, corrupt};
use crate::dictionary::{TermEntry, TermId};
use crate::error::TextError;
use crate::hash::FastMap;
use crate::index::{DocEntry, TextIndex};
use crate::limits::INDEX_POSITIONS_MAX;
use crate::postings::PostingList;

const MAGIC: &[u8; 8] = b"ENGRMTXT";
const VERSION: u32 = 1;
const HEADER_BYTES: usize = 12;
const CHECKSUM_BYTES: usize = 32;

impl TextIndex {
    /// Writes the whole index in the checksummed format described in [`crate::persist`].
    ///
    /// # Errors
    /// [`TextError::Io`] when writing fails.
    pub fn write_to(&self, w: &mut dyn Write) -> Result<(), TextError> {
        let mut enc = Encoder::new(w);
        enc.bytes(MAGIC)?;
        enc.bytes(&VERSION.to_le_bytes())?;
        enc.varint(self.fields.len() as u64)?;
        for name in &self.fields {
            enc.str(name)?;
        }
        self.write_docs(&mut enc)?;
        self.write_terms(&mut enc)?;
        enc.finish()
    }

    fn write_docs(&self, enc: &mut Encoder<'_>) -> Result<(), TextError> {
        let mut keys: Vec<u32> = self.docs.keys().copied().collect();
        keys.sort_unstable();
        enc.varint(keys.len() as u64)?;
        let mut prev = 0;
        for key in keys {
            enc.varint(u64::from(key - prev))?;
            prev = key;
            for &len in self.docs[&key].lens.iter() {
                enc.varint(u64::from(len))?;
            }
        }
        Ok(())
    }

    fn write_terms(&self, enc: &mut Encoder<'_>) -> Result<(), TextError> {
        enc.varint(self.dict.len() as u64)?;
        for entry in self.dict.iter_sorted() {
            write_term(enc, entry)?;
        }
        Ok(())
    }

    /// Reads an index written by [`TextIndex::write_to`], consuming `r` to its end.
    ///
    /// # Errors
    /// [`TextError::Corrupt`] for any truncation, altered byte, unknown version or inconsistent content;
    /// [`TextError::Io`] when reading fails.
    pub fn read_from(r: &mut dyn Read) -> Result<Self, TextError> {
        let mut data = Vec::new();
        r.read_to_end(&mut data)?;
        let body = verified_body(&data)?;
        let mut dec = Decoder::new(body);
        let mut index = read_fields(&mut dec)?;
        let mut loading = read_docs(&mut dec, &mut index)?;
        let term_count = dec.count(3)?;
        for _ in 0..term_count {
            read_term(&mut dec, &mut index, &mut loading)?;
        }
        if dec.remaining() != 0 {
            return Err(corrupt("trailing bytes after the last term"));
        }
        finish_docs(&mut index, loading)?;
        Ok(index)
    }
}

fn write_term(enc: &mut Encoder<'_>, entry: &TermEntry) -> Result<(), TextError> {
    enc.str(&entry.text)?;
    let mut lists: Vec<&(u8, PostingList)> = entry.lists.iter().collect();
    lists.sort_by_key(|(field, _)| *field);
    enc.varint(lists.len() as u64)?;
    for (field, list) in lists {
        enc.varint(u64::from(*field))?;
        write_list(enc, list)?;
    }
    Ok(())
}

fn write_list(enc: &mut Encoder<'_>, list: &PostingList) -> Result<(), TextError> {
    enc.varint(list.len() as u64)?;
    let mut prev_key = 0;
    for (i, &key) in list.keys().iter().enumerate() {
        enc.varint(u64::from(key - prev_key))?;
        prev_key = key;
        enc.varint(u64::from(list.tf(i)))?;
        let mut prev_pos = 0;
        for &pos in list.positions(i) {
            enc.varint(u64::from(pos - prev_pos))?;
            prev_pos = pos;
        }
    }
    Ok(())
}

/// Checks length, checksum, magic and version; returns the bytes between header and checksum.
fn verified_body(data: &[u8]) -> Result<&[u8], TextError> {
    if data.len() < HEADER_BYTES + CHECKSUM_BYTES {
        return Err(corrupt(format!("{} bytes is shorter than any index file", data.len())));
    }
    let (content, checksum) = data.split_at(data.len() - CHECKSUM_BYTES);
    if blake3::hash(content).as_bytes() != checksum {
        return Err(corrupt("checksum mismatch (truncated or altered file)"));
    }
    if &content[..8] != MAGIC {
        return Err(corrupt("not a text index file (bad magic)"));
    }
    let version = u32::from_le_bytes(content[8..12].try_into().expect("slice of 4 bytes"));
    if version != VERSION {
        return Err(corrupt(format!("unsupported version {version}")));
    }
    Ok(&content[HEADER_BYTES..])
}

fn read_fields(dec: &mut Decoder<'_>) -> Result<TextIndex, TextError> {
    let count = dec.count(2)?;
    let names = (0..count).map(|_| dec.str()).collect::<Result<Vec<&str>, _>>()?;
    TextIndex::new(&names).map_err(|e| corrupt(format!("bad field list: {e}")))
}

/// A document being loaded: its field lengths, (term, field) pairs and the sum of its tfs per field so far.
struct LoadingDoc {
    lens: Vec<u32>,
    terms: Vec<(TermId, u8)>,
    tf_sums: Vec<u64>,
}

fn read_docs(dec: &mut Decoder<'_>, index: &mut TextIndex) -> Result<FastMap<u32, LoadingDoc>, TextError> {
    let field_count = index.fields.len();
    let count = dec.count(1 + field_count)?;
    let mut loading = FastMap::with_capacity_and_hasher(count, Default::default());
    let mut prev: Option<u32> = None;
    for _ in 0..count {
        let key = next_key(dec, prev)?;
        prev = Some(key);
        let lens = (0..field_count).map(|_| dec.u32()).collect::<Result<Vec<u32>, _>>()?;
        if lens.iter().all(|&l| l == 0) {
            return Err(corrupt(format!("document {key} has no tokens")));
        }
        index.add_stats(&lens, 1);
        index.docs.insert(key, DocEntry { lens: lens.clone().into(), terms: Box::new([]) });
        loading.insert(key, LoadingDoc { lens, terms: Vec::new(), tf_sums: vec![0; field_count] });
    }
    if index.positions > INDEX_POSITIONS_MAX {
        return Err(corrupt("more positions than the index may hold"));
    }
    Ok(loading)
}

/// The next key of a strictly ascending, delta-encoded sequence.
fn next_key(dec: &mut Decoder<'_>, prev: Option<u32>) -> Result<u32, TextError> {
    let delta = dec.u32()?;
    match prev {
        None => Ok(delta),
        Some(_) if delta == 0 => Err(corrupt("keys not strictly ascending")),
        Some(p) => p.checked_add(delta).ok_or_else(|| corrupt("key overflows u32")),
    }
}

fn read_term(
    dec: &mut Decoder<'_>,
    index: &mut TextIndex,
    loading: &mut FastMap<u32, LoadingDoc>,
) -> Result<(), TextError> {
    let text = dec.str()?;
    if text.is_empty() {
        return Err(corrupt("empty term"));
    }
    let id = index.dict.get_or_insert(text);
    if !index.dict.entry(id).lists.is_empty() {
        return Err(corrupt(format!("term {text:?} stored twice")));
    }
    let list_count = dec.count(2)?;
    if list_count == 0 {
        return Err(corrupt(format!("term {text:?} has no postings")));
    }
    for _ in 0..list_count {
        read_list(dec, index, loading, id)?;
    }
    Ok(())
}

fn read_list(
    dec: &mut Decoder<'_>,
    index: &mut TextIndex,
    loading: &mut FastMap<u32, LoadingDoc>,
    id: TermId,
) -> Result<(), TextError> {
    let field = dec.u32()?;
    let field = u8::try_from(field).ok().filter(|&f| usize::from(f) < index.fields.len());
    let field = field.ok_or_else(|| corrupt("posting list of an undeclared field"))?;
    if index.dict.entry(id).list(usize::from(field)).is_some() {
        return Err(corrupt("two posting lists for one term and field"));
    }
    let count = dec.count(3)?;
    if count == 0 {
        return Err(corrupt("empty posting list"));
    }
    let mut prev = None;
    let mut positions = Vec::new();
    for _ in 0..count {
        let key = next_key(dec, prev)?;
        prev = Some(key);
        let doc = loading.get_mut(&key).ok_or_else(|| corrupt(format!("posting for unknown document {key}")))?;
        read_positions(dec, &mut positions)?;
        doc.terms.push((id, field));
        doc.tf_sums[usize::from(field)] += positions.len() as u64;
        let len = doc.lens[usize::from(field)];
        index.dict.entry_mut(id).list_mut(field).insert(key, len, &positions);
    }
    Ok(())
}

/// A tf and that many strictly ascending, delta-encoded positions.
fn read_positions(dec: &mut Decoder<'_>, out: &mut Vec<u32>) -> Result<(), TextError> {
    out.clear();
    let tf = dec.count(1)?;
    if tf == 0 {
        return Err(corrupt("posting with zero term frequency"));
    }
    let mut pos = dec.u32()?;
    out.push(pos);
    for _ in 1..tf {
        let delta = dec.u32()?;
        if delta == 0 {
            return Err(corrupt("positions not strictly ascending"));
        }
        pos = pos.checked_add(delta).ok_or_else(|| corrupt("position overflows u32"))?;
        out.push(pos);
    }
    Ok(())
}

/// Checks every document's tfs add up to its field lengths, then installs its forward terms.
fn finish_docs(index: &mut TextIndex, loading: FastMap<u32, LoadingDoc>) -> Result<(), TextError> {
    for (key, doc) in loading {
        let entry = index.docs.get_mut(&key).expect("loading holds exactly the read documents");
        let consistent = entry.lens.iter().zip(&doc.tf_sums).all(|(&len, &sum)| u64::from(len) == sum);
        if !consistent {
            return Err(corrupt(format!("document {key}: field lengths disagree with its postings")));
        }
        entry.terms = doc.terms.into();
    }
    Ok(())
}
