//! BM25 scoring constants and the per-(term, field) scorer.
//!
//! For a term `t`, document `d` and field `f`:
//!
//! ```text
//! idf(t, f)    = ln(1 + (N_f - n_f(t) + 0.5) / (n_f(t) + 0.5))
//! bm25_f(t, d) = idf(t, f) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len_f(d) / avglen_f))
//! score(d)     = Σ_clauses Σ_fields boost_f * bm25_f
//! ```
//!
//! with `k1 = 1.2`, `b = 0.75`, `N_f` the documents with at least one token in `f`, `n_f(t)` those holding
//! `t` in `f`, `tf` the occurrences of `t` in `d`'s field `f`, `len_f(d)` its token count and `avglen_f` the
//! mean over the `N_f` documents. A phrase scores like a term whose `tf` is the number of phrase occurrences
//! and whose `idf` is the sum of its words' `idf`s.

/// Term-frequency saturation.
pub const BM25_K1: f32 = 1.2;

/// Length normalization strength.
pub const BM25_B: f32 = 0.75;

/// Inverse document frequency of a term held by `doc_freq` of `docs` documents.
pub(crate) fn idf(docs: u64, doc_freq: u64) -> f32 {
    let (n, df) = (docs as f64, doc_freq as f64);
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln() as f32
}

/// Scores occurrences of one term (or phrase) in one field, with weights folded in once per query.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bm25 {
    /// `boost * idf * (k1 + 1)`.
    weight: f32,
    /// `k1 * (1 - b)`.
    k_base: f32,
    /// `k1 * b / avglen`.
    k_len: f32,
}

impl Bm25 {
    pub(crate) fn new(boost: f32, idf: f32, avg_len: f32) -> Bm25 {
        let avg_len = if avg_len > 0.0 { avg_len } else { 1.0 };
        Bm25 {
            weight: boost * idf * (BM25_K1 + 1.0),
            k_base: BM25_K1 * (1.0 - BM25_B),
            k_len: BM25_K1 * BM25_B / avg_len,
        }
    }

    /// The score of `tf` occurrences in a field of `len` tokens.
    #[inline]
    pub(crate) fn score(&self, tf: u32, len: u32) -> f32 {
        let tf = tf as f32;
        self.weight * tf / (tf + self.k_base + self.k_len * len as f32)
    }

    /// A bound no posting with `tf <= max_tf` and `len >= min_len` exceeds (the score rises with `tf` and
    /// falls with `len`), padded against rounding in sums taken in another order.
    pub(crate) fn upper_bound(&self, max_tf: u32, min_len: u32) -> f32 {
        self.score(max_tf, min_len) * (1.0 + 1e-5)
    }
}

/// Per-field corpus statistics.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FieldStats {
    /// Documents with at least one token in the field (`N_f`).
    pub(crate) docs: u64,
    /// Total tokens of the field over all documents.
    pub(crate) tokens: u64,
}

impl FieldStats {
    pub(crate) fn avg_len(&self) -> f32 {
        if self.docs == 0 { 0.0 } else { (self.tokens as f64 / self.docs as f64) as f32 }
    }
}
