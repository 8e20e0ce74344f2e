//! A space handle: every data operation is scoped to one space by holding it.

use crate::apply::{Encoded, Writer, plain_put_run};

use crate::embedding;
use crate::engine::Inner;
use crate::ops::{Batch, CommitResult, Expect, Op, OpResult, WriteOptions, WriteResult};
use crate::plan::{for_each_match, plan, run_page};
use crate::query::{Page, Query};
use engram_core::backend::{CollectionSpec, IdempotencyRecord, SpaceId, WriteTx};
use engram_core::changelog::{ChangeEntry, ChangeHead, Digest, verify_run};
use engram_core::filter::Filter;
use engram_core::json::{content_hash, decode_document, hex};
use engram_core::limits::{BATCH_BYTES_MAX, BATCH_OPS_MAX, CHANGES_LIMIT_MAX};
use engram_core::names::{CollectionName, DocId, IdempotencyKey, SpaceName};
use engram_core::{Error, ErrorKind, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// Change-log entries read per step while verifying the chain.
const VERIFY_CHUNK_ENTRIES: usize = 1_000;
/// Times a write is re-embedded and retried when its text or its
/// collection's spec changed while its vectors were computed.
const EMBED_RETRIES: u32 = 3;

/// A document as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Document {
    pub id: String,
    pub version: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub body: Value,
    /// When the document expires (ms since the Unix epoch), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
}

/// A collection as described to callers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CollectionInfo {
    pub name: String,
    /// Schema, default TTL, indexes and searchable fields.
    pub spec: CollectionSpec,
    /// Bumped on every change of the spec.
    pub generation: u64,
}

/// The result of verifying a space's change-log chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainReport {
    pub entries: u64,
    pub head_position: u64,
    pub head_hash: String,
}

/// A handle on one space.
#[derive(Clone)]
pub struct Space {
    pub(crate) inner: Arc<Inner>,
    pub(crate) id: SpaceId,
    name: SpaceName,
    /// Document reads (get, query, count) may go to a read replica.
    stale: bool,
}

impl std::fmt::Debug for Space {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Space").field("name", &self.name.as_str()).finish_non_exhaustive()
    }
}

impl Space {
    pub(crate) fn new(inner: Arc<Inner>, id: SpaceId, name: SpaceName) -> Self {
        Self { inner, id, name, stale: false }
    }

    /// This space with document reads (`get`, `query`, `count`, `exists`)
    /// that accept staleness: on a backend with a read replica they read
    /// there (and from the primary while it is unreachable), so they may
    /// miss the latest writes. Writes, searches and everything else are
    /// unchanged. Without a replica this is the same as `self`.
    pub fn replica_reads(&self) -> Self {
        Self { stale: true, ..self.clone() }
    }

