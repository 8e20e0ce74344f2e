//! Prometheus metrics: request counts and latency histograms per route,
//! method and status, plus the engine's own figures, rendered as text.

use engram::Engine;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Label sets kept at most (route templates bound this in practice).
const SERIES_MAX: usize = 10_000;

#[derive(Default, Clone)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Request metrics of one server.
#[derive(Default)]
pub struct Metrics {
    http: Mutex<BTreeMap<(String, String, u16), Series>>,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let mut http = self.http.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (route.to_owned(), method.to_owned(), status);
        if http.len() >= SERIES_MAX && !http.contains_key(&key) {
            return;
        }
        let s = http.entry(key).or_default();
        s.count += 1;
        s.sum += seconds;
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                s.buckets[i] += 1;
            }
        }
    }

    /// Counts a request refused by a limit (`rate`, `auth_failures`,
    /// `overloaded`, `timeout`).
    pub fn reject(&self, why: &'static str) {
        *self.rejected.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(why).or_default() += 1;
    }

    /// The Prometheus text exposition of everything.
    pub fn render(&self, engine: &Engine) -> String {
        let mut out = String::new();
        let http = self.http.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        out.push_str("# HELP engram_http_requests_total Requests by route template, method and status.\n");
        out.push_str("# TYPE engram_http_requests_total counter\n");
        for ((route, method, status), s) in &http {
            let _ = writeln!(
                out,
                "engram_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP engram_http_request_duration_seconds Request latency by route template and method.\n");
        out.push_str("# TYPE engram_http_request_duration_seconds histogram\n");
        let mut by_route: BTreeMap<(&str, &str), Series> = BTreeMap::new();
        for ((route, method, _), s) in &http {
            let agg = by_route.entry((route, method)).or_default();
            agg.count += s.count;
            agg.sum += s.sum;
            for i in 0..BUCKETS.len() {
                agg.buckets[i] += s.buckets[i];
            }
        }
        for ((route, method), s) in &by_route {
            let labels = format!("route=\"{route}\",method=\"{method}\"");
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "engram_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(out, "engram_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", s.count);
            let _ = writeln!(out, "engram_http_request_duration_seconds_sum{{{labels}}} {}", s.sum);
            let _ = writeln!(out, "engram_http_request_duration_seconds_count{{{labels}}} {}", s.count);
        }
        out.push_str("# HELP engram_http_rejected_total Requests refused by a limit before reaching a route.\n");
        out.push_str("# TYPE engram_http_rejected_total counter\n");
        for (why, n) in self.rejected.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter() {
            let _ = writeln!(out, "engram_http_rejected_total{{reason=\"{why}\"}} {n}");
        }
        render_engine(&mut out, engine);
        out
    }
}

fn render_engine(out: &mut String, engine: &Engine) {
    let st = engine.stats();
    counter(out, "engram_writes_total", "Write transactions completed by the engine.", st.writes);
    counter(
        out,
        "engram_collection_cache_hits_total",
        "Collection lookups served from the cache.",
        st.collection_cache_hits,
    );
    counter(
        out,
        "engram_collection_cache_misses_total",
        "Collection lookups that read storage.",
        st.collection_cache_misses,
    );
    counter(
        out,
        "engram_search_index_files_loaded_total",
        "Saved search index files loaded at first use (the log after them replayed).",
        st.search_files.loaded,
    );
    counter(
        out,
        "engram_search_index_files_discarded_total",
        "Saved search index files found damaged or not matching the log, rebuilt from the records.",
        st.search_files.discarded,
    );
    out.push_str("# HELP engram_derived_index_lag_entries Change-log entries a derived index has not applied yet, by space and index.\n");
    out.push_str("# TYPE engram_derived_index_lag_entries gauge\n");
    for (space, index, lag) in &st.index_lag {
        let _ = writeln!(out, "engram_derived_index_lag_entries{{space=\"{space}\",index=\"{index}\"}} {lag}");
    }
    out.push_str("# HELP engram_feed_consumer_lag_entries Change-log entries between a durable consumer's acknowledged position and the head, by space and consumer.\n");
    out.push_str("# TYPE engram_feed_consumer_lag_entries gauge\n");
    match engine.consumer_lags() {
        Ok(lags) => {
            for (space, consumer, lag) in lags {
                let _ = writeln!(
                    out,
                    "engram_feed_consumer_lag_entries{{space=\"{space}\",consumer=\"{consumer}\"}} {lag}"
                );
            }
        }
        Err(e) => tracing::warn!(error = %e.message(), "reading consumer positions for metrics failed"),
    }
    render_embedders(out, engine);
    if let Some(c) = &st.commits {
        counter(out, "engram_commit_batches_total", "Group-commit batches (one sync each).", c.batches);
        counter(out, "engram_commit_jobs_total", "Write jobs committed in those batches.", c.jobs);
        let _ = writeln!(
            out,
            "# HELP engram_commit_batch_jobs_max Largest batch so far.\n# TYPE engram_commit_batch_jobs_max gauge\nengram_commit_batch_jobs_max {}",
            c.max_batch
        );
    }
}

/// Per configured embedder: model runs, texts, failed runs, busy time.
fn render_embedders(out: &mut String, engine: &Engine) {
    if engine.embedders().is_empty() {
        return;
    }
    let series: [(&str, &str, &str); 4] = [
        ("engram_embed_batches_total", "counter", "Model runs (batches) by embedder."),
        ("engram_embed_texts_total", "counter", "Texts embedded by embedder."),
        ("engram_embed_failures_total", "counter", "Model runs that failed, by embedder."),
        ("engram_embed_busy_seconds_total", "counter", "Seconds spent in model runs, by embedder."),
    ];
    for (i, (name, kind, help)) in series.iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (embedder, e) in engine.embedders().iter() {
            let st = e.stats();
            let model = &e.info().model;
            let labels = format!("embedder=\"{embedder}\",model=\"{}\",version=\"{}\"", model.name, model.version);
            let _ = match i {
                0 => writeln!(out, "{name}{{{labels}}} {}", st.batches),
                1 => writeln!(out, "{name}{{{labels}}} {}", st.texts),
                2 => writeln!(out, "{name}{{{labels}}} {}", st.failures),
                _ => writeln!(out, "{name}{{{labels}}} {:.6}", st.busy_micros as f64 / 1e6),
            };
        }
    }
}

fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
}
