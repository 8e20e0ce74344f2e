//! The term dictionary: term text to id, a sorted view for prefix expansion, and each term's posting lists.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::hash::FastMap;
use crate::postings::PostingList;

/// Dense id of a live term; ids of dead terms are reused.
pub(crate) type TermId = u32;

/// A term and its postings, one list per field it occurs in.
#[derive(Debug)]
pub(crate) struct TermEntry {
    pub(crate) text: Box<str>,
    /// At most one list per field, each non-empty.
    pub(crate) lists: Vec<(u8, PostingList)>,
}

impl TermEntry {
    /// The term's postings in `field`, if it occurs there.
    pub(crate) fn list(&self, field: usize) -> Option<&PostingList> {
        self.lists.iter().find(|(f, _)| usize::from(*f) == field).map(|(_, l)| l)
    }

    /// The postings in `field`, created empty if needed.
    pub(crate) fn list_mut(&mut self, field: u8) -> &mut PostingList {
        let i = match self.lists.iter().position(|(f, _)| *f == field) {
            Some(i) => i,
            None => {
                self.lists.push((field, PostingList::default()));
                self.lists.len() - 1
            }
        };
        &mut self.lists[i].1
    }

    /// Removes `key` from the list of `field`, dropping the list when it empties.
    pub(crate) fn remove_posting(&mut self, field: u8, key: u32) {
        if let Some(i) = self.lists.iter().position(|(f, _)| *f == field) {
            self.lists[i].1.remove(key);
            if self.lists[i].1.is_empty() {
                self.lists.swap_remove(i);
            }
        }
    }

    /// Documents holding the term in `field`, or in any field when `None`.
    pub(crate) fn doc_freq(&self, field: Option<usize>) -> usize {
        match field {
            Some(f) => self.list(f).map_or(0, PostingList::len),
            None => self.lists.iter().map(|(_, l)| l.len()).sum(),
        }
    }
}

/// All live terms.
///
/// Invariant: a term is in `ids`, `sorted` and `entries` exactly when it has at least one posting
/// (between operations; `upsert` and `remove` restore it before returning).
#[derive(Debug, Default)]
pub(crate) struct Dictionary {
    ids: FastMap<Box<str>, TermId>,
    /// Sorted copy of the keys, only for prefix expansion and deterministic persistence.
    sorted: BTreeMap<Box<str>, TermId>,
    entries: Vec<Option<TermEntry>>,
    free: Vec<TermId>,
}

impl Dictionary {
    /// Number of live terms.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn get(&self, term: &str) -> Option<TermId> {
        self.ids.get(term).copied()
    }

    pub(crate) fn entry(&self, id: TermId) -> &TermEntry {
        self.entries[id as usize].as_ref().expect("ids handed out refer to live entries")
    }

    pub(crate) fn entry_mut(&mut self, id: TermId) -> &mut TermEntry {
        self.entries[id as usize].as_mut().expect("ids handed out refer to live entries")
    }

    /// The id of `term`, adding an entry without postings when new (the caller adds one at once).
    pub(crate) fn get_or_insert(&mut self, term: &str) -> TermId {
        if let Some(id) = self.get(term) {
            return id;
        }
        let entry = TermEntry { text: term.into(), lists: Vec::new() };
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = Some(entry);
                id
            }
            None => {
                self.entries.push(Some(entry));
                TermId::try_from(self.entries.len() - 1).expect("term count bounded by INDEX_POSITIONS_MAX")
            }
        };
        self.ids.insert(term.into(), id);
        self.sorted.insert(term.into(), id);
        id
    }

    /// Drops the term when its last posting is gone, so removed text leaves no trace.
    pub(crate) fn remove_if_empty(&mut self, id: TermId) {
        let slot = &mut self.entries[id as usize];
        if slot.as_ref().is_some_and(|e| e.lists.is_empty()) {
            let entry = slot.take().expect("checked live above");
            self.ids.remove(&entry.text);
            self.sorted.remove(&entry.text);
            self.free.push(id);
        }
    }

    /// Live terms starting with `prefix`, in lexicographic order.
    pub(crate) fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = TermId> + 'a {
        self.sorted
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(t, _)| t.starts_with(prefix))
            .map(|(_, id)| *id)
    }

    /// All live terms in lexicographic order.
    pub(crate) fn iter_sorted(&self) -> impl Iterator<Item = &TermEntry> + '_ {
        self.sorted.values().map(|id| self.entry(*id))
    }
}
