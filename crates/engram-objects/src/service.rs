//! Objects over one store: the upload saga (bytes first, under their
//! content address, then the reference in a transaction), verified
//! streaming reads, and the metadata operations (which the engine does
//! alone).

use crate::hashing::ChunkHasher;
use crate::read::{Download, download};
use crate::store::Store;
use bytes::{Bytes, BytesMut};
use engram::{BlobInput, Expect, ObjectInfo, ObjectList, ObjectPut, ObjectWritten, Space, Staged};
use engram_core::limits::{OBJECT_BYTES_MAX, OBJECT_CHUNK_BYTES};
use engram_core::{Error, ErrorKind, Result};
use futures_util::{Stream, StreamExt};
use object_store::WriteMultipart;
use object_store::path::Path;
use std::collections::BTreeMap;
use std::ops::Range;
use std::time::{Duration, Instant};

/// Uploads up to this size are hashed in memory and written once, straight
/// under their content address; larger ones stream through a temporary
/// key in parts.
pub const SMALL_OBJECT_BYTES: usize = 8 * 1024 * 1024;
/// How long an unreferenced blob (an upload's, until its reference
/// commits; a deleted object's) is kept before the collector deletes it.
pub const GRACE_DEFAULT: Duration = Duration::from_secs(15 * 60);
/// Stage-and-commit rounds before an upload gives up (a round is lost only
/// to the collector taking the same content at that moment).
const SAGA_ROUNDS: u32 = 5;

/// What an object put sets besides its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub ttl_seconds: Option<u64>,
    pub expect: Expect,
    /// Put only if the current content has this digest.
    pub if_digest: Option<String>,
}

/// Objects of every space, with their bytes in one store.
#[derive(Debug, Clone)]
pub struct Objects {
    store: Store,
    grace: Duration,
    /// How old an upload's temporary copy must be before the collector
    /// deletes it: at least the longest an upload may take.
    tmp_grace: Duration,
}

/// Where an upload's bytes are before they move under their address.
enum Uploaded {
    /// Held in memory (small).
    Memory(Bytes),
    /// Written to a temporary key.
    Temporary(Path),
}

impl Objects {
    pub fn new(store: Store, grace: Duration) -> Self {
        Self { store, grace, tmp_grace: grace }
    }

    /// Keeps temporary upload copies at least `longest_upload` (plus the
    /// grace period) before collecting them: a slow upload's copy is older
    /// than the grace period when it completes (S3 dates it from its start).
    pub fn with_longest_upload(mut self, longest_upload: Duration) -> Self {
        self.tmp_grace = self.grace.max(longest_upload + self.grace);
        self
    }

    pub fn tmp_grace(&self) -> Duration {
        self.tmp_grace
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Puts an object from a stream of bytes: streamed to the store while
    /// hashed, then referenced in one transaction.
    pub async fn put<S, E>(&self, space: &Space, key: &str, body: S, opts: PutOptions) -> Result<ObjectWritten>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        engram_core::names::check_object_key(key)?;
        let (blob, uploaded) = self.receive(space.id(), body).await?;
        let result = self.settle(space, &blob, &uploaded, |blob| put_request(blob, &opts), key).await;
        self.discard(&uploaded).await;
        result
    }

