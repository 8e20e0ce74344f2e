//! A store that fails on demand, for tests of the upload saga and the
//! collector: it wraps a real store and makes chosen operations fail (a
//! store error) or stall (a timeout) a given number of times.

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, stream};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, RenameOptions,
};
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// An operation a fault can be set on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Put,
    Upload,
    Get,
    Delete,
    List,
    Copy,
    Rename,
}

/// What happens to a faulted call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fails at once with a store error.
    Fail,
    /// Sleeps this long first (longer than a caller's timeout), then fails.
    Stall(Duration),
}

/// The wrapped store and its pending faults.
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    faults: Mutex<HashMap<Op, (Fault, usize)>>,
}

impl fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self { inner, faults: Mutex::default() }
    }

    /// Makes the next `times` calls of `op` suffer `fault`.
    pub fn inject(&self, op: Op, fault: Fault, times: usize) {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner).insert(op, (fault, times));
    }

    /// Clears every pending fault.
    pub fn heal(&self) {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Takes one pending fault of `op`, if any.
    fn take(&self, op: Op) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        match faults.get_mut(&op) {
            Some((fault, n)) if *n > 0 => {
                *n -= 1;
                Some(*fault)
            }
            _ => None,
        }
    }

    /// Applies a pending fault of `op`, if any.
    async fn trip(&self, op: Op) -> object_store::Result<()> {
        match self.take(op) {
            None => Ok(()),
            Some(Fault::Fail) => Err(injected(op)),
            Some(Fault::Stall(d)) => {
                tokio::time::sleep(d).await;
                Err(injected(op))
            }
        }
    }
}

fn injected(op: Op) -> object_store::Error {
    object_store::Error::Generic { store: "faulty", source: format!("injected failure of {op:?}").into() }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.trip(Op::Put).await?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.trip(Op::Upload).await?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.trip(Op::Get).await?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<bytes::Bytes>> {
        self.trip(Op::Get).await?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        if self.take(Op::Delete).is_some() {
            return stream::once(async { Err(injected(Op::Delete)) }).boxed();
        }
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        if self.take(Op::List).is_some() {
            return stream::once(async { Err(injected(Op::List)) }).boxed();
        }
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.trip(Op::List).await?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.trip(Op::Copy).await?;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> object_store::Result<()> {
        self.trip(Op::Rename).await?;
        self.inner.rename_opts(from, to, options).await
    }
}
