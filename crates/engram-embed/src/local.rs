//! The local sentence embedder: a BERT-style model from a directory
//! holding `model.safetensors`, `tokenizer.json` and `config.json` (and,
//! when present, sentence-transformers' `sentence_bert_config.json` and
//! `1_Pooling/config.json`), mean-pooled and L2-normalized.

use crate::bert::{Bert, BertConfig, Scratch};
use crate::pool::BatchModel;
use crate::safetensors::Tensors;
use crate::tokenize::Tokens;
use engram_core::embed::{EmbedderInfo, normalize};
use engram_core::search_spec::EmbeddingModel;
use engram_core::{Error, Result};
use serde::Deserialize;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

/// Texts per forward pass (sentence-transformers' default batch).
pub const LOCAL_BATCH_TEXTS: usize = 32;

pub struct LocalModel {
    bert: Bert,
    tokens: Tokens,
    info: EmbedderInfo,
    scratch: Mutex<Vec<Scratch>>,
}

#[derive(Deserialize)]
struct SentenceConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
}

impl LocalModel {
    /// Loads the model in `dir`; `name` is how specs and status show it.
    pub fn load(dir: &Path, name: &str) -> Result<Self> {
        let read = |file: &str| {
            std::fs::read(dir.join(file))
                .map_err(|e| Error::invalid(format!("reading {}: {e}", dir.join(file).display())))
        };
        let cfg: BertConfig =
            serde_json::from_slice(&read("config.json")?).map_err(|e| Error::invalid(format!("config.json: {e}")))?;
        check_pooling(dir)?;
        let max_len = sentence_max_len(dir)?.unwrap_or(cfg.max_position_embeddings).min(cfg.max_position_embeddings);
        let weights_path = dir.join("model.safetensors");
        let tensors = Tensors::open(&weights_path)?;
        let bert = Bert::load(cfg, &tensors)?;
        drop(tensors);
        let tokens = Tokens::load(&dir.join("tokenizer.json"), max_len, bert.vocab_size())?;
        let version = model_version(dir)?;
        let info = EmbedderInfo {
            model: EmbeddingModel { name: name.to_owned(), version },
            dims: u32::try_from(bert.hidden_size()).map_err(|_| Error::invalid("hidden_size too large"))?,
        };
        Ok(Self { bert, tokens, info, scratch: Mutex::new(Vec::new()) })
    }
}

/// Only mean pooling is implemented; a model configured otherwise is
/// refused rather than embedded wrongly.
fn check_pooling(dir: &Path) -> Result<()> {
    let Ok(bytes) = std::fs::read(dir.join("1_Pooling/config.json")) else { return Ok(()) };
    let p: PoolingConfig =
        serde_json::from_slice(&bytes).map_err(|e| Error::invalid(format!("1_Pooling/config.json: {e}")))?;
    if !p.pooling_mode_mean_tokens || p.pooling_mode_cls_token || p.pooling_mode_max_tokens {
        return Err(Error::invalid("1_Pooling/config.json: only mean pooling is supported"));
    }
    Ok(())
}

fn sentence_max_len(dir: &Path) -> Result<Option<usize>> {
    let Ok(bytes) = std::fs::read(dir.join("sentence_bert_config.json")) else { return Ok(None) };
    let c: SentenceConfig =
        serde_json::from_slice(&bytes).map_err(|e| Error::invalid(format!("sentence_bert_config.json: {e}")))?;
    Ok(c.max_seq_length.filter(|&n| n >= 2))
}

/// The version recorded in specs: a digest of the weights, tokenizer and
/// configuration, so a changed file is a different model.
fn model_version(dir: &Path) -> Result<String> {
    let mut h = blake3::Hasher::new();
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        let path = dir.join(file);
        let f = std::fs::File::open(&path).map_err(|e| Error::invalid(format!("reading {}: {e}", path.display())))?;
        h.update_reader(f).map_err(|e| Error::invalid(format!("reading {}: {e}", path.display())))?;
    }
    Ok(format!("blake3:{}", &h.finalize().to_hex()[..16]))
}

impl BatchModel for LocalModel {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }

    fn batch_texts(&self) -> usize {
        LOCAL_BATCH_TEXTS
    }

    fn run(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let seqs = texts.iter().map(|t| self.tokens.ids(t)).collect::<Result<Vec<_>>>()?;
        let mut scratch = self.scratch.lock().unwrap_or_else(PoisonError::into_inner).pop().unwrap_or_default();
        let mut out = self.bert.pooled(&seqs, &mut scratch);
        self.scratch.lock().unwrap_or_else(PoisonError::into_inner).push(scratch);
        out.iter_mut().for_each(|v| normalize(v));
        if out.iter().flatten().any(|x| !x.is_finite()) {
            return Err(Error::new(
                engram_core::ErrorKind::Unavailable,
                format!("model {:?} produced a non-finite vector (damaged weights?)", self.info.model.name),
            ));
        }
        Ok(out)
    }
}