    /// Stores bytes without naming them (for `Op::PutObject` in a
    /// transaction): the blob stays staged for the grace period.
    pub async fn stage<S, E>(&self, space: &Space, body: S) -> Result<BlobInput>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let (blob, uploaded) = self.receive(space.id(), body).await?;
        let placed = self.place(space, &blob, &uploaded).await;
        self.discard(&uploaded).await;
        placed?;
        let b = blob.clone();
        blocking(space, move |s| s.confirm_blob(b.clone())).await?;
        Ok(blob)
    }

    /// Reads a live object (all of it, or `range`), each chunk verified
    /// against its digest before any of its bytes is yielded.
    pub async fn get(&self, space: &Space, key: &str, range: Option<Range<u64>>) -> Result<Download> {
        let info = self.head(space, key).await?.ok_or_else(|| missing(key))?;
        let blob = if info.size <= OBJECT_CHUNK_BYTES {
            // One chunk: its digest is the content's; no record to read.
            one_chunk(&info)
        } else {
            let digest = info.digest.clone();
            blocking(space, move |s| s.blob(&digest)).await?.ok_or_else(|| {
                Error::corrupted(format!("object {key:?} refers to blob {} which has no record", info.digest))
            })?
        };
        download(self.store.clone(), space.id(), info, blob, range).await
    }

    pub async fn head(&self, space: &Space, key: &str) -> Result<Option<ObjectInfo>> {
        let key = key.to_owned();
        blocking(space, move |s| s.object(&key)).await
    }

    pub async fn delete(
        &self,
        space: &Space,
        key: &str,
        expect: Expect,
        if_digest: Option<String>,
    ) -> Result<ObjectWritten> {
        let key = key.to_owned();
        blocking(space, move |s| s.delete_object(&key, expect, if_digest.as_deref())).await
    }

    pub async fn copy(&self, space: &Space, from: &str, to: &str, expect: Expect) -> Result<ObjectWritten> {
        let (from, to) = (from.to_owned(), to.to_owned());
        blocking(space, move |s| s.copy_object(&from, &to, expect)).await
    }

    pub async fn list(&self, space: &Space, req: engram::ListObjects) -> Result<ObjectList> {
        blocking(space, move |s| s.list_objects(&req)).await
    }

    /// A URL that downloads the object's bytes straight from the store
    /// until it expires (S3 and Azure only). It bypasses Engram: no
    /// verification, no revocation before it expires.
    pub async fn signed_url(&self, space: &Space, key: &str, expires_in: Duration) -> Result<String> {
        let info = self.head(space, key).await?.ok_or_else(|| missing(key))?;
        self.store.signed_url(&self.store.blob_path(space.id(), &info.digest), expires_in).await
    }

    /// Step 1 of the saga: receives the body, hashing it; small bodies stay
    /// in memory, larger ones stream to a temporary key in parts.
    async fn receive<S, E>(&self, space: i64, mut body: S) -> Result<(BlobInput, Uploaded)>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut hasher = ChunkHasher::default();
        let mut head = BytesMut::new();
        while head.len() <= SMALL_OBJECT_BYTES {
            match body.next().await {
                Some(piece) => {
                    let piece = piece.map_err(body_error)?;
                    hasher.update(&piece);
                    head.extend_from_slice(&piece);
                }
                None => return Ok((hasher.finish(), Uploaded::Memory(head.freeze()))),
            }
        }
        let tmp = self.store.tmp_path(space, &uuid::Uuid::now_v7().to_string());
        let mut up = self.store.upload(&tmp).await?;
        up.write(&head);
        drop(head);
        match self.stream_rest(&mut up, &tmp, &mut body, &mut hasher).await {
            Ok(()) => {
                self.store.finish(up, &tmp).await?;
                Ok((hasher.finish(), Uploaded::Temporary(tmp)))
            }
            Err(e) => {
                // The parts uploaded so far are dropped with the upload.
                let _ = up.abort().await;
                Err(e)
            }
        }
    }

    async fn stream_rest<S, E>(
        &self,
        up: &mut WriteMultipart,
        tmp: &Path,
        body: &mut S,
        hasher: &mut ChunkHasher,
    ) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(body_error)?;
            hasher.update(&piece);
            if hasher.size() > OBJECT_BYTES_MAX {
                return Err(Error::too_large(format!("an object is at most {OBJECT_BYTES_MAX} bytes")));
            }
            self.store.upload_capacity(up, tmp).await?;
            up.write(&piece);
        }
        Ok(())
    }

    /// Steps 2 to 4: stage, place the bytes (unless the content is referred
    /// to already), commit the reference; again from the stage if the
    /// collector took the content meanwhile.
    async fn settle(
        &self,
        space: &Space,
        blob: &BlobInput,
        uploaded: &Uploaded,
        request: impl Fn(&BlobInput) -> ObjectPut,
        key: &str,
    ) -> Result<ObjectWritten> {
        for _ in 0..SAGA_ROUNDS {
            let staged_at = self.place(space, blob, uploaded).await?;
            if !self.grace.is_zero() && staged_at.elapsed() > self.grace / 2 {
                continue; // too slow: stage again before referring to it
            }
            match self.commit(space, key, request(blob)).await {
                Err(e) if not_staged(&e) => continue,
                other => return other,
            }
        }
        Err(Error::new(ErrorKind::Contention, "the upload kept losing its content to the collector; try again"))
    }

    /// Stages the blob (waiting out a collection of the same content) and
    /// makes sure its bytes are under its address. Returns when it was
    /// staged.
    async fn place(&self, space: &Space, blob: &BlobInput, uploaded: &Uploaded) -> Result<Instant> {
        let mut round = 0u32;
        loop {
            let staged_at = Instant::now();
            let b = blob.clone();
            match blocking(space, move |s| s.stage_blob(b)).await? {
                Staged::Collecting if round < SAGA_ROUNDS * 4 => {
                    round += 1;
                    tokio::time::sleep(Duration::from_millis(25 * u64::from(round))).await;
                }
                Staged::Collecting => {
                    return Err(Error::new(ErrorKind::Contention, "the same content is being collected; try again"));
                }
                // Referred to: the bytes are there, and stay at least
                // for the grace period even if the references go.
                Staged::Referenced => return Ok(staged_at),
                Staged::Pending => {
                    self.store_bytes(space.id(), blob, uploaded).await?;
                    return Ok(staged_at);
                }
            }
        }
    }

    /// Puts the bytes under the blob's address, unless they are there.
    async fn store_bytes(&self, space: i64, blob: &BlobInput, uploaded: &Uploaded) -> Result<()> {
        let path = self.store.blob_path(space, &blob.digest);
        match uploaded {
            Uploaded::Memory(bytes) => self.store.put(&path, bytes.clone()).await,
            Uploaded::Temporary(tmp) => {
                if self.store.exists(&path).await? {
                    return Ok(());
                }
                self.store.rename(tmp, &path).await
            }
        }
    }

    async fn commit(&self, space: &Space, key: &str, put: ObjectPut) -> Result<ObjectWritten> {
        let key = key.to_owned();
        // The bytes are placed (or, for a referenced blob, were placed and
        // confirmed by whoever first referred to it).
        blocking(space, move |s| s.put_placed_object(&key, put.clone())).await
    }

    /// Deletes the temporary copy of an upload, if one is left.
    async fn discard(&self, uploaded: &Uploaded) {
        if let Uploaded::Temporary(tmp) = uploaded
            && let Err(e) = self.store.delete(tmp).await
        {
            // The collector removes it after the grace period.
            tracing::debug!(error = %e, "an upload's temporary copy was not deleted");
        }
    }
}

