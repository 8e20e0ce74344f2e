//! A BERT encoder's forward pass on the CPU, for sentence embeddings.
//!
//! Sequences are packed, not padded: the position-wise layers (the dense
//! projections, GELU, layer norms) run once over every token of the batch
//! as one matrix, and attention runs per sequence over its own tokens. A
//! sequence that attends only to itself needs no padding mask, so the
//! result equals the padded reference exactly while no work is spent on
//! padding.

use crate::fastmath;
use crate::gemm::{Layout, gemm};
use crate::safetensors::Tensors;
use engram_core::{Error, Result};
use serde::Deserialize;

/// The `config.json` fields the forward pass needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    #[serde(default = "eps")]
    pub layer_norm_eps: f32,
    #[serde(default = "gelu")]
    pub hidden_act: String,
}

fn two() -> usize {
    2
}
fn eps() -> f32 {
    1e-12
}
fn gelu() -> String {
    "gelu".into()
}

impl BertConfig {
    fn check(&self) -> Result<()> {
        let h = self.hidden_size;
        if h == 0 || self.num_attention_heads == 0 || !h.is_multiple_of(self.num_attention_heads) {
            return Err(Error::invalid("config.json: hidden_size must be a multiple of num_attention_heads"));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0 && self.layer_norm_eps < 1.0) {
            return Err(Error::invalid("config.json: layer_norm_eps must be in (0, 1)"));
        }
        if self.hidden_act != "gelu" {
            return Err(Error::invalid(format!(
                "config.json: hidden_act {:?} is not supported (gelu)",
                self.hidden_act
            )));
        }
        for (what, n, max) in [
            ("hidden_size", h, 8192),
            ("num_hidden_layers", self.num_hidden_layers, 96),
            ("intermediate_size", self.intermediate_size, 65536),
            ("vocab_size", self.vocab_size, 1 << 20),
            ("max_position_embeddings", self.max_position_embeddings, 1 << 16),
            ("type_vocab_size", self.type_vocab_size, 16),
        ] {
            if n == 0 || n > max {
                return Err(Error::invalid(format!("config.json: {what} must be 1 to {max}, got {n}")));
            }
        }
        Ok(())
    }
}

/// A dense layer `y = x Wᵀ + b`. PyTorch stores `W` as `[out, in]`; it
/// is kept transposed, `[in, out]` row-major, so the GEMM packs it from
/// contiguous rows (the strided reads of the other layout cost a sixth of
/// the model's time).
struct Linear {
    wt: Vec<f32>,
    b: Vec<f32>,
    inp: usize,
    out: usize,
}

impl Linear {
    fn load(t: &Tensors, name: &str, out: usize, inp: usize) -> Result<Self> {
        let w = t.get(&format!("{name}.weight"), &[out, inp])?;
        Ok(Self { wt: transpose(&w, out, inp), b: t.get(&format!("{name}.bias"), &[out])?, inp, out })
    }

    /// Stacks layers that read the same input into one (Q, K and V): row
    /// `k` of the result is row `k` of each part, side by side.
    fn concat(parts: Vec<Linear>) -> Self {
        let inp = parts[0].inp;
        let out = parts.iter().map(|p| p.out).sum();
        let mut wt = Vec::with_capacity(out * inp);
        for k in 0..inp {
            for p in &parts {
                wt.extend_from_slice(&p.wt[k * p.out..(k + 1) * p.out]);
            }
        }
        let b = parts.iter().flat_map(|p| p.b.iter().copied()).collect();
        Self { wt, b, inp, out }
    }

    /// `x` is `[rows, inp]`; `y` becomes `[rows, out]`.
    fn forward(&self, x: &[f32], rows: usize, y: &mut Vec<f32>) {
        debug_assert_eq!(x.len(), rows * self.inp);
        y.clear();
        for _ in 0..rows {
            y.extend_from_slice(&self.b);
        }
        let x_l = Layout::rows(rows, self.inp, self.inp);
        let w_l = Layout::rows(self.inp, self.out, self.out);
        gemm(1.0, x, x_l, &self.wt, w_l, 1.0, y, Layout::rows(rows, self.out, self.out));
    }
}

