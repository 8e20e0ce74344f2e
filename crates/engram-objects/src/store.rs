//! The object store as Engram uses it: where each space's blobs and
//! in-flight uploads live, every call behind a circuit breaker, every
//! error mapped to Engram's kinds with URLs and credentials left out.
//!
//! Layout under the store's root (an optional prefix in the bucket):
//! - `s{space id}/blobs/{digest}`: content, under its BLAKE3 address;
//! - `s{space id}/tmp/{uuid}`: an upload whose digest is not known yet.

use crate::config::redact;
use bytes::Bytes;
use engram_core::breaker::Breaker;
use engram_core::{Error, ErrorKind, Result};
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Bytes per part of a multipart upload (S3 needs at least 5 MiB).
pub const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts of one upload in flight at once (bounds its memory to about
/// `PART_BYTES` times this).
pub const PARTS_IN_FLIGHT: usize = 2;

/// Whether a file name is object_store's staging name for a write in
/// progress: `{name}#{digits}`.
fn is_staging_name(name: &str) -> bool {
    name.rsplit_once('#')
        .is_some_and(|(head, n)| !head.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// An object store with Engram's layout and guards.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    signer: Option<Arc<dyn Signer>>,
    kind: &'static str,
    root: String,
    breaker: Arc<Breaker>,
    /// The directory of a filesystem store: its staging files are
    /// invisible to listings (see [`Store::sweep_staging_files`]).
    local_dir: Option<std::path::PathBuf>,
}

impl Store {
    /// Wraps a store; `kind` names it in errors and status, `root` is a
    /// prefix inside it (may be empty).
    pub fn new(inner: Arc<dyn ObjectStore>, signer: Option<Arc<dyn Signer>>, kind: &'static str, root: &str) -> Self {
        let root = root.trim_matches('/').to_owned();
        Self { inner, signer, kind, root, breaker: Arc::default(), local_dir: None }
    }

    /// A filesystem store over `dir` (see [`Store::sweep_staging_files`]).
    pub fn on_dir(inner: Arc<dyn ObjectStore>, dir: &std::path::Path) -> Self {
        Self { local_dir: Some(dir.to_owned()), ..Self::new(inner, None, "fs", "") }
    }

    /// The same store, layout and breaker over another client (tests wrap
    /// the client in a fault-injecting one).
    pub fn with_inner(&self, inner: Arc<dyn ObjectStore>) -> Self {
        Self { inner, ..self.clone() }
    }

    /// The client underneath.
    pub fn inner(&self) -> Arc<dyn ObjectStore> {
        self.inner.clone()
    }

    /// `fs`, `memory`, `s3` or `azure`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Whether the circuit breaker suspends calls to the store right now.
    pub fn suspended(&self) -> bool {
        self.breaker.is_open()
    }

    /// Whether this store can sign download URLs.
    pub fn signs_urls(&self) -> bool {
        self.signer.is_some()
    }

    pub fn blob_path(&self, space: i64, digest: &str) -> Path {
        self.path(&format!("s{space}/blobs/{digest}"))
    }

    pub fn tmp_path(&self, space: i64, upload: &str) -> Path {
        self.path(&format!("s{space}/tmp/{upload}"))
    }

    /// Everything of one space (what deleting the space removes).
    pub fn space_prefix(&self, space: i64) -> Path {
        self.path(&format!("s{space}"))
    }

    pub fn tmp_prefix(&self, space: i64) -> Path {
        self.path(&format!("s{space}/tmp"))
    }

    fn path(&self, rel: &str) -> Path {
        if self.root.is_empty() { Path::from(rel) } else { Path::from(format!("{}/{rel}", self.root)) }
    }

    /// Writes `bytes` at `path` atomically (durably on the filesystem).
    pub async fn put(&self, path: &Path, bytes: Bytes) -> Result<()> {
        self.guard("put", path, self.inner.put(path, PutPayload::from(bytes))).await.map(drop)
    }

    /// Starts a multipart upload at `path`.
    pub async fn upload(&self, path: &Path) -> Result<WriteMultipart> {
        let up = self.guard("start an upload at", path, self.inner.put_multipart(path)).await?;
        Ok(WriteMultipart::new_with_chunk_size(up, PART_BYTES))
    }

    /// Waits until the upload may buffer another part.
    pub async fn upload_capacity(&self, up: &mut WriteMultipart, path: &Path) -> Result<()> {
        self.guard("upload a part to", path, up.wait_for_capacity(PARTS_IN_FLIGHT)).await
    }

    /// Completes an upload.
    pub async fn finish(&self, up: WriteMultipart, path: &Path) -> Result<()> {
        self.guard("complete the upload at", path, up.finish()).await.map(drop)
    }

    /// Whether something is stored at `path`.
    pub async fn exists(&self, path: &Path) -> Result<bool> {
        match self.guard("look up", path, self.inner.head(path)).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Moves `from` to `to` (replacing what is there).
    pub async fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.guard("move", from, self.inner.rename(from, to)).await
    }

    /// Reads a byte range.
    pub async fn get_range(&self, path: &Path, range: Range<u64>) -> Result<Bytes> {
        self.guard("read", path, self.inner.get_range(path, range)).await
    }

    /// Deletes `path`; deleting what is not there succeeds. On the local
    /// filesystem the removal is synced into its directory before this
    /// returns: the collector forgets a blob once its bytes are deleted,
    /// and a removal lost to a power cut would leave bytes nothing tracks.
    pub async fn delete(&self, path: &Path) -> Result<()> {
        match self.guard("delete", path, self.inner.delete(path)).await {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let Some(dir) = &self.local_dir else { return Ok(()) };
        let file = dir.join(path.as_ref());
        let Some(parent) = file.parent().map(std::path::Path::to_owned) else { return Ok(()) };
        let synced = tokio::task::spawn_blocking(move || match std::fs::File::open(&parent) {
            Ok(d) => d.sync_all(),
            // The directory itself is gone (or was never made): nothing to sync.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })
        .await
        .map_err(crate::objects_error)?;
        synced
            .map_err(|e| self.error("delete", path, object_store::Error::Generic { store: "fs", source: Box::new(e) }))
    }

    /// Paths under `prefix` last modified before `before` (all with `None`),
    /// at most `limit`.
    pub async fn list_older(&self, prefix: &Path, before: Option<SystemTime>, limit: usize) -> Result<Vec<Path>> {
        self.breaker.check(format_args!("the {} object store", self.kind))?;
        let mut stream = self.inner.list(Some(prefix));
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            let meta = item.map_err(|e| self.error("list", prefix, e))?;
            let old = before.is_none_or(|b| SystemTime::from(meta.last_modified) < b);
            if old {
                out.push(meta.location);
            }
            if out.len() >= limit {
                break;
            }
        }
        self.breaker.success();
        Ok(out)
    }

    /// Deletes what a killed process left of its writes on a filesystem
    /// store. object_store writes each file as `{path}#{n}` and renames it
    /// when complete; those staging files are hidden from listings, so
    /// neither the records nor a `tmp/` listing find them. Only files last
    /// modified before `before` (this process's start: a live process's own
    /// writes are younger) under `s*/blobs` and `s*/tmp` are removed.
    /// Returns how many. Other stores have nothing to sweep here (S3 keeps
    /// incomplete multipart uploads until a bucket lifecycle rule aborts
    /// them; Azure drops uncommitted blocks after 7 days).
    pub fn sweep_staging_files(&self, before: SystemTime) -> Result<usize> {
        let Some(dir) = &self.local_dir else { return Ok(0) };
        let io = |e: std::io::Error| Error::internal(format!("sweeping {}: {e}", dir.display()));
        let mut removed = 0;
        let Ok(spaces) = std::fs::read_dir(dir) else { return Ok(0) };
        for space in spaces {
            let space = space.map_err(io)?.path();
            for area in ["blobs", "tmp"] {
                let Ok(files) = std::fs::read_dir(space.join(area)) else { continue };
                for file in files {
                    let file = file.map_err(io)?;
                    let staging = file.file_name().to_str().is_some_and(is_staging_name);
                    let old = file.metadata().and_then(|m| m.modified()).is_ok_and(|m| m < before);
                    if staging && old {
                        crate::durable_remove(&file.path()).map_err(io)?;
                        removed += 1;
                    }
                }
            }
        }
        Ok(removed)
    }

    /// A URL that reads `path` without credentials until it expires.
    pub async fn signed_url(&self, path: &Path, expires_in: Duration) -> Result<String> {
        let Some(signer) = &self.signer else {
            return Err(Error::invalid(format!("the {} object store cannot sign URLs", self.kind)));
        };
        let url = self
            .guard("sign a URL for", path, signer.signed_url(object_store::signer::Method::GET, path, expires_in))
            .await?;
        Ok(url.to_string())
    }

    /// Probes the store (for readiness): lists the root, one entry.
    pub async fn check(&self) -> Result<()> {
        let root = self.path("");
        let mut stream = self.inner.list(Some(&root));
        match tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
            Ok(Some(Err(e))) => Err(self.error("list", &root, e)),
            Ok(_) => Ok(()),
            Err(_) => Err(Error::new(ErrorKind::Unavailable, format!("the {} object store did not answer", self.kind))),
        }
    }

    /// Runs one store call behind the breaker.
    async fn guard<T>(
        &self,
        what: &str,
        path: &Path,
        call: impl Future<Output = object_store::Result<T>>,
    ) -> Result<T> {
        self.breaker.check(format_args!("the {} object store", self.kind))?;
        match call.await {
            Ok(v) => {
                self.breaker.success();
                Ok(v)
            }
            Err(e) => {
                let e = self.error(what, path, e);
                if e.kind() == ErrorKind::Unavailable {
                    self.breaker.failure();
                } else {
                    self.breaker.success();
                }
                Err(e)
            }
        }
    }

    /// Maps a store error: absent and conditional failures keep their
    /// meaning, the rest is the store being unavailable. The message names
    /// the store, the operation and the path, never a URL's query or a
    /// credential.
    fn error(&self, what: &str, path: &Path, e: object_store::Error) -> Error {
        use object_store::Error as E;
        let kind = match &e {
            E::NotFound { .. } => ErrorKind::NotFound,
            E::AlreadyExists { .. } | E::Precondition { .. } => ErrorKind::Conflict,
            E::InvalidPath { .. } => ErrorKind::InvalidInput,
            E::NotSupported { .. }
            | E::NotImplemented { .. }
            | E::PermissionDenied { .. }
            | E::Unauthenticated { .. }
            | E::UnknownConfigurationKey { .. } => ErrorKind::Internal,
            _ => ErrorKind::Unavailable,
        };
        let detail = redact(&e.to_string());
        if matches!(kind, ErrorKind::Unavailable | ErrorKind::Internal) {
            // The store's own words (a response body may echo the signed
            // request) go to the log only, never to a client.
            tracing::warn!(store = self.kind, path = %path, error = %detail, "object store call failed");
            return Error::new(kind, format!("the {} object store failed to {what} {path}", self.kind));
        }
        tracing::debug!(store = self.kind, path = %path, error = %detail, "object store call failed");
        Error::new(kind, format!("the {} object store failed to {what} {path}: {detail}", self.kind))
    }
}
