//! Running a search on a caught-up collection index: the filter's candidate
//! set, the k-NN planner (HNSW or exact scan), BM25, and fusion.
//!
//! Planner: a filter whose conditions a declared index answers yields a
//! candidate superset from the in-memory key set; otherwise its selectivity
//! is estimated from a sample. An exact scan costs one distance per
//! candidate; HNSW costs about `ef / selectivity * 2M` distances. The
//! cheaper plan wins. Whatever the plan, when fewer than k results come back
//! while more documents match, an exact scan completes the answer: the
//! planner never silently returns fewer than k.

use crate::catalog::Compiled;
use crate::plan::{Access, plan};
use crate::search::coll_index::{CollIndex, text_error, vector_error};
use crate::search::fields::{CompiledSearch, check_vector};
use crate::search::request::{Fusion, SearchPlan, SearchRequest, VectorPlan};
use engram_core::filter::Filter;
use engram_core::search_spec::VectorMetric;
use engram_core::{Error, Result};
use engram_text::TextQuery;
use engram_vector::Hit;
use std::collections::HashMap;
use std::ops::Bound;

/// Default HNSW candidate-list width.
const EF_DEFAULT: usize = 64;
/// Documents sampled to estimate a filter's selectivity.
const SELECTIVITY_SAMPLE: usize = 256;
/// How far past the cap an index range is read when the sample
/// underestimated it, before the plan gives up on materializing it.
const SUPERSET_SLACK: usize = 4;
/// Results fetched from each side of a hybrid search, per result wanted.
const HYBRID_DEPTH_FACTOR: usize = 4;
/// Least results fetched from each side of a hybrid search.
const HYBRID_DEPTH_MIN: usize = 50;
/// The rank constant of reciprocal rank fusion.
const RRF_K: f32 = 60.0;

/// One ranked result, before documents are read.
#[derive(Debug, Clone)]
pub(crate) struct Ranked {
    pub key: u32,
    pub score: f32,
    pub text_score: Option<f32>,
    pub vector_distance: Option<f32>,
}

/// A request's parts parsed once against the collection: planning,
/// ranking and result assembly all use these.
pub(crate) struct Parsed {
    pub filter: Option<Filter>,
    pub text: Option<TextQuery>,
    /// The searched vector field's number, when the request has a vector.
    pub field: Option<usize>,
}

impl Parsed {
    pub fn of(search: &CompiledSearch, req: &SearchRequest) -> Result<Self> {
        let filter = req.filter.as_ref().map(Filter::parse).transpose()?;
        let text = match &req.text {
            Some(_) if search.text.is_empty() => return Err(Error::invalid("the collection declares no text field")),
            Some(q) => Some(TextQuery::parse(q, &search.text_fields()).map_err(text_error)?),
            None => None,
        };
        let field = req.vector.as_ref().map(|_| search.vector_field(req.vector_field.as_deref())).transpose()?;
        Ok(Self { filter, text, field })
    }
}

/// The documents a filter admits.
struct Admit<'a> {
    index: &'a CollIndex,
    filter: Option<&'a Filter>,
    now_ms: u64,
    /// A superset of the matching keys, ascending, when an index gave one.
    superset: Option<Vec<u32>>,
    /// Membership bitmap of `superset`.
    bitmap: Option<Vec<u64>>,
    /// The sampled estimate of admitted documents, with a filter.
    sampled: Option<usize>,
}

impl<'a> Admit<'a> {
    /// `cap`: the largest superset worth materializing. The filter's
    /// selectivity is first estimated on a sample; only when that suggests
    /// at most `cap` documents is the index range read (reading a large
    /// range costs more than the HNSW search it would feed).
    fn new(index: &'a CollIndex, coll: &Compiled, filter: Option<&'a Filter>, now_ms: u64, cap: usize) -> Self {
        let mut admit = Self { index, filter, now_ms, superset: None, bitmap: None, sampled: None };
        if filter.is_none() {
            return admit;
        }
        let sampled = admit.sample_estimate();
        admit.sampled = Some(sampled);
        if sampled <= cap {
            admit.superset = filter.and_then(|f| superset(index, coll, f, cap.saturating_mul(SUPERSET_SLACK)));
            admit.bitmap = admit.superset.as_ref().map(|s| bitmap(s, index.slots.len()));
        }
        admit
    }