fn put_request(blob: &BlobInput, opts: &PutOptions) -> ObjectPut {
    ObjectPut {
        blob: blob.clone(),
        content_type: opts.content_type.clone(),
        metadata: opts.metadata.clone(),
        ttl_seconds: opts.ttl_seconds,
        expect: opts.expect,
        if_digest: opts.if_digest.clone(),
    }
}

/// The blob of a single-chunk object, described from the object alone.
fn one_chunk(info: &ObjectInfo) -> engram::BlobInfo {
    engram::BlobInfo {
        digest: info.digest.clone(),
        size: info.size,
        chunks: Vec::new(),
        refs: 1,
        stored: true,
        collecting: false,
        unreferenced_since_ms: None,
    }
}

/// Runs an engine call (which blocks) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    space: &Space,
    f: impl FnOnce(&Space) -> Result<T> + Send + 'static,
) -> Result<T> {
    let space = space.clone();
    // The caller's actor (a server request's) names this work's changes.
    let actor = engram::current_actor();
    tokio::task::spawn_blocking(move || engram::with_actor(actor, || f(&space)))
        .await
        .map_err(|e| Error::internal(format!("an engine call failed: {e}")))?
}

/// The engine's refusal to refer to a blob that is not (or no longer)
/// staged: the collector took it between the stage and the reference.
fn not_staged(e: &Error) -> bool {
    e.kind() == ErrorKind::Conflict && e.message().starts_with(engram::NOT_STAGED)
}

fn missing(key: &str) -> Error {
    Error::not_found(format!("object {key:?} does not exist"))
}

fn body_error(e: impl std::fmt::Display) -> Error {
    Error::invalid(format!("reading the request body failed: {e}"))
}
