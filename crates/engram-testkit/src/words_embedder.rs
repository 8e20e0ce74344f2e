//! A small deterministic embedder for engine tests: each word of a text
//! adds ±1 to a dimension picked by hashing it (with a seed, so two
//! "models" disagree), plus a constant bias, normalized. Texts sharing
//! words land near each other, which is all the engine's tests need; the
//! real models are tested in `engram-embed` against their reference.

use engram_core::Result;
use engram_core::embed::{Embedder, EmbedderInfo, Embedders, normalize};
use engram_core::search_spec::EmbeddingModel;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct WordsEmbedder {
    info: EmbedderInfo,
    seed: u64,
    /// Texts embedded so far (tests check reuse and batching with it).
    pub texts: AtomicUsize,
}

impl WordsEmbedder {
    pub fn new(name: &str, version: &str, dims: u32, seed: u64) -> Arc<Self> {
        let model = EmbeddingModel { name: name.into(), version: version.into() };
        Arc::new(Self { info: EmbedderInfo { model, dims }, seed, texts: AtomicUsize::new(0) })
    }

    /// The vector of one text.
    pub fn vector(&self, text: &str) -> Vec<f32> {
        let dims = self.info.dims as usize;
        let mut v = vec![0f32; dims];
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let h = blake3::hash(format!("{}:{}", self.seed, word.to_lowercase()).as_bytes());
            let b = h.as_bytes();
            v[usize::from(b[0]) % (dims - 1)] += if b[1] & 1 == 0 { 1.0 } else { -1.0 };
        }
        v[dims - 1] += 0.25;
        normalize(&mut v);
        v
    }
}

impl Embedder for WordsEmbedder {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }

    fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        engram_core::embed::check_texts(&texts)?;
        self.texts.fetch_add(texts.len(), Ordering::SeqCst);
        Ok(texts.iter().map(|t| self.vector(t)).collect())
    }
}

/// The embedders every fixture's engine has: `words` (16 dimensions) and
/// `words2` (another model, 8 dimensions) to switch to.
pub fn test_embedders() -> Embedders {
    static SHARED: std::sync::OnceLock<Embedders> = std::sync::OnceLock::new();
    SHARED
        .get_or_init(|| {
            let mut e = Embedders::default();
            e.add("words", WordsEmbedder::new("words", "1", 16, 1)).expect("registers");
            e.add("words2", WordsEmbedder::new("words2", "1", 8, 2)).expect("registers");
            e
        })
        .clone()
}