    /// Admitted documents estimated from a sample of the slots.
    fn sample_estimate(&self) -> usize {
        let live: Vec<u32> = sample_keys(self.index, SELECTIVITY_SAMPLE);
        if live.is_empty() {
            return 0;
        }
        let hits = live.iter().filter(|k| self.admits(**k)).count();
        (self.index.len() * hits).div_ceil(live.len())
    }

    /// Every document in the index is admitted (no filter, nothing expires).
    fn admits_all(&self) -> bool {
        self.filter.is_none() && self.index.expiring == 0
    }

    fn admits(&self, key: u32) -> bool {
        if let Some(bits) = &self.bitmap {
            let (w, b) = ((key / 64) as usize, key % 64);
            if bits.get(w).is_none_or(|x| x & (1 << b) == 0) {
                return false;
            }
        }
        self.index.matches(key, self.filter, self.now_ms)
    }

    /// Estimated number of admitted documents (exact with a superset).
    fn estimate(&self) -> usize {
        match (&self.superset, self.sampled) {
            (Some(s), _) => s.len(),
            (None, Some(n)) => n,
            (None, None) => self.index.len(),
        }
    }

    /// Every admitted key, ascending.
    fn all(&self) -> Vec<u32> {
        match &self.superset {
            Some(s) => s.iter().copied().filter(|k| self.admits(*k)).collect(),
            None => (0..self.index.slots.len() as u32).filter(|k| self.admits(*k)).collect(),
        }
    }
}

/// Keys spread evenly over the slots that hold documents.
fn sample_keys(index: &CollIndex, n: usize) -> Vec<u32> {
    let slots = index.slots.len();
    let step = (slots / n.max(1)).max(1);
    (0..slots).step_by(step).filter(|k| index.slots[*k].is_some()).map(|k| k as u32).collect()
}

fn bitmap(keys: &[u32], slots: usize) -> Vec<u64> {
    let mut bits = vec![0u64; slots.div_ceil(64)];
    for k in keys {
        bits[(*k / 64) as usize] |= 1 << (k % 64);
    }
    bits
}

/// The keys in the declared index's range the query planner picks for
/// `filter`, or `None` when no declared index narrows it or the range holds
/// more than `cap` entries.
fn superset(index: &CollIndex, coll: &Compiled, filter: &Filter, cap: usize) -> Option<Vec<u32>> {
    let p = plan(coll, filter.clone(), Vec::new());
    let Access::Index { index: ix, range, .. } = p.access else { return None };
    let start = match &range.start {
        Bound::Included(k) => Bound::Included((ix, k.clone(), 0)),
        Bound::Excluded(k) => Bound::Excluded((ix, k.clone(), u32::MAX)),
        Bound::Unbounded => Bound::Included((ix, Vec::new(), 0)),
    };
    let end = match &range.end {
        Bound::Included(k) => Bound::Included((ix, k.clone(), u32::MAX)),
        Bound::Excluded(k) => Bound::Excluded((ix, k.clone(), 0)),
        Bound::Unbounded => Bound::Excluded((ix + 1, Vec::new(), 0)),
    };
    let mut keys: Vec<u32> = index.keyset.range((start, end)).map(|(_, _, k)| *k).take(cap.saturating_add(1)).collect();
    if keys.len() > cap {
        return None;
    }
    keys.sort_unstable();
    keys.dedup();
    Some(keys)
}

