//! Verified reads: an object's bytes come from the store one 4 MiB chunk
//! at a time, and each chunk's BLAKE3 digest is checked before any of its
//! bytes is yielded, so a corrupted byte is an error, never served. A
//! range read fetches the whole chunks it overlaps (at most two extra
//! partial chunks).

use crate::hashing::chunk_matches;
use crate::store::Store;
use bytes::Bytes;
use engram::{BlobInfo, ObjectInfo};
use engram_core::limits::OBJECT_CHUNK_BYTES;
use engram_core::{Error, ErrorKind, Result};
use futures_util::stream::{self, BoxStream};
use futures_util::{StreamExt, TryStreamExt};
use std::ops::Range;

/// Chunks fetched ahead of the one being sent: remote stores answer range
/// requests with latency, so a few in flight keep a download streaming.
/// Bounds a download's memory to about this many plus one chunks (12 MiB).
const CHUNKS_AHEAD: usize = 2;

/// An object being read.
pub struct Download {
    pub info: ObjectInfo,
    /// The bytes served: all of the object, or the range asked for.
    pub range: Range<u64>,
    /// The bytes, verified chunk by chunk. The first chunk is fetched and
    /// verified before this is returned, so a missing or corrupted start
    /// is an error, not a truncated response.
    pub body: BoxStream<'static, Result<Bytes>>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download").field("info", &self.info).field("range", &self.range).finish()
    }
}

/// Starts a verified read of `range` (or all) of an object.
pub(crate) async fn download(
    store: Store,
    space: i64,
    info: ObjectInfo,
    blob: BlobInfo,
    range: Option<Range<u64>>,
) -> Result<Download> {
    let range = range.unwrap_or(0..info.size);
    if range.start > range.end || range.end > info.size {
        return Err(Error::invalid(format!("range {range:?} is outside the object's {} bytes", info.size)));
    }
    if range.is_empty() {
        return Ok(Download { info, range, body: stream::empty().boxed() });
    }
    let first = range.start / OBJECT_CHUNK_BYTES;
    let last = (range.end - 1) / OBJECT_CHUNK_BYTES;
    let path = store.blob_path(space, &info.digest);
    let (want, size) = (range.clone(), info.size);
    let mut chunks = stream::iter(first..=last)
        .map(move |i| {
            let (store, path, blob, want) = (store.clone(), path.clone(), blob.clone(), want.clone());
            async move { fetch_chunk(&store, &path, &blob, size, i, &want).await }
        })
        .buffered(CHUNKS_AHEAD + 1)
        .boxed();
    // The first chunk before answering: a failure here is a clean error.
    let head = chunks.try_next().await?.unwrap_or_default();
    let body = stream::once(async move { Ok(head) }).chain(chunks).boxed();
    Ok(Download { info, range, body })
}

/// Reads chunk `index`, verifies it, and returns the part of it in `want`.
async fn fetch_chunk(
    store: &Store,
    path: &object_store::path::Path,
    blob: &BlobInfo,
    size: u64,
    index: u64,
    want: &Range<u64>,
) -> Result<Bytes> {
    let start = index * OBJECT_CHUNK_BYTES;
    let end = (start + OBJECT_CHUNK_BYTES).min(size);
    let bytes = store.get_range(path, start..end).await.map_err(|e| lost(e, &blob.digest))?;
    if bytes.len() as u64 != end - start || !chunk_matches(blob, index, &bytes) {
        return Err(Error::corrupted(format!(
            "blob {} failed verification at bytes {start}..{end}: the store returned other bytes than were written",
            blob.digest
        )));
    }
    let from = want.start.max(start) - start;
    let to = want.end.min(end) - start;
    Ok(bytes.slice(usize::try_from(from).unwrap_or(0)..usize::try_from(to).unwrap_or(0)))
}

/// Bytes missing under a referenced digest are lost data, not an absent
/// object.
fn lost(e: Error, digest: &str) -> Error {
    if e.kind() == ErrorKind::NotFound {
        return Error::corrupted(format!("the bytes of blob {digest} are missing from the object store"));
    }
    e
}