/// `m` (`rows × cols`, row-major) transposed.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

struct Norm {
    g: Vec<f32>,
    b: Vec<f32>,
    eps: f32,
}

impl Norm {
    fn load(t: &Tensors, name: &str, n: usize, eps: f32) -> Result<Self> {
        // Old checkpoints name the parameters gamma and beta.
        let (g, b) = if t.has(&format!("{name}.weight")) { ("weight", "bias") } else { ("gamma", "beta") };
        Ok(Self { g: t.get(&format!("{name}.{g}"), &[n])?, b: t.get(&format!("{name}.{b}"), &[n])?, eps })
    }

    /// Normalizes each row of `x` in place.
    fn apply(&self, x: &mut [f32]) {
        let n = self.g.len();
        for row in x.chunks_exact_mut(n) {
            let mean = row.iter().sum::<f32>() / n as f32;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n as f32;
            let inv = 1.0 / (var + self.eps).sqrt();
            for ((v, g), b) in row.iter_mut().zip(&self.g).zip(&self.b) {
                *v = (*v - mean) * inv * g + b;
            }
        }
    }
}

struct Layer {
    qkv: Linear,
    attn_out: Linear,
    attn_norm: Norm,
    up: Linear,
    down: Linear,
    out_norm: Norm,
}

/// The encoder's weights.
pub struct Bert {
    cfg: BertConfig,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    emb_norm: Norm,
    layers: Vec<Layer>,
}

/// Scratch buffers reused across calls on one thread.
#[derive(Default)]
pub struct Scratch {
    x: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    up: Vec<f32>,
    scores: Vec<f32>,
}

impl Bert {
    pub fn load(cfg: BertConfig, t: &Tensors) -> Result<Self> {
        cfg.check()?;
        // Checkpoints saved from BertModel have no prefix; from a task model, `bert.`.
        let p = if t.has("embeddings.word_embeddings.weight") { "" } else { "bert." };
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let eps = cfg.layer_norm_eps;
        let word = t.get(&format!("{p}embeddings.word_embeddings.weight"), &[cfg.vocab_size, h])?;
        let position =
            t.get(&format!("{p}embeddings.position_embeddings.weight"), &[cfg.max_position_embeddings, h])?;
        let token_type = t.get(&format!("{p}embeddings.token_type_embeddings.weight"), &[cfg.type_vocab_size, h])?;
        let emb_norm = Norm::load(t, &format!("{p}embeddings.LayerNorm"), h, eps)?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for l in 0..cfg.num_hidden_layers {
            let n = format!("{p}encoder.layer.{l}");
            let qkv = Linear::concat(vec![
                Linear::load(t, &format!("{n}.attention.self.query"), h, h)?,
                Linear::load(t, &format!("{n}.attention.self.key"), h, h)?,
                Linear::load(t, &format!("{n}.attention.self.value"), h, h)?,
            ]);
            layers.push(Layer {
                qkv,
                attn_out: Linear::load(t, &format!("{n}.attention.output.dense"), h, h)?,
                attn_norm: Norm::load(t, &format!("{n}.attention.output.LayerNorm"), h, eps)?,
                up: Linear::load(t, &format!("{n}.intermediate.dense"), i, h)?,
                down: Linear::load(t, &format!("{n}.output.dense"), h, i)?,
                out_norm: Norm::load(t, &format!("{n}.output.LayerNorm"), h, eps)?,
            });
        }
        Ok(Self { cfg, word, position, token_type, emb_norm, layers })
    }

    pub fn hidden_size(&self) -> usize {
        self.cfg.hidden_size
    }

    pub fn vocab_size(&self) -> usize {
        self.cfg.vocab_size
    }

