//! Engram's embedders, behind [`engram_core::embed::Embedder`]:
//!
//! - `local`: a BERT-style sentence model (all-MiniLM-L6-v2 and its kin)
//!   from a directory with `model.safetensors`, `tokenizer.json` and
//!   `config.json`, run on the CPU in Rust, mean-pooled and normalized as
//!   sentence-transformers does;
//! - `http`: an OpenAI-compatible embeddings endpoint.
//!
//! Both run on a bounded worker pool that batches concurrent calls.
//! [`parse`] turns a `--embedder` setting into a registered embedder.

mod bert;
mod fastmath;
mod gemm;
mod http;
mod local;
mod pool;
mod safetensors;
mod tokenize;

pub use http::{HttpModel, HttpSettings};
pub use local::{LOCAL_BATCH_TEXTS, LocalModel};
pub use pool::{BatchModel, EMBED_QUEUE_TEXTS_MAX, Pool};
pub use safetensors::f16_to_f32;

use engram_core::embed::{Embedder, Embedders};
use engram_core::{Error, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Worker threads per embedder when the setting names none.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Parses one `--embedder` setting:
///
/// - `NAME=local:DIR[,threads=N]`
/// - `NAME=http:URL,model=M,dims=N[,key_env=VAR|key_file=PATH][,batch=N][,timeout_ms=N][,attempts=N][,threads=N][,normalize=false]`
///
/// The key is read from the environment or a file, never from the
/// setting itself (settings show up in process listings).
pub fn parse(setting: &str) -> Result<(String, Arc<dyn Embedder>)> {
    let (name, rest) =
        setting.split_once('=').ok_or_else(|| bad(setting, "expected NAME=local:DIR or NAME=http:URL,…"))?;
    let name = name.trim().to_owned();
    let (kind, rest) = rest.split_once(':').ok_or_else(|| bad(&name, "expected local:DIR or http:URL,…"))?;
    let mut parts = rest.split(',');
    let target = parts.next().unwrap_or_default().to_owned();
    let mut opts = std::collections::BTreeMap::new();
    for p in parts {
        let (k, v) = p.split_once('=').ok_or_else(|| bad(&name, &format!("option {p:?} is not key=value")))?;
        opts.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    let threads = take_num(&mut opts, &name, "threads", default_threads() as u64, 64)? as usize;
    let model: Arc<dyn BatchModel> = match kind {
        "local" => Arc::new(
            LocalModel::load(&PathBuf::from(&target), &name).map_err(|e| e.context(&format!("embedder {name}")))?,
        ),
        "http" => Arc::new(HttpModel::new(&name, http_settings(&name, target, &mut opts)?)?),
        other => return Err(bad(&name, &format!("unknown kind {other:?} (local or http)"))),
    };
    if let Some(k) = opts.keys().next() {
        return Err(bad(&name, &format!("unknown option {k:?}")));
    }
    Ok((name, Arc::new(Pool::new(model, threads)?)))
}

/// Parses every setting into one registry.
pub fn parse_all<'a>(settings: impl IntoIterator<Item = &'a str>) -> Result<Embedders> {
    let mut out = Embedders::default();
    for s in settings {
        let (name, e) = parse(s)?;
        out.add(&name, e)?;
    }
    Ok(out)
}

fn http_settings(
    name: &str,
    base_url: String,
    opts: &mut std::collections::BTreeMap<String, String>,
) -> Result<HttpSettings> {
    let model = opts.remove("model").ok_or_else(|| bad(name, "model=… is required"))?;
    let dims = take_num(opts, name, "dims", 0, u64::from(engram_core::limits::VECTOR_DIMS_MAX))?;
    if dims == 0 {
        return Err(bad(name, "dims=… (1 or more) is required"));
    }
    let key = match (opts.remove("key_env"), opts.remove("key_file")) {
        (Some(_), Some(_)) => return Err(bad(name, "give key_env or key_file, not both")),
        (Some(var), None) => {
            Some(std::env::var(&var).map_err(|_| bad(name, &format!("the environment variable {var} is not set")))?)
        }
        (None, Some(path)) => Some(
            std::fs::read_to_string(&path)
                .map_err(|e| bad(name, &format!("reading key_file {path}: {e}")))?
                .trim()
                .to_owned(),
        ),
        (None, None) => None,
    };
    let normalize = match opts.remove("normalize").as_deref() {
        None | Some("true") => true,
        Some("false") => false,
        Some(v) => return Err(bad(name, &format!("normalize must be true or false, got {v:?}"))),
    };
    Ok(HttpSettings {
        base_url,
        model,
        dims: dims as u32,
        key,
        batch: take_num(opts, name, "batch", 64, engram_core::limits::EMBED_BATCH_TEXTS_MAX as u64)? as usize,
        timeout: Duration::from_millis(take_num(opts, name, "timeout_ms", 30_000, 600_000)?),
        attempts: take_num(opts, name, "attempts", 3, 10)? as u32,
        normalize,
    })
}

fn take_num(
    opts: &mut std::collections::BTreeMap<String, String>,
    name: &str,
    key: &str,
    default: u64,
    max: u64,
) -> Result<u64> {
    match opts.remove(key) {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(bad(name, &format!("{key} must be a number from 1 to {max}, got {v:?}"))),
        },
    }
}

fn bad(name: &str, what: &str) -> Error {
    Error::invalid(format!("--embedder {name}: {what}"))
}
