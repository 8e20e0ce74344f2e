//! One posting list: the documents holding one term in one field, sorted by key, with positions beside.

/// Postings of one (term, field) pair.
///
/// Invariants: `keys` is strictly increasing; `lens`, `ends` are parallel to `keys`; the positions of
/// posting `i` are `positions[ends[i-1]..ends[i]]` (from 0 for `i == 0`), strictly increasing, so its term
/// frequency is their count. Positions live apart from keys so that scoring never touches them.
#[derive(Debug, Default)]
pub(crate) struct PostingList {
    keys: Vec<u32>,
    /// The field's length (kept tokens) in each document, so scoring needs no per-document lookup.
    lens: Vec<u32>,
    /// Cumulative end offset of each posting's positions.
    ends: Vec<u32>,
    positions: Vec<u32>,
    /// Upper bound on any posting's term frequency; never lowered on removal, so it stays a valid bound.
    max_tf: u32,
    /// Lower bound on any posting's field length; never raised on removal, so it stays a valid bound.
    min_len: u32,
}

impl PostingList {
    /// Number of documents in the list.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The sorted document keys.
    pub(crate) fn keys(&self) -> &[u32] {
        &self.keys
    }

    /// The field length of posting `i`'s document.
    #[inline]
    pub(crate) fn field_len(&self, i: usize) -> u32 {
        self.lens[i]
    }

    /// Term frequency of posting `i`.
    #[inline]
    pub(crate) fn tf(&self, i: usize) -> u32 {
        self.ends[i] - self.start(i)
    }

    /// Positions of the term in posting `i`'s document, ascending.
    pub(crate) fn positions(&self, i: usize) -> &[u32] {
        &self.positions[self.start(i) as usize..self.ends[i] as usize]
    }

    /// Upper bound on term frequencies in this list.
    pub(crate) fn max_tf(&self) -> u32 {
        self.max_tf
    }

    /// Lower bound on field lengths in this list.
    pub(crate) fn min_len(&self) -> u32 {
        self.min_len
    }

    #[inline]
    fn start(&self, i: usize) -> u32 {
        if i == 0 { 0 } else { self.ends[i - 1] }
    }

    /// Adds `key` with its field length and (non-empty, ascending) positions, keeping keys sorted.
    ///
    /// The caller has removed any previous posting of `key` and keeps the index's total positions
    /// within `u32` (see [`crate::limits::INDEX_POSITIONS_MAX`]).
    pub(crate) fn insert(&mut self, key: u32, field_len: u32, positions: &[u32]) {
        let tf = u32::try_from(positions.len()).expect("positions bounded by INDEX_POSITIONS_MAX");
        self.update_bounds(tf, field_len);
        match self.keys.last() {
            None => self.push(key, field_len, positions, tf),
            Some(&last) if last < key => self.push(key, field_len, positions, tf),
            Some(_) => self.insert_inside(key, field_len, positions, tf),
        }
    }

    fn update_bounds(&mut self, tf: u32, field_len: u32) {
        self.min_len = if self.keys.is_empty() { field_len } else { self.min_len.min(field_len) };
        self.max_tf = self.max_tf.max(tf);
    }

    /// The common case: keys arrive ascending.
    fn push(&mut self, key: u32, field_len: u32, positions: &[u32], tf: u32) {
        let end = self.ends.last().copied().unwrap_or(0) + tf;
        self.keys.push(key);
        self.lens.push(field_len);
        self.ends.push(end);
        self.positions.extend_from_slice(positions);
    }

    /// A reused (smaller) key: shift the tail, keeping `ends` cumulative.
    fn insert_inside(&mut self, key: u32, field_len: u32, positions: &[u32], tf: u32) {
        let i = match self.keys.binary_search(&key) {
            Ok(existing) => {
                self.remove_at(existing);
                existing
            }
            Err(i) => i,
        };
        let start = self.start(i);
        self.keys.insert(i, key);
        self.lens.insert(i, field_len);
        self.ends.insert(i, start + tf);
        self.ends[i + 1..].iter_mut().for_each(|e| *e += tf);
        let at = start as usize;
        self.positions.splice(at..at, positions.iter().copied());
    }

    /// Removes `key`'s posting and its positions; false when absent.
    pub(crate) fn remove(&mut self, key: u32) -> bool {
        match self.keys.binary_search(&key) {
            Ok(i) => {
                self.remove_at(i);
                true
            }
            Err(_) => false,
        }
    }

    fn remove_at(&mut self, i: usize) {
        let (start, end) = (self.start(i), self.ends[i]);
        let tf = end - start;
        self.positions.drain(start as usize..end as usize);
        self.keys.remove(i);
        self.lens.remove(i);
        self.ends.remove(i);
        self.ends[i..].iter_mut().for_each(|e| *e -= tf);
        if self.keys.is_empty() {
            *self = PostingList::default();
        }
    }
}
