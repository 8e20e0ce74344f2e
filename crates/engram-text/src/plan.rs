//! Query planning: resolves each clause against the dictionary into scoring leaves.

use crate::bm25::{Bm25, idf};
use crate::dictionary::TermId;
use crate::index::TextIndex;
use crate::leaf::{Leaf, merge};
use crate::limits::PREFIX_EXPANSION_MAX;
use crate::phrase::phrase_matches;
use crate::postings::PostingList;
use crate::query::{Clause, ClauseKind, Occur, TextQuery};

/// The leaves of a query, by role.
pub(crate) struct Plan<'a> {
    /// Optional leaves; any one matching makes a document match when `must` is empty.
    pub(crate) should: Vec<Leaf<'a>>,
    /// One leaf per required clause; a result matches all.
    pub(crate) must: Vec<Leaf<'a>>,
    /// A result matches none.
    pub(crate) must_not: Vec<Leaf<'a>>,
    /// Some required clause matches nothing, so neither does the query.
    pub(crate) impossible: bool,
}

/// Builds the plan of `query`; `boosts[f]` weighs field `f` (missing entries count as 1.0; zero, negative
/// or NaN boosts take the field out of scoring clauses, though `-` clauses still see it).
pub(crate) fn plan<'a>(index: &'a TextIndex, query: &TextQuery, boosts: &[f32]) -> Plan<'a> {
    let planner = Planner { index, boosts: normalize_boosts(boosts, index.fields.len()) };
    let mut plan = Plan { should: Vec::new(), must: Vec::new(), must_not: Vec::new(), impossible: false };
    for clause in &query.clauses {
        let scoring = clause.occur != Occur::MustNot;
        let mut leaves = planner.clause_leaves(clause, &planner.scope(clause, scoring));
        match clause.occur {
            Occur::Should => plan.should.append(&mut leaves),
            Occur::MustNot => plan.must_not.append(&mut leaves),
            Occur::Must if leaves.is_empty() => plan.impossible = true,
            Occur::Must if leaves.len() == 1 => plan.must.append(&mut leaves),
            Occur::Must => plan.must.push(merge(leaves)),
        }
    }
    plan
}

/// One boost per field: the given value when positive, 0.0 when zero, negative or NaN, 1.0 when absent.
fn normalize_boosts(boosts: &[f32], field_count: usize) -> Vec<f32> {
    (0..field_count).map(|f| boosts.get(f).map_or(1.0, |&b| if b > 0.0 { b } else { 0.0 })).collect()
}

struct Planner<'a> {
    index: &'a TextIndex,
    boosts: Vec<f32>,
}

impl<'a> Planner<'a> {
    /// Fields a clause searches; scoring clauses skip zero-boost fields.
    fn scope(&self, clause: &Clause, scoring: bool) -> Vec<usize> {
        let all = 0..self.index.fields.len();
        let fields: Vec<usize> = match clause.field {
            Some(f) => all.filter(|&i| i == f).collect(),
            None => all.collect(),
        };
        fields.into_iter().filter(|&f| !scoring || self.boosts[f] > 0.0).collect()
    }

    fn clause_leaves(&self, clause: &Clause, fields: &[usize]) -> Vec<Leaf<'a>> {
        match &clause.kind {
            ClauseKind::Term(term) => self.index.dict.get(term).map_or(Vec::new(), |id| self.term_leaves(id, fields)),
            ClauseKind::Phrase(words) => self.phrase_leaves(words, fields),
            ClauseKind::Prefix(prefix) => self.prefix_leaves(prefix, clause.field, fields),
        }
    }

    /// BM25 scorer for a term (or phrase with summed idf) in `field`.
    fn bm25(&self, field: usize, idf: f32) -> Bm25 {
        Bm25::new(self.boosts[field], idf, self.index.stats[field].avg_len())
    }

    fn idf(&self, field: usize, list: &PostingList) -> f32 {
        idf(self.index.stats[field].docs, list.len() as u64)
    }

    /// One live leaf per field holding the term.
    fn term_leaves(&self, id: TermId, fields: &[usize]) -> Vec<Leaf<'a>> {
        let entry = self.index.dict.entry(id);
        let lists = fields.iter().filter_map(|&f| entry.list(f).map(|list| (f, list)));
        lists.map(|(f, list)| Leaf::live(list, self.bm25(f, self.idf(f, list)))).collect()
    }

    /// One fixed leaf over all fields' phrase occurrences (empty when none).
    fn phrase_leaves(&self, words: &[(String, u32)], fields: &[usize]) -> Vec<Leaf<'a>> {
        let offsets: Vec<u32> = words.iter().map(|w| w.1).collect();
        let per_field: Vec<Leaf<'a>> =
            fields.iter().filter_map(|&f| self.phrase_in_field(words, &offsets, f)).collect();
        match per_field.len() {
            0 | 1 => per_field,
            _ => vec![merge(per_field)],
        }
    }

    fn phrase_in_field(&self, words: &[(String, u32)], offsets: &[u32], field: usize) -> Option<Leaf<'a>> {
        let dict = &self.index.dict;
        let lists: Option<Vec<&PostingList>> =
            words.iter().map(|(w, _)| dict.get(w).and_then(|id| dict.entry(id).list(field))).collect();
        let lists = lists?;
        let bm25 = self.bm25(field, lists.iter().map(|l| self.idf(field, l)).sum());
        let pairs: Vec<(u32, f32)> = phrase_matches(&lists, offsets)
            .into_iter()
            .map(|(key, count, len)| (key, bm25.score(count, len)))
            .collect();
        (!pairs.is_empty()).then(|| Leaf::fixed(pairs))
    }

    /// One fixed leaf summing the term scores of the most frequent expansions of `prefix`.
    fn prefix_leaves(&self, prefix: &str, field: Option<usize>, fields: &[usize]) -> Vec<Leaf<'a>> {
        let dict = &self.index.dict;
        let mut expansions: Vec<(usize, TermId)> =
            dict.with_prefix(prefix).map(|id| (dict.entry(id).doc_freq(field), id)).filter(|e| e.0 > 0).collect();
        // Stable: equally frequent terms keep lexicographic order, so the cut is deterministic.
        expansions.sort_by_key(|e| std::cmp::Reverse(e.0));
        expansions.truncate(PREFIX_EXPANSION_MAX);
        let leaves: Vec<Leaf<'a>> = expansions.into_iter().flat_map(|(_, id)| self.term_leaves(id, fields)).collect();
        if leaves.is_empty() { leaves } else { vec![merge(leaves)] }
    }
}
