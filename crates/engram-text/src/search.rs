//! Top-k retrieval: MaxScore over optional clauses, leapfrog intersection over required ones.

use crate::index::TextIndex;
use crate::leaf::{END, Leaf};
use crate::limits::K_MAX;
use crate::plan::plan;
use crate::query::TextQuery;
use crate::topk::TopK;

impl TextIndex {
    /// The best `k` (at most [`crate::K_MAX`]) documents for `q` as `(key, score)`, by BM25 score descending,
    /// ties by key ascending.
    ///
    /// `boosts[f]` multiplies field `f`'s scores; an empty (or short) slice means 1.0 for missing fields, and a
    /// zero, negative or NaN boost takes the field out of matching (except for `-` clauses). Keys for which
    /// `filter` returns false are never returned and never take the place of a key that passes.
    /// `q` must have been parsed against this index's fields.
    pub fn search(
        &self,
        q: &TextQuery,
        k: usize,
        boosts: &[f32],
        filter: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<(u32, f32)> {
        let k = k.min(K_MAX);
        let plan = plan(self, q, boosts);
        if k == 0 || plan.impossible {
            return Vec::new();
        }
        let mut top = TopK::new(k);
        let mut excluded = Excluder { leaves: plan.must_not };
        let mut accept = |key: u32| !excluded.excludes(key) && filter.is_none_or(|f| f(key));
        if plan.must.is_empty() {
            max_score(plan.should, &mut top, &mut accept);
        } else {
            conjunction(plan.must, plan.should, &mut top, &mut accept);
        }
        top.into_sorted()
    }
}

/// Membership test against the excluded clauses; keys must be asked in ascending order.
struct Excluder<'a> {
    leaves: Vec<Leaf<'a>>,
}

impl Excluder<'_> {
    fn excludes(&mut self, key: u32) -> bool {
        let key = u64::from(key);
        self.leaves.iter_mut().any(|leaf| {
            leaf.advance_to(key);
            leaf.doc() == key
        })
    }
}

/// Disjunction with MaxScore pruning.
///
/// Leaves are sorted by upper bound; `prefix[i]` is the sum of the bounds of leaves `0..=i`. Leaves below
/// `first_essential` cannot together lift a document past the current threshold, so only documents of the
/// other ("essential") leaves are candidates, and the non-essential ones are probed only while the
/// candidate could still make it. Documents are visited in ascending key order.
fn max_score(mut leaves: Vec<Leaf<'_>>, top: &mut TopK, accept: &mut dyn FnMut(u32) -> bool) {
    leaves.sort_by(|a, b| a.upper_bound().total_cmp(&b.upper_bound()));
    let prefix: Vec<f32> = leaves
        .iter()
        .scan(0.0f32, |sum, leaf| {
            *sum += leaf.upper_bound();
            Some(*sum)
        })
        .collect();
    let mut first_essential = 0;
    loop {
        let doc = leaves[first_essential..].iter().map(Leaf::doc).min().unwrap_or(END);
        if doc == END {
            return;
        }
        let Some(score) = score_candidate(&mut leaves, first_essential, &prefix, doc, top.threshold()) else {
            continue;
        };
        let key = u32::try_from(doc).expect("doc below END is a u32 key");
        if top.admits(key, score) && accept(key) {
            top.push(key, score);
            let threshold = top.threshold();
            while first_essential < leaves.len() && prefix[first_essential] <= threshold {
                first_essential += 1;
            }
        }
    }
}

/// Scores `doc` on the essential leaves (moving them past it), then on the non-essential ones from the
/// strongest down while the candidate can still beat `threshold`; `None` once it cannot.
fn score_candidate(
    leaves: &mut [Leaf<'_>],
    first_essential: usize,
    prefix: &[f32],
    doc: u64,
    threshold: f32,
) -> Option<f32> {
    let mut score = 0.0;
    for leaf in leaves[first_essential..].iter_mut().filter(|l| l.doc() == doc) {
        score += leaf.score();
        leaf.next();
    }
    for i in (0..first_essential).rev() {
        if score + prefix[i] <= threshold {
            return None;
        }
        let leaf = &mut leaves[i];
        leaf.advance_to(doc);
        if leaf.doc() == doc {
            score += leaf.score();
        }
    }
    Some(score)
}

/// Conjunction of the required leaves (leapfrogging from the shortest), plus optional leaves' scores.
fn conjunction(
    mut must: Vec<Leaf<'_>>,
    mut should: Vec<Leaf<'_>>,
    top: &mut TopK,
    accept: &mut dyn FnMut(u32) -> bool,
) {
    must.sort_by_key(Leaf::len);
    let should_bound: f32 = should.iter().map(Leaf::upper_bound).sum();
    let must_bound: f32 = must.iter().map(Leaf::upper_bound).sum();
    let mut target = must[0].doc();
    while target != END {
        if let Some(next) = align(&mut must, target) {
            target = next;
            continue;
        }
        let mut score: f32 = must.iter().map(Leaf::score).sum();
        if score + should_bound > top.threshold() {
            score += optional_score(&mut should, target);
        }
        let key = u32::try_from(target).expect("doc below END is a u32 key");
        if top.admits(key, score) && accept(key) {
            top.push(key, score);
            if must_bound + should_bound <= top.threshold() {
                return;
            }
        }
        must[0].next();
        target = must[0].doc();
    }
}

/// Moves all required leaves to `target`; `Some(larger key)` to retry from when one of them lacks it.
fn align(must: &mut [Leaf<'_>], target: u64) -> Option<u64> {
    for leaf in must.iter_mut() {
        leaf.advance_to(target);
        if leaf.doc() != target {
            return Some(leaf.doc());
        }
    }
    None
}

/// Sum of the optional leaves' scores at `doc`.
fn optional_score(should: &mut [Leaf<'_>], doc: u64) -> f32 {
    let mut score = 0.0;
    for leaf in should.iter_mut() {
        leaf.advance_to(doc);
        if leaf.doc() == doc {
            score += leaf.score();
        }
    }
    score
}