    /// The reader document reads use (see [`Space::replica_reads`]).
    fn doc_reader(&self) -> Result<Box<dyn engram_core::backend::Reader + '_>> {
        if self.stale { self.inner.backend.stale_reader() } else { self.inner.backend.reader() }
    }

    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The space's internal id: assigned at creation and never reused, so
    /// it tells this space from one created later under the same name.
    pub fn id(&self) -> i64 {
        self.id.0
    }

    /// Runs `f` with a [`Writer`] in one atomic, durable transaction.
    /// `f` may run more than once (after a contention failure, in a new
    /// transaction), so it must not consume what it captures.
    pub(crate) fn write<T, F>(&self, mut f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut Writer<'_>) -> Result<T> + Send + 'static,
    {
        let (inner, id, name) = (self.inner.clone(), self.id, self.name.clone());
        // Captured here, on the caller's thread: the transaction may run on
        // another (the backend's writer).
        let actor = crate::actor::current_actor();
        let (out, logged, readied) = self.inner.write_with(move |tx: &mut dyn WriteTx| {
            let mut w = Writer::open(tx, id, &name, &inner.hlc, &inner.catalog, &actor)?;
            let out = f(&mut w)?;
            Ok((out, w.logged, std::mem::take(&mut w.readied)))
        })?;
        if logged {
            // After the commit: a waiter woken now sees what was written,
            // here and (announced) on the other servers. A write that
            // changed nothing wakes no one (an empty receive would otherwise
            // wake every waiter, itself included, in a loop), and only a
            // write that made messages receivable wakes their receivers.
            self.inner.signals.bump_written(self.id, &readied);
            self.inner.backend.announce(self.id);
        }
        Ok(out)
    }

    // ----- collections -------------------------------------------------

    pub fn create_collection(&self, name: &str, spec: CollectionSpec) -> Result<CollectionInfo> {
        let cname = CollectionName::new(name)?;
        let embedders = embedding::spec::resolve(spec.search.as_ref(), &self.inner.config.embedders)?;
        let row = self.write(move |w| w.create_collection(&cname, spec.clone(), &embedders))?;
        self.inner.forget_collection(self.id, name);
        Ok(CollectionInfo { name: row.name.to_string(), spec: row.spec, generation: row.generation })
    }

    /// Replaces a collection's spec (schema, default TTL, indexes). New
    /// indexes are built in the same transaction. Existing documents are
    /// not re-validated against a new schema.
    pub fn update_collection(&self, name: &str, spec: CollectionSpec) -> Result<CollectionInfo> {
        let cname = CollectionName::new(name)?;
        let embedders = embedding::spec::resolve(spec.search.as_ref(), &self.inner.config.embedders)?;
        let row = self.write(move |w| w.update_collection(&cname, spec.clone(), &embedders))?;
        self.inner.forget_collection(self.id, name);
        Ok(CollectionInfo { name: row.name.to_string(), spec: row.spec, generation: row.generation })
    }

    /// Deletes a collection with all its documents.
    pub fn drop_collection(&self, name: &str) -> Result<()> {
        let cname = CollectionName::new(name)?;
        let res = self.write(move |w| w.drop_collection(&cname));
        self.inner.forget_collection(self.id, name);
        res
    }

    pub fn collection(&self, name: &str) -> Result<CollectionInfo> {
        let c = self.inner.collection(self.id, name)?;
        Ok(CollectionInfo { name: c.row.name.to_string(), spec: c.row.spec.clone(), generation: c.row.generation })
    }

    pub fn collections(&self) -> Result<Vec<CollectionInfo>> {
        let rows = self.inner.backend.reader()?.collections(self.id)?;
        Ok(rows
            .into_iter()
            .filter(|r| !r.name.is_reserved())
            .map(|r| CollectionInfo { name: r.name.to_string(), spec: r.spec, generation: r.generation })
            .collect())
    }

    // ----- writes ------------------------------------------------------

    /// Applies `ops` atomically: all succeed or none is written.
    pub fn commit(&self, ops: Vec<Op>, idempotency_key: Option<&str>) -> Result<CommitResult> {
        let request = idempotency_key.map(|_| request_hash(&ops));
        self.commit_as(ops, idempotency_key, request)
    }

    /// Commits with the idempotency request hash given (`request` is set
    /// exactly when a key is).
    fn commit_as(
        &self,
        mut ops: Vec<Op>,
        idempotency_key: Option<&str>,
        request: Option<Digest>,
    ) -> Result<CommitResult> {
        if ops.is_empty() || ops.len() > BATCH_OPS_MAX {
            let kind = if ops.is_empty() { ErrorKind::InvalidInput } else { ErrorKind::TooLarge };
            return Err(Error::new(
                kind,
                format!("a transaction holds 1 to {BATCH_OPS_MAX} operations, got {}", ops.len()),
            ));
        }
        let mut attempt = 0;
        loop {
            // Vectors are computed before the commit; the writer checks
            // they match the text it commits. When the text or the spec
            // moved meanwhile (a Conflict), embed again and retry.
            let embedded = embedding::prepare::embed_ops(&self.inner, self.id, &mut ops)?;
            let again = (embedded && attempt < EMBED_RETRIES).then(|| ops.clone());
            match self.commit_prepared(ops, idempotency_key, request) {
                Err(e) if e.kind() == ErrorKind::Conflict && again.is_some() => {
                    ops = again.expect("kept for a retry");
                    attempt += 1;
                    for op in &ops {
                        self.inner.forget_collection(self.id, op.collection());
                    }
                }
                res => return res,
            }
        }
    }

    /// Commits operations whose embeddings are computed.
    fn commit_prepared(
        &self,
        ops: Vec<Op>,
        idempotency_key: Option<&str>,
        request: Option<Digest>,
    ) -> Result<CommitResult> {
        let key = idempotency_key.map(IdempotencyKey::new).transpose()?;
        // Encoded once here; a re-run after contention encodes again.
        let mut encoded = Some(encode_puts(&ops)?);
        let ttl_ms = self.inner.config.idempotency_ttl_seconds.saturating_mul(1000);
        self.write(move |w| {
            let encoded = match encoded.take() {
                Some(e) => e,
                None => encode_puts(&ops)?,
            };
            match (&key, request) {
                (Some(key), Some(hash)) => idempotent(w, key, hash, &ops, encoded, ttl_ms),
                _ => apply_all(w, &ops, encoded),
            }
        })
    }

    /// Runs a write once per idempotency key (when one is given): a repeat
    /// of the same request (same `what` and `request`) returns the first
    /// result and `true` without writing.
    pub(crate) fn write_once<T, R>(
        &self,
        key: Option<&str>,
        what: &str,
        request: &R,
        mut f: impl FnMut(&mut Writer<'_>) -> Result<T> + Send + 'static,
    ) -> Result<(T, bool)>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize,
    {
        let Some(key) = key.map(IdempotencyKey::new).transpose()? else { return self.write(f).map(|t| (t, false)) };
        let hash = content_hash(&serde_json::to_vec(&(what, request)).expect("requests serialize"));
        let ttl_ms = self.inner.config.idempotency_ttl_seconds.saturating_mul(1000);
        self.write(move |w| once(w, &key, hash, ttl_ms, &mut f))
    }

    /// Collects operations with `f`, then commits them as one transaction.
    pub fn transaction(&self, f: impl FnOnce(&mut Batch) -> Result<()>) -> Result<CommitResult> {
        let mut batch = Batch::default();
        f(&mut batch)?;
        self.commit(batch.ops, None)
    }

    fn single(&self, op: Op, opts: &WriteOptions) -> Result<WriteResult> {
        self.commit(vec![op], opts.idempotency_key.as_deref())?.single()
    }

    /// Creates or replaces a document.
    pub fn put(&self, collection: &str, id: &str, body: Value, opts: WriteOptions) -> Result<WriteResult> {
        let op = Op::Put {
            collection: collection.into(),
            id: id.into(),
            body,
            expect: opts.expect,
            ttl_seconds: opts.ttl_seconds,
        };
        self.single(op, &opts)
    }

    /// Creates a document under a new time-ordered id (UUIDv7). With an
    /// idempotency key, a retry returns the first result and its id: the
    /// request is identified without the id it was given.
    pub fn insert(&self, collection: &str, body: Value, opts: WriteOptions) -> Result<WriteResult> {
        let mut op = Op::Put {
            collection: collection.into(),
            id: String::new(),
            body,
            expect: Expect::Absent,
            ttl_seconds: opts.ttl_seconds,
        };
        let request = opts.idempotency_key.as_ref().map(|_| request_hash(std::slice::from_ref(&op)));
        if let Op::Put { id, .. } = &mut op {
            *id = uuid::Uuid::now_v7().to_string();
        }
        self.commit_as(vec![op], opts.idempotency_key.as_deref(), request)?.single()
    }

    /// Applies an RFC 7386 merge patch to an existing document.
    pub fn patch(&self, collection: &str, id: &str, patch: Value, opts: WriteOptions) -> Result<WriteResult> {
        let op = Op::Patch {
            collection: collection.into(),
            id: id.into(),
            patch,
            expect: opts.expect,
            ttl_seconds: opts.ttl_seconds,
        };
        self.single(op, &opts)
    }

    /// Deletes an existing document.
    pub fn delete(&self, collection: &str, id: &str, opts: WriteOptions) -> Result<WriteResult> {
        let op = Op::Delete { collection: collection.into(), id: id.into(), expect: opts.expect };
        self.single(op, &opts)
    }

    /// Creates or replaces many documents in one transaction.
    pub fn bulk_put(
        &self,
        collection: &str,
        docs: Vec<(String, Value)>,
        idempotency_key: Option<&str>,
    ) -> Result<CommitResult> {
        let ops = docs
            .into_iter()
            .map(|(id, body)| Op::Put {
                collection: collection.into(),
                id,
                body,
                expect: Expect::Any,
                ttl_seconds: None,
            })
            .collect();
        self.commit(ops, idempotency_key)
    }

    /// Deletes many documents in one transaction (all must exist).
    pub fn bulk_delete(
        &self,
        collection: &str,
        ids: Vec<String>,
        idempotency_key: Option<&str>,
    ) -> Result<CommitResult> {
        let ops =
            ids.into_iter().map(|id| Op::Delete { collection: collection.into(), id, expect: Expect::Any }).collect();
        self.commit(ops, idempotency_key)
    }

    // ----- reads -------------------------------------------------------

    /// A live document, or a not-found error.
    pub fn get(&self, collection: &str, id: &str) -> Result<Document> {
        DocId::new(id)?;
        let stored = self.inner.read_doc(self.id, collection, id, self.stale)?;
        match stored.filter(|d| d.is_live(self.inner.hlc.wall_ms())) {
            Some(d) => Ok(Document {
                body: decode_document(&d.body)?,
                id: d.id,
                version: d.version,
                expires_at_ms: d.expires_at_ms,
            }),
            None => Err(Error::not_found(format!("document {id:?} does not exist in collection {collection:?}"))),
        }
    }

    /// Several documents by id, in the order asked: `None` for an id with
    /// no live document (or a collection that does not exist). At most
    /// [`GET_MANY_IDS_MAX`](crate::GET_MANY_IDS_MAX) ids; a malformed id is
    /// an error, as in [`Space::get`].
    pub fn get_many(&self, collection: &str, ids: &[String]) -> Result<Vec<Option<Document>>> {
        if ids.len() > crate::GET_MANY_IDS_MAX {
            return Err(Error::invalid(format!(
                "{} ids asked; at most {} per call (GET_MANY_IDS_MAX)",
                ids.len(),
                crate::GET_MANY_IDS_MAX
            )));
        }
        ids.iter()
            .map(|id| match self.get(collection, id) {
                Ok(d) => Ok(Some(d)),
                Err(e) if e.kind() == crate::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            })
            .collect()
    }

    /// One page of documents matching a query.
    pub fn query(&self, collection: &str, q: &Query) -> Result<Page> {
        let coll = self.inner.collection(self.id, collection)?;
        let filter = Filter::parse(&q.filter)?;
        let sort = q.sort_paths()?;
        let fp = fingerprint(coll.row.id.0, coll.row.generation, q);
        let plan = plan(&coll, filter, sort);
        let reader = self.doc_reader()?;
        run_page(reader.as_ref(), &coll, &plan, q, fp, self.inner.hlc.wall_ms())
    }

    /// How many live documents match `filter`.
    pub fn count(&self, collection: &str, filter: &Value) -> Result<u64> {
        let coll = self.inner.collection(self.id, collection)?;
        let plan = plan(&coll, Filter::parse(filter)?, Vec::new());
        let reader = self.doc_reader()?;
        let mut n = 0;
        for_each_match(reader.as_ref(), &coll, &plan, self.inner.hlc.wall_ms(), |_| {
            n += 1;
            Ok(())
        })?;
        Ok(n)
    }

    /// Whether any live document matches `filter`.
    pub fn exists(&self, collection: &str, filter: &Value) -> Result<bool> {
        let q = Query { filter: filter.clone(), limit: Some(1), ..Query::default() };
        Ok(!self.query(collection, &q)?.documents.is_empty())
    }

    /// Change-log entries after `after`, at most `limit`.
    pub fn changes(&self, after: u64, limit: usize) -> Result<Vec<ChangeEntry>> {
        if limit == 0 || limit > CHANGES_LIMIT_MAX {
            return Err(Error::invalid(format!("limit must be 1 to {CHANGES_LIMIT_MAX}, got {limit}")));
        }
        self.inner.backend.reader()?.changes(self.id, after, limit)
    }

    /// Verifies the whole change-log chain of this space.
    pub fn verify_changes(&self) -> Result<ChainReport> {
        let reader = self.inner.backend.reader()?;
        let mut head = ChangeHead::default();
        let mut entries = 0;
        loop {
            let run = reader.changes(self.id, head.position, VERIFY_CHUNK_ENTRIES)?;
            if run.is_empty() {
                break;
            }
            entries += run.len() as u64;
            head = verify_run(head, &run)?;
        }
        if reader.change_head(self.id)? != head {
            return Err(Error::corrupted("change log head does not match its last entry"));
        }
        Ok(ChainReport { entries, head_position: head.position, head_hash: hex(&head.hash) })
    }
}

/// Names the failing operation of a multi-operation transaction.
fn op_context(many: bool, i: usize) -> impl Fn(Error) -> Error {
    move |e| if many { e.context(&format!("ops[{i}]")) } else { e }
}

/// Serializes and hashes every put's body on the caller's thread.
fn encode_puts(ops: &[Op]) -> Result<Vec<Option<Encoded>>> {
    let many = ops.len() > 1;
    let mut total = 0usize;
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let encoded = match op {
            Op::Put { body, .. } => Some(Encoded::of(body).map_err(op_context(many, i))?),
            _ => None,
        };
        total += encoded.as_ref().map_or(0, |e| e.text.len());
        if total > BATCH_BYTES_MAX {
            return Err(Error::too_large(format!("a transaction's documents exceed {BATCH_BYTES_MAX} bytes")));
        }
        out.push(encoded);
    }
    Ok(out)
}