    /// Mean-pooled last hidden states, one `hidden_size` vector per
    /// sequence of token ids (each at most `max_positions` long, ids below
    /// `vocab_size`: the tokenizer wrapper guarantees both).
    pub fn pooled(&self, seqs: &[Vec<u32>], s: &mut Scratch) -> Vec<Vec<f32>> {
        let h = self.cfg.hidden_size;
        let total: usize = seqs.iter().map(Vec::len).sum();
        self.embed_tokens(seqs, &mut s.x);
        for layer in &self.layers {
            self.layer(layer, seqs, total, s);
        }
        let mut out = Vec::with_capacity(seqs.len());
        let mut start = 0;
        for seq in seqs {
            let mut mean = vec![0f32; h];
            for row in s.x[start * h..(start + seq.len()) * h].chunks_exact(h) {
                mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
            }
            let n = seq.len().max(1) as f32;
            mean.iter_mut().for_each(|m| *m /= n);
            out.push(mean);
            start += seq.len();
        }
        out
    }

    /// Word + position + token-type (0) embeddings, layer-normed.
    fn embed_tokens(&self, seqs: &[Vec<u32>], x: &mut Vec<f32>) {
        let h = self.cfg.hidden_size;
        x.clear();
        for seq in seqs {
            for (pos, &id) in seq.iter().enumerate() {
                let w = &self.word[id as usize * h..][..h];
                let p = &self.position[pos * h..][..h];
                let t = &self.token_type[..h];
                x.extend(w.iter().zip(p).zip(t).map(|((a, b), c)| a + b + c));
            }
        }
        self.emb_norm.apply(x);
    }

    fn layer(&self, l: &Layer, seqs: &[Vec<u32>], total: usize, s: &mut Scratch) {
        let h = self.cfg.hidden_size;
        l.qkv.forward(&s.x, total, &mut s.qkv);
        s.ctx.clear();
        s.ctx.resize(total * h, 0.0);
        let mut start = 0;
        for seq in seqs {
            self.attend(&s.qkv, start, seq.len(), &mut s.ctx, &mut s.scores);
            start += seq.len();
        }
        l.attn_out.forward(&s.ctx, total, &mut s.tmp);
        add_into(&mut s.tmp, &s.x);
        l.attn_norm.apply(&mut s.tmp);
        std::mem::swap(&mut s.x, &mut s.tmp);
        l.up.forward(&s.x, total, &mut s.up);
        fastmath::gelu_all(&mut s.up);
        l.down.forward(&s.up, total, &mut s.tmp);
        add_into(&mut s.tmp, &s.x);
        l.out_norm.apply(&mut s.tmp);
        std::mem::swap(&mut s.x, &mut s.tmp);
    }

    /// Multi-head self-attention of one sequence (rows `start..start+n` of
    /// `qkv`, laid out `[q | k | v]` per row), written into `ctx`.
    fn attend(&self, qkv: &[f32], start: usize, n: usize, ctx: &mut [f32], scores: &mut Vec<f32>) {
        let h = self.cfg.hidden_size;
        let heads = self.cfg.num_attention_heads;
        let d = h / heads;
        let row = 3 * h;
        let scale = 1.0 / (d as f32).sqrt();
        scores.clear();
        scores.resize(n * n, 0.0);
        for head in 0..heads {
            let at = start * row + head * d;
            if n <= SMALL_ATTENTION_TOKENS {
                attend_small(&qkv[at..], n, d, row, scale, scores, &mut ctx[start * h + head * d..], h);
                continue;
            }
            let q = Layout::rows(n, d, row);
            // Kᵀ: the key rows of this head, transposed.
            let kt = Layout::rows(n, d, row).t();
            let sl = Layout::rows(n, n, n);
            gemm(scale, &qkv[at..], q, &qkv[at + h..], kt, 0.0, scores, sl);
            for r in scores.chunks_exact_mut(n) {
                softmax(r);
            }
            let v = Layout::rows(n, d, row);
            gemm(1.0, scores, sl, &qkv[at + 2 * h..], v, 0.0, &mut ctx[start * h + head * d..], Layout::rows(n, d, h));
        }
    }
}

