//! Which object store holds the bytes, from one URL:
//!
//! | URL | store |
//! |-----|-------|
//! | `file:///abs/dir` or a plain path | the local filesystem (fsync on every write) |
//! | `memory://` | memory (tests; lost at exit) |
//! | `s3://bucket[/prefix]?endpoint=…&region=…&allow_http=true` | S3 or an S3-compatible server |
//! | `az://container[/prefix]?account=…&endpoint=…&emulator=true` | Azure Blob Storage (or Azurite) |
//!
//! Credentials never go in the URL (it is logged and shown in status):
//! S3 reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and the other
//! `AWS_*` variables object_store knows), Azure `AZURE_STORAGE_ACCOUNT_KEY`
//! (or the emulator's well-known key with `emulator=true`).

use crate::store::Store;
use engram_core::{Error, Result};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Attempts per request to a remote store (object_store retries
/// transient failures with exponential backoff and jitter).
const REMOTE_RETRIES: usize = 4;
/// How long one request to a remote store may take, retries included.
const REMOTE_RETRY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one HTTP request may take (a 4 MiB chunk at a slow link).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Credentials given by configuration rather than the environment (they
/// win over it). Never printed: `Debug` shows which are set, not them.
#[derive(Clone, Default)]
pub struct Secrets {
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<String>,
    pub azure_storage_key: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("Secrets")
            .field("aws_access_key_id", &set(&self.aws_access_key_id))
            .field("aws_secret_access_key", &set(&self.aws_secret_access_key))
            .field("azure_storage_key", &set(&self.azure_storage_key))
            .finish()
    }
}

/// Opens the store a URL names. A plain path (no scheme) is a directory.
pub fn open_store(spec: &str) -> Result<Store> {
    open_store_with(spec, &Secrets::default())
}

/// Opens the store a URL names, with credentials from `secrets` first and
/// the environment second.
pub fn open_store_with(spec: &str, secrets: &Secrets) -> Result<Store> {
    let url = match Url::parse(spec) {
        Ok(url) => url,
        // Something meant as a URL must not quietly become a directory.
        Err(e) if spec.contains("://") => return Err(bad(spec, &format!("not a valid URL ({e})"))),
        Err(_) => return open_dir(Path::new(spec)),
    };
    match url.scheme() {
        "file" => {
            let path = url.to_file_path().map_err(|()| bad(spec, "a file URL needs an absolute path"))?;
            open_dir(&path)
        }
        "memory" => Ok(Store::new(Arc::new(InMemory::new()), None, "memory", "")),
        "s3" => open_s3(&url, secrets),
        "az" | "azure" => open_azure(&url, secrets),
        // A Windows-style or relative path parsed as a URL.
        s if s.len() == 1 => open_dir(Path::new(spec)),
        other => Err(bad(spec, &format!("unknown scheme {other:?} (use file, memory, s3 or az)"))),
    }
}

/// The local filesystem under `dir` (created if missing), every write
/// synced to disk with its directory before it returns.
pub fn open_dir(dir: &Path) -> Result<Store> {
    // Synced into its parent: a new objects directory must survive power
    // loss as the bytes acknowledged inside it do.
    engram::durable_dir(dir)?;
    let fs = LocalFileSystem::new_with_prefix(dir)
        .map_err(|e| Error::invalid(format!("object directory {}: {e}", dir.display())))?
        .with_fsync(true)
        .with_automatic_cleanup(true);
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| Error::new(engram_core::ErrorKind::Internal, format!("{}: {e}", dir.display())))?;
    Ok(Store::on_dir(Arc::new(fs), &dir))
}