/// Runs the request's text and vector parts and fuses them.
pub(crate) fn run(
    index: &CollIndex,
    coll: &Compiled,
    search: &CompiledSearch,
    req: &SearchRequest,
    parsed: &Parsed,
    now_ms: u64,
) -> Result<(Vec<Ranked>, SearchPlan)> {
    let k = req.k();
    let admit = Admit::new(index, coll, parsed.filter.as_ref(), now_ms, superset_cap(index, search, req, parsed.field));
    let hybrid = req.text.is_some() && req.vector.is_some();
    let depth = if hybrid { (k * HYBRID_DEPTH_FACTOR).max(HYBRID_DEPTH_MIN) } else { k };
    let mut plan = SearchPlan { vector: None, candidates: None, fallback: false };
    let text_hits = match &parsed.text {
        Some(q) => Some(text_search(index, search, q, req, depth, &admit)?),
        None => None,
    };
    let vector_hits = match (&req.vector, parsed.field) {
        (Some(v), Some(field)) => Some(vector_search(index, search, field, v, req, depth, &admit, &mut plan)?),
        _ => None,
    };
    let metric = parsed.field.map(|f| search.vectors[f].spec.metric);
    let ranked = match (text_hits, vector_hits) {
        (Some(t), None) => {
            t.into_iter().map(|(key, s)| Ranked { key, score: s, text_score: Some(s), vector_distance: None }).collect()
        }
        (None, Some(v)) => v
            .into_iter()
            .map(|h| Ranked {
                key: h.key,
                score: similarity(h.distance, metric),
                text_score: None,
                vector_distance: Some(h.distance),
            })
            .collect(),
        (Some(t), Some(v)) => fuse(&t, &v, req, k),
        (None, None) => Vec::new(),
    };
    Ok((ranked.into_iter().take(k).collect(), plan))
}

/// How much cheaper one distance is in an exact scan (sequential memory, no
/// heap or visited set) than in an HNSW search; biases the plan to exact,
/// which is also exact where a correlated filter would starve HNSW.
const EXACT_ADVANTAGE: usize = 4;
/// Largest candidate superset materialized for a text-only search.
const TEXT_SUPERSET_MAX: usize = 65_536;

/// Candidate sets above this size go to HNSW: with `n` documents, `s`
/// candidates cost `s` distances exactly and about `ef·n/s·2M` with HNSW,
/// so exact wins while `s² ≤ ADVANTAGE·ef·n·2M`.
fn superset_cap(index: &CollIndex, search: &CompiledSearch, req: &SearchRequest, field: Option<usize>) -> usize {
    let Some(field) = field else { return TEXT_SUPERSET_MAX };
    if req.plan == VectorPlan::Exact {
        return usize::MAX;
    }
    let m = search.vectors[field].spec.hnsw.m as usize;
    let ef = req.ef.unwrap_or(EF_DEFAULT).max(req.k());
    let n = index.vectors[field].len().max(1);
    ((EXACT_ADVANTAGE * ef * n * 2 * m) as f64).sqrt() as usize
}

/// Higher-is-better similarity from a distance.
fn similarity(distance: f32, metric: Option<VectorMetric>) -> f32 {
    match metric {
        Some(VectorMetric::Cosine) => 1.0 - distance,
        _ => -distance,
    }
}

fn text_search(
    index: &CollIndex,
    search: &CompiledSearch,
    query: &TextQuery,
    req: &SearchRequest,
    depth: usize,
    admit: &Admit<'_>,
) -> Result<Vec<(u32, f32)>> {
    let text = index.text.as_ref().ok_or_else(|| Error::invalid("the collection declares no text field"))?;
    let boosts = boosts(search, req)?;
    let accept = |key: u32| admit.admits(key);
    let filter: Option<&dyn Fn(u32) -> bool> = if admit.admits_all() { None } else { Some(&accept) };
    Ok(text.search(query, depth, &boosts, filter))
}

fn boosts(search: &CompiledSearch, req: &SearchRequest) -> Result<Vec<f32>> {
    let mut boosts: Vec<f32> = search.text.iter().map(|(_, b)| *b).collect();
    if let Some(over) = &req.boosts {
        for (field, b) in over {
            let i = search
                .text
                .iter()
                .position(|(p, _)| p.as_str() == field)
                .ok_or_else(|| Error::invalid(format!("boosts: unknown text field {field:?}")))?;
            if !(b.is_finite() && *b >= 0.0) {
                return Err(Error::invalid(format!("boosts.{field} must be finite and non-negative")));
            }
            boosts[i] = *b;
        }
    }
    Ok(boosts)
}

