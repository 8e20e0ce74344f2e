//! Text to token ids with the model's own `tokenizer.json`, truncated to
//! the model's sequence limit, never padded (the encoder packs sequences).

use engram_core::{Error, Result};
use std::path::Path;
use tokenizers::{Tokenizer, TruncationParams};

pub struct Tokens {
    inner: Tokenizer,
    vocab: usize,
}

impl Tokens {
    /// Loads `tokenizer.json`; sequences are cut to `max_len` tokens
    /// (special tokens included), as sentence-transformers does.
    pub fn load(path: &Path, max_len: usize, vocab: usize) -> Result<Self> {
        let mut inner =
            Tokenizer::from_file(path).map_err(|e| Error::invalid(format!("reading {}: {e}", path.display())))?;
        inner
            .with_truncation(Some(TruncationParams { max_length: max_len, ..Default::default() }))
            .map_err(|e| Error::invalid(format!("tokenizer truncation: {e}")))?;
        inner.with_padding(None);
        Ok(Self { inner, vocab })
    }

    /// Token ids of `text`, with the model's special tokens.
    pub fn ids(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, true).map_err(|e| Error::invalid(format!("tokenizing: {e}")))?;
        let ids = enc.get_ids().to_vec();
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= self.vocab) {
            return Err(Error::invalid(format!("the tokenizer produced id {bad}, outside the model's vocabulary")));
        }
        Ok(ids)
    }
}