fn open_s3(url: &Url, secrets: &Secrets) -> Result<Store> {
    crate::tls::install_provider();
    let bucket = url.host_str().ok_or_else(|| bad(url.as_str(), "an s3 URL names its bucket: s3://bucket"))?;
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retry())
        .with_client_options(client_options(url)?);
    if let Some(id) = &secrets.aws_access_key_id {
        b = b.with_access_key_id(id);
    }
    if let Some(key) = &secrets.aws_secret_access_key {
        b = b.with_secret_access_key(key);
    }
    for (k, v) in url.query_pairs() {
        b = match k.as_ref() {
            "endpoint" => b.with_endpoint(v.as_ref()),
            "region" => b.with_region(v.as_ref()),
            "allow_http" => b.with_allow_http(parse_bool(url, &k, &v)?),
            "virtual_hosted" => b.with_virtual_hosted_style_request(parse_bool(url, &k, &v)?),
            _ => return Err(unknown_option(url, &k)),
        };
    }
    let s3 = Arc::new(b.build().map_err(|e| bad(url.as_str(), &redact(&e.to_string())))?);
    Ok(Store::new(s3.clone(), Some(s3), "s3", url.path().trim_matches('/')))
}

fn open_azure(url: &Url, secrets: &Secrets) -> Result<Store> {
    crate::tls::install_provider();
    let container = url.host_str().ok_or_else(|| bad(url.as_str(), "an az URL names its container: az://container"))?;
    let mut b = MicrosoftAzureBuilder::from_env()
        .with_container_name(container)
        .with_retry(retry())
        .with_client_options(client_options(url)?);
    if let Some(key) = &secrets.azure_storage_key {
        b = b.with_access_key(key);
    }
    for (k, v) in url.query_pairs() {
        b = match k.as_ref() {
            "account" => b.with_account(v.as_ref()),
            "endpoint" => b.with_endpoint(v.to_string()),
            "emulator" => b.with_use_emulator(parse_bool(url, &k, &v)?),
            "allow_http" => b.with_allow_http(parse_bool(url, &k, &v)?),
            _ => return Err(unknown_option(url, &k)),
        };
    }
    let az = Arc::new(b.build().map_err(|e| bad(url.as_str(), &redact(&e.to_string())))?);
    Ok(Store::new(az.clone(), Some(az), "azure", url.path().trim_matches('/')))
}

fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: REMOTE_RETRIES,
        retry_timeout: REMOTE_RETRY_TIMEOUT,
    }
}

fn client_options(url: &Url) -> Result<ClientOptions> {
    let plain_http = url.query_pairs().any(|(k, v)| (k == "allow_http" || k == "emulator") && v == "true");
    Ok(ClientOptions::new()
        .with_timeout(REQUEST_TIMEOUT)
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_allow_http(plain_http))
}

fn parse_bool(url: &Url, key: &str, value: &str) -> Result<bool> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(url.as_str(), &format!("option {key} must be true or false"))),
    }
}

fn unknown_option(url: &Url, key: &str) -> Error {
    bad(url.as_str(), &format!("unknown option {key:?} (credentials go in the environment, not the URL)"))
}

fn bad(spec: &str, why: &str) -> Error {
    Error::invalid(format!("object store {:?}: {why}", redact(spec)))
}

/// Drops query strings (signatures, tokens) and user info from every URL
/// in `text`, so no error or log line carries a credential.
pub fn redact(text: &str) -> String {
    text.split_inclusive(char::is_whitespace).map(redact_word).collect()
}

fn redact_word(word: &str) -> String {
    let Some(scheme_end) = word.find("://") else { return word.to_owned() };
    let (head, rest) = word.split_at(scheme_end + 3);
    let rest = match rest.find('@') {
        Some(at) if rest[..at].find('/').is_none() => &rest[at + 1..],
        _ => rest,
    };
    let rest = match rest.find('?') {
        Some(q) => format!("{}?…{}", &rest[..q], if word.ends_with(char::is_whitespace) { " " } else { "" }),
        None => rest.to_owned(),
    };
    format!("{head}{rest}")
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redaction_drops_queries_and_user_info() {
        let s = redact("GET https://user:pw@host/b/k?X-Amz-Signature=abc failed");
        assert_eq!(s, "GET https://host/b/k?… failed");
        assert_eq!(redact("no urls here"), "no urls here");
    }
}