/// Applies `ops` in order; runs of plain puts (a bulk put) go together.
fn apply_all(w: &mut Writer<'_>, ops: &[Op], encoded: Vec<Option<Encoded>>) -> Result<CommitResult> {
    let many = ops.len() > 1;
    let mut results: Vec<OpResult> = Vec::with_capacity(ops.len());
    let mut encoded = encoded.into_iter();
    while results.len() < ops.len() {
        let at = results.len();
        let run = plain_put_run(&ops[at..]);
        if run > 1 {
            let enc = encoded.by_ref().take(run).collect();
            results.extend(w.put_run(&ops[at..at + run], enc, |i, e| op_context(many, at + i)(e))?);
        } else {
            let enc = encoded.next().flatten();
            results.push(w.apply(&ops[at], enc).map_err(op_context(many, at))?);
        }
    }
    // The last entry's: an operation that wrote nothing (a deduplicated
    // enqueue) reports position 0.
    let position = results.iter().map(|r| r.position).max().unwrap_or(0);
    Ok(CommitResult { results, position, replayed: false })
}

/// Applies `ops` once per key: a repeat with the same request returns the
/// first result without writing; a different request is rejected.
fn idempotent(
    w: &mut Writer<'_>,
    key: &IdempotencyKey,
    request_hash: Digest,
    ops: &[Op],
    encoded: Vec<Option<Encoded>>,
    ttl_ms: u64,
) -> Result<CommitResult> {
    let (mut result, replayed) = once(w, key, request_hash, ttl_ms, |w| apply_all(w, ops, encoded))?;
    result.replayed = replayed;
    Ok(result)
}