#[allow(clippy::too_many_arguments)] // the planner's inputs, each used once
fn vector_search(
    index: &CollIndex,
    search: &CompiledSearch,
    field: usize,
    query: &[f32],
    req: &SearchRequest,
    k: usize,
    admit: &Admit<'_>,
    plan: &mut SearchPlan,
) -> Result<Vec<Hit>> {
    let spec = &search.vectors[field].spec;
    check_vector(query, spec).map_err(|e| e.context("vector"))?;
    let vectors = &index.vectors[field];
    let total = vectors.len().max(1);
    let estimate = admit.estimate().min(vectors.len());
    plan.candidates = Some(estimate);
    let ef = req.ef.unwrap_or(EF_DEFAULT).max(k);
    let selectivity = (estimate.max(1) as f64 / total as f64).min(1.0);
    let ef_filtered = ((ef as f64 / selectivity).ceil() as usize).clamp(ef, engram_core::limits::SEARCH_EF_MAX);
    let hnsw_cost = ef_filtered * 2 * spec.hnsw.m as usize;
    let use_exact = match req.plan {
        VectorPlan::Exact => true,
        VectorPlan::Hnsw => false,
        VectorPlan::Auto => estimate <= hnsw_cost * EXACT_ADVANTAGE,
    };
    let accept = |key: u32| admit.admits(key);
    if use_exact {
        plan.vector = Some("exact".into());
        let keys = admit.all();
        plan.candidates = Some(keys.len());
        return vectors.exact(query, k, &mut keys.into_iter()).map_err(vector_error);
    }
    plan.vector = Some("hnsw".into());
    let filter: Option<&dyn Fn(u32) -> bool> = if admit.admits_all() { None } else { Some(&accept) };
    let hits = vectors.search(query, k, ef_filtered, filter).map_err(vector_error)?;
    if hits.len() >= k || req.plan == VectorPlan::Hnsw {
        return Ok(hits);
    }
    // Fewer than k: complete exactly if more documents with a vector match.
    let mut keys = admit.all();
    keys.retain(|k| vectors.contains(*k));
    plan.candidates = Some(keys.len());
    if keys.len() > hits.len() {
        plan.fallback = true;
        return vectors.exact(query, k, &mut keys.into_iter()).map_err(vector_error);
    }
    Ok(hits)
}

/// Fuses text (BM25, descending) and vector (distance, ascending) lists.
fn fuse(text: &[(u32, f32)], vector: &[Hit], req: &SearchRequest, k: usize) -> Vec<Ranked> {
    let mut by_key: HashMap<u32, Ranked> = HashMap::new();
    let entry = |m: &mut HashMap<u32, Ranked>, key: u32| {
        m.entry(key).or_insert(Ranked { key, score: 0.0, text_score: None, vector_distance: None }).key
    };
    let (wt, wv) = (req.text_weight.unwrap_or(0.5), req.vector_weight.unwrap_or(0.5));
    let text_norm = normalizer(text.iter().map(|t| t.1));
    let vec_norm = normalizer(vector.iter().map(|h| -h.distance));
    for (rank, (key, s)) in text.iter().enumerate() {
        entry(&mut by_key, *key);
        let r = by_key.get_mut(key).expect("just inserted");
        r.text_score = Some(*s);
        r.score += match req.fusion {
            Fusion::Rrf => wt * 2.0 / (RRF_K + rank as f32 + 1.0),
            Fusion::Weighted => wt * text_norm(*s),
        };
    }
    for (rank, h) in vector.iter().enumerate() {
        entry(&mut by_key, h.key);
        let r = by_key.get_mut(&h.key).expect("just inserted");
        r.vector_distance = Some(h.distance);
        r.score += match req.fusion {
            Fusion::Rrf => wv * 2.0 / (RRF_K + rank as f32 + 1.0),
            Fusion::Weighted => wv * vec_norm(-h.distance),
        };
    }
    let mut out: Vec<Ranked> = by_key.into_values().collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.key.cmp(&b.key)));
    out.truncate(k);
    out
}

/// Min-max normalization to [0, 1] over a list of scores.
fn normalizer(scores: impl Iterator<Item = f32>) -> impl Fn(f32) -> f32 {
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for s in scores {
        lo = lo.min(s);
        hi = hi.max(s);
    }
    move |s| if hi > lo { (s - lo) / (hi - lo) } else { 1.0 }
}
