//! An OpenAI-compatible embeddings endpoint (`POST {base}/embeddings` with
//! `{"model", "input": [...]}`, answered with `{"data": [{"index",
//! "embedding"}]}`): batched, retried with backoff and jitter on 429, 5xx
//! and transport failures, each attempt time-limited, behind a circuit
//! breaker. The key is sent as a bearer token and never appears in an
//! error, a log line or status.

use crate::pool::BatchModel;
use engram_core::breaker::Breaker;
use engram_core::embed::{EmbedderInfo, normalize};
use engram_core::search_spec::EmbeddingModel;
use engram_core::{Error, ErrorKind, Result};
use serde::Deserialize;
use std::time::Duration;

/// Bytes of one answer read at most (1,024 vectors of 4,096 numbers fit).
const ANSWER_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// How the endpoint is reached.
#[derive(Clone)]
pub struct HttpSettings {
    /// The API base, e.g. `https://api.openai.com/v1` (no credentials in it).
    pub base_url: String,
    /// The model name sent with every request.
    pub model: String,
    /// Dimensions the model returns (checked on every answer).
    pub dims: u32,
    /// Bearer token, when the endpoint wants one.
    pub key: Option<String>,
    /// Texts per request.
    pub batch: usize,
    /// Limit on one attempt, connect to last byte.
    pub timeout: Duration,
    /// Attempts per batch (the first included).
    pub attempts: u32,
    /// Scale vectors to unit length (for cosine search).
    pub normalize: bool,
}

impl std::fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("dims", &self.dims)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

pub struct HttpModel {
    settings: HttpSettings,
    url: String,
    agent: ureq::Agent,
    breaker: Breaker,
    info: EmbedderInfo,
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

/// One attempt's failure: whether another attempt may help.
struct Failure {
    retry: bool,
    message: String,
}

impl HttpModel {
    /// `name` is how specs and status show the model.
    pub fn new(name: &str, settings: HttpSettings) -> Result<Self> {
        if !(settings.base_url.starts_with("http://") || settings.base_url.starts_with("https://")) {
            return Err(Error::invalid("the embedding endpoint's URL must start with http:// or https://"));
        }
        if settings.base_url.contains('@') {
            return Err(Error::invalid("put the embedding endpoint's key in key_env or key_file, not in its URL"));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(settings.timeout))
            .user_agent("engram-embed")
            .build()
            .into();
        let url = format!("{}/embeddings", settings.base_url.trim_end_matches('/'));
        let info = EmbedderInfo {
            model: EmbeddingModel { name: name.to_owned(), version: settings.model.clone() },
            dims: settings.dims,
        };
        Ok(Self { settings, url, agent, breaker: Breaker::default(), info })
    }

    /// `message` without the key, in case the endpoint or a transport
    /// error echoes it.
    fn redact(&self, message: String) -> String {
        match &self.settings.key {
            Some(key) if key.len() >= 4 && message.contains(key.as_str()) => {
                message.replace(key.as_str(), "<redacted>")
            }
            _ => message,
        }
    }

    fn attempt(&self, texts: &[String]) -> std::result::Result<Vec<Vec<f32>>, Failure> {
        self.attempt_raw(texts).map_err(|f| Failure { retry: f.retry, message: self.redact(f.message) })
    }

    fn attempt_raw(&self, texts: &[String]) -> std::result::Result<Vec<Vec<f32>>, Failure> {
        let body = serde_json::json!({ "model": self.settings.model, "input": texts });
        let mut req = self.agent.post(&self.url).header("content-type", "application/json");
        if let Some(key) = &self.settings.key {
            req = req.header("authorization", &format!("Bearer {key}"));
        }
        let mut res = req.send(body.to_string().as_bytes()).map_err(|e| Failure {
            retry: true,
            // ureq's transport errors name the host, never the headers.
            message: format!("the embedding endpoint could not be reached or did not answer in time: {e}"),
        })?;
        let status = res.status().as_u16();
        let text =
            res.body_mut().with_config().limit(ANSWER_BYTES_MAX).read_to_string().map_err(|e| Failure {
                retry: true,
                message: format!("reading the embedding endpoint's answer: {e}"),
            })?;
        if status != 200 {
            let retry = status == 429 || status >= 500;
            let start: String = text.chars().take(200).collect();
            return Err(Failure { retry, message: format!("the embedding endpoint answered {status}: {start}") });
        }
        self.parse(&text, texts.len()).map_err(|message| Failure { retry: false, message })
    }

    fn parse(&self, text: &str, want: usize) -> std::result::Result<Vec<Vec<f32>>, String> {
        let answer: Answer = serde_json::from_str(text)
            .map_err(|e| format!("the embedding endpoint's answer is not the OpenAI shape: {e}"))?;
        if answer.data.len() != want {
            return Err(format!("the embedding endpoint returned {} vectors for {want} texts", answer.data.len()));
        }
        let mut out = vec![Vec::new(); want];
        for (i, item) in answer.data.into_iter().enumerate() {
            let at = item.index.unwrap_or(i);
            if at >= want || !out[at].is_empty() {
                return Err(format!("the embedding endpoint's answer has a bad or repeated index {at}"));
            }
            if item.embedding.len() != self.settings.dims as usize || item.embedding.iter().any(|x| !x.is_finite()) {
                return Err(format!(
                    "the embedding endpoint returned a vector of {} numbers (or a non-finite one); {} configured",
                    item.embedding.len(),
                    self.settings.dims
                ));
            }
            out[at] = item.embedding;
        }
        if self.settings.normalize {
            out.iter_mut().for_each(|v| normalize(v));
        }
        Ok(out)
    }
}

impl BatchModel for HttpModel {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }

    fn batch_texts(&self) -> usize {
        self.settings.batch
    }

    fn run(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut last = String::new();
        for attempt in 0..self.settings.attempts.max(1) {
            self.breaker.check("the embedding endpoint")?;
            if attempt > 0 {
                std::thread::sleep(backoff(attempt));
            }
            match self.attempt(texts) {
                Ok(v) => {
                    self.breaker.success();
                    return Ok(v);
                }
                Err(f) => {
                    tracing::warn!(model = %self.info.model.name, attempt, error = %f.message, "embedding request failed");
                    if f.retry {
                        self.breaker.failure();
                    }
                    last = f.message;
                    if !f.retry {
                        return Err(Error::new(ErrorKind::Unavailable, last));
                    }
                }
            }
        }
        Err(Error::new(ErrorKind::Unavailable, last))
    }
}

/// 100 ms doubled per attempt up to 5 s, with up to half of it as jitter.
fn backoff(attempt: u32) -> Duration {
    let base = 100u64.saturating_mul(1 << attempt.min(6)).min(5_000);
    let jitter = jitter_ms(base / 2);
    Duration::from_millis(base / 2 + jitter)
}

fn jitter_ms(max: u64) -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    u64::from(nanos) % max.max(1)
}