/// Runs `f` once per idempotency key: a repeat with the same request hash
/// returns the first result (and `true`) without running `f`; the same key
/// with another request is rejected. The result is kept as JSON.
pub(crate) fn once<T: Serialize + DeserializeOwned>(
    w: &mut Writer<'_>,
    key: &IdempotencyKey,
    request_hash: Digest,
    ttl_ms: u64,
    f: impl FnOnce(&mut Writer<'_>) -> Result<T>,
) -> Result<(T, bool)> {
    if let Some(rec) = w.tx.idempotency(w.space, key.as_str())?.filter(|r| r.expires_at_ms > w.now_ms) {
        if rec.request_hash != request_hash {
            return Err(Error::new(
                ErrorKind::IdempotencyMismatch,
                format!("idempotency key {:?} was already used for a different request", key.as_str()),
            ));
        }
        let first: T = serde_json::from_str(&rec.response)
            .map_err(|e| Error::corrupted(format!("stored idempotent response: {e}")))?;
        return Ok((first, true));
    }
    let result = f(w)?;
    let response = serde_json::to_string(&result).expect("results serialize");
    let record = IdempotencyRecord { request_hash, response, expires_at_ms: w.now_ms.saturating_add(ttl_ms) };
    w.tx.put_idempotency(w.space, key.as_str(), &record)?;
    Ok((result, false))
}

/// Identifies a request for idempotency: the hash of its operations.
fn request_hash(ops: &[Op]) -> Digest {
    content_hash(&serde_json::to_vec(ops).expect("operations serialize"))
}

/// Binds cursors to their query and to the collection's current spec.
fn fingerprint(coll: i64, generation: u64, q: &Query) -> [u8; 8] {
    let text = serde_json::to_vec(&(coll, generation, &q.filter, &q.sort)).expect("queries serialize");
    let h = content_hash(&text);
    h[..8].try_into().expect("8 bytes")
}