/// Sequences up to this many tokens attend with plain loops: for short
/// sentences the GEMM kernel's packing costs more than the arithmetic.
const SMALL_ATTENTION_TOKENS: usize = 64;

/// One head's attention of one short sequence: `qkv` starts at the
/// head's query of the first token (key at +h... given by `row` layout:
/// query at 0, key at `row / 3`, value at `2 * row / 3`), rows `row` apart;
/// the context goes to `ctx`, rows `ctx_row` apart.
#[allow(clippy::too_many_arguments)]
fn attend_small(
    qkv: &[f32],
    n: usize,
    d: usize,
    row: usize,
    scale: f32,
    scores: &mut [f32],
    ctx: &mut [f32],
    ctx_row: usize,
) {
    let h = row / 3;
    for i in 0..n {
        let q = &qkv[i * row..][..d];
        let r = &mut scores[i * n..][..n];
        for (j, s) in r.iter_mut().enumerate() {
            *s = dot(q, &qkv[j * row + h..][..d]) * scale;
        }
        softmax(r);
        let out = &mut ctx[i * ctx_row..][..d];
        out.iter_mut().for_each(|o| *o = 0.0);
        for (j, &p) in r.iter().enumerate() {
            let v = &qkv[j * row + 2 * h..][..d];
            out.iter_mut().zip(v).for_each(|(o, x)| *o += p * x);
        }
    }
}

/// A dot product in eight lanes (so it vectorizes; the lanes are summed
/// at the end, a different rounding order than one running sum).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

fn add_into(y: &mut [f32], x: &[f32]) {
    y.iter_mut().zip(x).for_each(|(a, b)| *a += b);
}

fn softmax(r: &mut [f32]) {
    let max = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in r.iter_mut() {
        *v = fastmath::exp(*v - max);
        sum += *v;
    }
    r.iter_mut().for_each(|v| *v /= sum);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut r = vec![1.0, 2.0, 3.0, 12.0];
        softmax(&mut r);
        assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(r[3] > 0.999 && r[0] < r[1] && r[1] < r[2]);
        // Large scores do not overflow.
        let mut big = vec![1000.0, 1000.0];
        softmax(&mut big);
        assert_eq!(big, vec![0.5, 0.5]);
    }

    #[test]
    fn gelu_matches_known_values() {
        assert!((fastmath::gelu(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((fastmath::gelu(-1.0) + 0.158_655_25).abs() < 1e-6);
        assert_eq!(fastmath::gelu(0.0), 0.0);
    }

    #[test]
    fn linear_computes_x_w_transposed_plus_bias() {
        // W = [[1, 2], [3, 4], [5, 6]] (out 3, in 2), b = [1, 0, -1].
        let l = Linear { wt: transpose(&[1., 2., 3., 4., 5., 6.], 3, 2), b: vec![1., 0., -1.], inp: 2, out: 3 };
        let mut y = Vec::new();
        l.forward(&[1., 1., 0., 2.], 2, &mut y);
        assert_eq!(y, vec![4., 7., 10., 5., 8., 11.]);
        // Stacked with itself: each output row is the two side by side.
        let twice = Linear::concat(vec![
            Linear { wt: l.wt.clone(), b: l.b.clone(), inp: 2, out: 3 },
            Linear { wt: l.wt.clone(), b: l.b.clone(), inp: 2, out: 3 },
        ]);
        twice.forward(&[1., 1.], 1, &mut y);
        assert_eq!(y, vec![4., 7., 10., 4., 7., 10.]);
    }

    #[test]
    fn config_rejects_unsupported_shapes() {
        let cfg = |heads: usize, act: &str| BertConfig {
            vocab_size: 10,
            hidden_size: 8,
            num_hidden_layers: 1,
            num_attention_heads: heads,
            intermediate_size: 16,
            max_position_embeddings: 8,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_act: act.into(),
        };
        assert!(cfg(2, "gelu").check().is_ok());
        assert!(cfg(3, "gelu").check().is_err());
        assert!(cfg(2, "relu").check().unwrap_err().to_string().contains("relu"));
    }
}
