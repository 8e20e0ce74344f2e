//! `engram serve --config FILE`: settings from a TOML file, applied as if
//! given on the command line, unless the flag or its environment variable
//! is given (flags > environment > file > defaults).

use std::path::Path;

/// Bytes of a configuration file read at most.
const CONFIG_BYTES_MAX: u64 = 1024 * 1024;

/// File keys, their flags and environment variables.
const SETTINGS: [(&str, &str, &str); 18] = [
    ("data_dir", "--data-dir", "ENGRAM_DATA_DIR"),
    ("log_format", "--log-format", "ENGRAM_LOG_FORMAT"),
    ("listen", "--listen", "ENGRAM_LISTEN"),
    ("index_save_interval_ms", "--index-save-interval-ms", "ENGRAM_INDEX_SAVE_INTERVAL_MS"),
    ("admin_key", "--admin-key", "ENGRAM_ADMIN_KEY"),
    ("rate_limit_per_key", "--rate-limit-per-key", "ENGRAM_RATE_LIMIT_PER_KEY"),
    ("max_connections", "--max-connections", "ENGRAM_MAX_CONNECTIONS"),
    ("max_concurrent_requests", "--max-concurrent-requests", "ENGRAM_MAX_CONCURRENT_REQUESTS"),
    ("max_large_requests", "--max-large-requests", "ENGRAM_MAX_LARGE_REQUESTS"),
    ("request_timeout_ms", "--request-timeout-ms", "ENGRAM_REQUEST_TIMEOUT_MS"),
    ("auth_failures_per_minute", "--auth-failures-per-minute", "ENGRAM_AUTH_FAILURES_PER_MINUTE"),
    ("max_feed_streams", "--max-feed-streams", "ENGRAM_MAX_FEED_STREAMS"),
    ("feed_stream_seconds", "--feed-stream-seconds", "ENGRAM_FEED_STREAM_SECONDS"),
    ("webhook_allow_private", "--webhook-allow-private", "ENGRAM_WEBHOOK_ALLOW_PRIVATE"),
    ("webhook_timeout_ms", "--webhook-timeout-ms", "ENGRAM_WEBHOOK_TIMEOUT_MS"),
    ("webhook_retry_schedule", "--webhook-retry-schedule", "ENGRAM_WEBHOOK_RETRY_SCHEDULE"),
    ("tls_cert", "--tls-cert", "ENGRAM_TLS_CERT"),
    ("tls_key", "--tls-key", "ENGRAM_TLS_KEY"),
];

/// The config file's path: `--config P`, `--config=P` or `ENGRAM_CONFIG`.
fn config_path(argv: &[String]) -> Option<String> {
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        if a == "--config" {
            return it.next().cloned();
        }
        if let Some(p) = a.strip_prefix("--config=") {
            return Some(p.to_owned());
        }
    }
    std::env::var("ENGRAM_CONFIG").ok()
}

/// `argv` with the file's settings appended where neither the flag nor its
/// environment variable is given.
pub fn with_file_settings(mut argv: Vec<String>) -> Result<Vec<String>, String> {
    if argv.get(1).map(String::as_str) != Some("serve") {
        return Ok(argv);
    }
    let Some(path) = config_path(&argv) else { return Ok(argv) };
    let table = read(Path::new(&path))?;
    for (key, value) in table {
        let (_, flag, env) = SETTINGS.iter().find(|(k, _, _)| *k == key).ok_or_else(|| {
            let known: Vec<&str> = SETTINGS.iter().map(|s| s.0).collect();
            format!("{path}: unknown setting {key:?}; known: {}", known.join(", "))
        })?;
        let given =
            argv.iter().any(|a| a == flag || a.starts_with(&format!("{flag}="))) || std::env::var_os(env).is_some();
        if given {
            continue;
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            other => return Err(format!("{path}: {key} must be a string or a number, got {}", other.type_str())),
        };
        argv.push(format!("{flag}={text}"));
    }
    Ok(argv)
}

fn read(path: &Path) -> Result<toml::Table, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > CONFIG_BYTES_MAX {
        return Err(format!("{}: larger than {CONFIG_BYTES_MAX} bytes", path.display()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.parse::<toml::Table>().map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn file_settings_fill_in_what_flags_do_not_give() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("engram.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9999\"\nrate_limit_per_key = 7\nrequest_timeout_ms = 1500\n")
            .expect("write");
        let f = file.to_string_lossy().to_string();
        let out = with_file_settings(args(&["engram", "serve", "--config", &f, "--listen", "127.0.0.1:1"]))
            .expect("settings");
        assert!(out.contains(&"--listen".to_owned()) && !out.iter().any(|a| a.contains("9999")), "the flag wins");
        assert!(out.contains(&"--rate-limit-per-key=7".to_owned()));
        assert!(out.contains(&"--request-timeout-ms=1500".to_owned()));
        std::fs::write(&file, "lisen = 1\n").expect("write");
        let err = with_file_settings(args(&["engram", "serve", "--config", &f])).expect_err("typo");
        assert!(err.contains("unknown setting \"lisen\""), "{err}");
        std::fs::write(&file, "listen = [1]\n").expect("write");
        assert!(with_file_settings(args(&["engram", "serve", "--config", &f])).is_err());
        assert_eq!(
            with_file_settings(args(&["engram", "get", "a"])).expect("untouched"),
            args(&["engram", "get", "a"])
        );
    }
}
