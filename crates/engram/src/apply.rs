//! The write path's logic, run inside one backend transaction: resolving
//! collections, checking preconditions, patching, validating, maintaining
//! index entries and appending the change log.
//!
//! Invariant: every document mutation appends exactly one change-log entry in
//! the same transaction, so the log and the records can never disagree.

use crate::actor::Actor;
use crate::catalog::{Catalog, Compiled, prepare_spec};
use crate::ops::{Expect, Op, OpResult, check_ttl};
use engram_core::backend::{CollectionId, CollectionRow, CollectionSpec, DocUpsert, SpaceId, StoredDoc, WriteTx};
use engram_core::changelog::{ChangeDraft, ChangeOp, Digest};
use engram_core::embed::EmbedderInfo;
use engram_core::hlc::Hlc;
use engram_core::json::{content_hash, decode_document, encode_document, merge_patch};
use engram_core::names::{CollectionName, DocId, SpaceName};
use engram_core::{Error, ErrorKind, Result};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Documents read per step while backfilling a new index.
const BACKFILL_CHUNK_ROWS: usize = 1_000;

/// A document body serialized and hashed before the transaction, on the
/// caller's thread, so the single writer thread does less per write.
pub(crate) struct Encoded {
    pub text: String,
    pub hash: Digest,
}

impl Encoded {
    pub fn of(body: &Value) -> Result<Self> {
        let text = encode_document(body)?;
        let hash = content_hash(text.as_bytes());
        Ok(Self { text, hash })
    }
}

/// One transaction's view of a space, with the collections it touched.
pub(crate) struct Writer<'a> {
    pub tx: &'a mut dyn WriteTx,
    pub space: SpaceId,
    name: &'a SpaceName,
    space_checked: bool,
    hlc: &'a Hlc,
    catalog: &'a Catalog,
    /// Who this transaction's entries name.
    actor: &'a Actor,
    pub now_ms: u64,
    colls: HashMap<String, Arc<Compiled>>,
    /// Names looked up and found missing in this transaction (every delete
    /// asks for `_edges`; a space without a graph must not pay a read each).
    absent: HashSet<String>,
    /// Whether this transaction appended to the log (a write that changed
    /// nothing, such as a receive that found no message, wakes no one).
    pub logged: bool,
    /// The queues in which this transaction may have made messages
    /// receivable (enqueued, returned, promoted): only their receivers are
    /// woken after the commit.
    pub readied: Vec<String>,
}

impl<'a> Writer<'a> {
    /// Starts writing to `space`.
    ///
    /// Invariant: deleting a space deletes its collections in the same
    /// transaction, so finding a collection of `space` proves the space
    /// still exists; only creating a collection must check the space itself.
    pub fn open(
        tx: &'a mut dyn WriteTx,
        space: SpaceId,
        name: &'a SpaceName,
        hlc: &'a Hlc,
        catalog: &'a Catalog,
        actor: &'a Actor,
    ) -> Result<Self> {
        // The space's write lock first (see `WriteTx::lock_space`): from here
        // to the commit no other writer, in this process or another, can
        // append to this space. Observing the head's timestamp then makes
        // every stamp of this transaction newer than the log's last entry,
        // whichever server wrote it.
        let head = tx.lock_space(space)?;
        hlc.observe(head.hlc);
        // The space's time never runs backwards along its log either: a
        // server whose clock lags another's takes the log's time, so what
        // the other wrote "now" (a message's visibility, an expiry) is not
        // in this one's future.
        let now_ms = hlc.wall_ms().max(engram_core::hlc::physical_ms(head.hlc));
        let (colls, absent) = (HashMap::new(), HashSet::new());
        let readied = Vec::new();
        Ok(Self {
            tx,
            space,
            name,
            space_checked: false,
            hlc,
            catalog,
            actor,
            now_ms,
            colls,
            absent,
            logged: false,
            readied,
        })
    }

    /// Fails when the space was deleted after the handle was obtained.
    fn check_space(&mut self) -> Result<()> {
        if !self.space_checked && self.tx.space(self.name)?.map(|s| s.id) != Some(self.space) {
            return Err(Error::not_found(format!("space {:?} does not exist", self.name.as_str())));
        }
        self.space_checked = true;
        Ok(())
    }

    /// Appends a change-log entry; returns its position.
    pub fn log(&mut self, op: ChangeOp, collection: &str, doc_id: &str, version: u64, content: Digest) -> Result<u64> {
        let hlc = self.hlc.tick();
        self.log_stamped(hlc, op, collection, doc_id, version, content)
    }

    /// The next HLC timestamp.
    pub fn tick(&self) -> u64 {
        self.hlc.tick()
    }

    /// Appends a change-log entry stamped `hlc` (the document's own stamp,
    /// so no stored timestamp is newer than its space's newest entry).
    pub fn log_stamped(
        &mut self,
        hlc: u64,
        op: ChangeOp,
        collection: &str,
        doc_id: &str,
        version: u64,
        content: Digest,
    ) -> Result<u64> {
        fail::fail_point!("engram.log", |_| Err(Error::internal("injected failure appending to the change log")));
        let head = self.tx.change_head(self.space)?;
        let draft = ChangeDraft {
            hlc,
            op,
            collection: collection.to_owned(),
            doc_id: doc_id.to_owned(),
            version,
            content_hash: content,
            actor: self.actor.id().to_owned(),
            request_id: self.actor.request_id().to_owned(),
        };
        let entry = draft.seal(&head);
        self.tx.append_change(self.space, &entry)?;
        self.logged = true;
        Ok(entry.position)
    }

    /// A caller's collection, created with defaults when `create` and missing.
    fn collection(&mut self, name: &str, create: bool) -> Result<Arc<Compiled>> {
        if let Some(c) = self.colls.get(name) {
            return Ok(c.clone());
        }
        let cname = CollectionName::new(name)?;
        self.reserved_collection(&cname, create.then(CollectionSpec::default))?
            .ok_or_else(|| Error::not_found(format!("collection {name:?} does not exist")))
    }

    /// A collection by validated name (reserved names included), created
    /// with `create`'s spec when missing; `None` if missing and not created.
    pub fn reserved_collection(
        &mut self,
        cname: &CollectionName,
        create: Option<CollectionSpec>,
    ) -> Result<Option<Arc<Compiled>>> {
        if let Some(c) = self.colls.get(cname.as_str()) {
            return Ok(Some(c.clone()));
        }
        if create.is_none() && self.absent.contains(cname.as_str()) {
            return Ok(None);
        }
        let row = match (self.tx.collection(self.space, cname)?, create) {
            (Some(row), _) => row,
            (None, Some(spec)) => self.create_collection(cname, spec, &BTreeMap::new())?,
            (None, None) => {
                self.absent.insert(cname.as_str().to_owned());
                return Ok(None);
            }
        };
        let compiled = self.catalog.get(row)?;
        self.colls.insert(cname.as_str().to_owned(), compiled.clone());
        Ok(Some(compiled))
    }

    /// Creates a collection; `embedders` describes the embedders its spec
    /// names (resolved before the transaction).
    pub fn create_collection(
        &mut self,
        name: &CollectionName,
        spec: CollectionSpec,
        embedders: &BTreeMap<String, EmbedderInfo>,
    ) -> Result<CollectionRow> {
        self.check_space()?;
        self.absent.remove(name.as_str());
        if self.tx.collection(self.space, name)?.is_some() {
            return Err(Error::new(ErrorKind::AlreadyExists, format!("collection {name:?} already exists")));
        }
        let spec = prepare_spec(spec, None, embedders)?;
        let id = self.tx.insert_collection(self.space, name, &spec)?;
        self.log(ChangeOp::CollectionCreate, name.as_str(), "", 0, spec_hash(&spec))?;
        self.tx.collection_by_id(id)?.ok_or_else(|| Error::internal("created collection is missing"))
    }

    /// Replaces a collection's spec; new indexes are built from the stored
    /// documents in this same transaction, dropped ones are cleared.
    pub fn update_collection(
        &mut self,
        name: &CollectionName,
        spec: CollectionSpec,
        embedders: &BTreeMap<String, EmbedderInfo>,
    ) -> Result<CollectionRow> {
        let row = self
            .tx
            .collection(self.space, name)?
            .ok_or_else(|| Error::not_found(format!("collection {name:?} does not exist")))?;
        let spec = prepare_spec(spec, Some(&row.spec), embedders)?;
        let generation = row.generation + 1;
        self.tx.update_collection(row.id, &spec, generation)?;
        for old in row.spec.indexes.iter().filter(|o| !spec.indexes.iter().any(|n| n.id == o.id)) {
            self.tx.clear_index(row.id, old.id)?;
        }
        let updated =
            self.tx.collection_by_id(row.id)?.ok_or_else(|| Error::internal("updated collection is missing"))?;
        let new_ids: Vec<u32> =
            spec.indexes.iter().filter(|n| !row.spec.indexes.iter().any(|o| o.id == n.id)).map(|n| n.id).collect();
        self.backfill(&updated, &new_ids)?;
        self.log(ChangeOp::CollectionUpdate, name.as_str(), "", 0, spec_hash(&spec))?;
        Ok(updated)
    }

    /// Stores an engine-made spec (indexes unchanged) and logs it: the
    /// embedding backfill promoting a model switch.
    pub fn replace_spec(&mut self, row: &CollectionRow, spec: &CollectionSpec, op: ChangeOp) -> Result<()> {
        if spec.indexes != row.spec.indexes {
            return Err(Error::internal("an engine-made spec change must keep the indexes"));
        }
        self.tx.update_collection(row.id, spec, row.generation + 1)?;
        self.colls.remove(row.name.as_str());
        self.log(op, row.name.as_str(), "", 0, spec_hash(spec))?;
        Ok(())
    }

    fn backfill(&mut self, row: &CollectionRow, index_ids: &[u32]) -> Result<()> {
        if index_ids.is_empty() {
            return Ok(());
        }
        let compiled = self.catalog.get(row.clone())?;
        backfill(self.tx, &compiled, index_ids)
    }

    pub fn drop_collection(&mut self, name: &CollectionName) -> Result<()> {
        let row = self
            .tx
            .collection(self.space, name)?
            .ok_or_else(|| Error::not_found(format!("collection {name:?} does not exist")))?;
        self.unlink_collection(name.as_str())?;
        self.tx.delete_collection(row.id)?;
        self.log(ChangeOp::CollectionDrop, name.as_str(), "", 0, [0; 32])?;
        Ok(())
    }

    /// Applies one operation; a put's body comes encoded.
    pub fn apply(&mut self, op: &Op, encoded: Option<Encoded>) -> Result<OpResult> {
        fail::fail_point!("engram.apply", |_| Err(Error::internal("injected failure applying an operation")));
        if !op.is_document_op() {
            return self.apply_memory_op(op);
        }
        DocId::new(op.id())?;
        check_ttl(op.ttl_seconds())?;
        let coll = self.collection(op.collection(), matches!(op, Op::Put { .. }))?;
        let (version, position) = match op {
            Op::Put { id, body, expect, ttl_seconds, .. } => {
                let encoded = match encoded {
                    Some(e) => e,
                    None => Encoded::of(body)?,
                };
                self.put(&coll, id, body, encoded, *expect, *ttl_seconds)?
            }
            Op::Patch { id, patch, expect, ttl_seconds, .. } => self.patch(&coll, id, patch, *expect, *ttl_seconds)?,
            Op::Delete { id, expect, .. } => self.delete(&coll, id, *expect)?,
            _ => return Err(Error::internal("memory operation routed as a document operation")),
        };
        Ok(OpResult { collection: op.collection().to_owned(), id: op.id().to_owned(), version, position })
    }

    /// Applies a run of puts (see [`plain_put_run`]) as consecutive
    /// [`Writer::apply`]s would: same checks, stamps, versions and
    /// change-log entries, in order. When the collection has no index
    /// (nothing to read back or unindex), the documents go to the backend
    /// in one call. `ctx` names a failing put by its place in the run.
    pub fn put_run(
        &mut self,
        ops: &[Op],
        encoded: Vec<Option<Encoded>>,
        ctx: impl Fn(usize, Error) -> Error,
    ) -> Result<Vec<OpResult>> {
        let coll = self.run_collection(ops).map_err(|e| ctx(0, e))?;
        if !coll.indexes.is_empty() {
            let each = ops.iter().zip(encoded).enumerate();
            return each.map(|(i, (op, enc))| self.apply(op, enc).map_err(|e| ctx(i, e))).collect();
        }
        let mut staged = Vec::with_capacity(ops.len());
        for (i, (op, enc)) in ops.iter().zip(encoded).enumerate() {
            staged.push(self.stage_put(&coll, op, enc).map_err(|e| ctx(i, e))?);
        }
        let docs: Vec<DocUpsert<'_>> = ops
            .iter()
            .zip(&staged)
            .map(|(op, s)| DocUpsert { id: op.id(), body: &s.text, expires_at_ms: s.expires, hlc: s.hlc })
            .collect();
        let versions = self.tx.upsert_docs(coll.row.id, &docs)?;
        let mut results = Vec::with_capacity(ops.len());
        for (i, ((op, s), version)) in ops.iter().zip(&staged).zip(versions).enumerate() {
            let name = coll.row.name.as_str();
            let position =
                self.log_stamped(s.hlc, ChangeOp::Put, name, op.id(), version, s.hash).map_err(|e| ctx(i, e))?;
            results.push(OpResult {
                collection: op.collection().to_owned(),
                id: op.id().to_owned(),
                version,
                position,
            });
        }
        Ok(results)
    }

    /// The collection of a run of puts, created if missing, after the
    /// first put's own checks (the order [`Writer::apply`] reports in).
    fn run_collection(&mut self, ops: &[Op]) -> Result<Arc<Compiled>> {
        let first = ops.first().ok_or_else(|| Error::internal("an empty run of puts"))?;
        DocId::new(first.id())?;
        check_ttl(first.ttl_seconds())?;
        self.collection(first.collection(), true)
    }

    /// Checks one put of a run and stamps it, as [`Writer::put`] does
    /// before writing.
    fn stage_put(&mut self, coll: &Compiled, op: &Op, encoded: Option<Encoded>) -> Result<Staged> {
        fail::fail_point!("engram.apply", |_| Err(Error::internal("injected failure applying an operation")));
        let Op::Put { id, body, ttl_seconds, .. } = op else {
            return Err(Error::internal("a run of puts holds another operation"));
        };
        DocId::new(id)?;
        check_ttl(*ttl_seconds)?;
        let Encoded { text, hash } = match encoded {
            Some(e) => e,
            None => Encoded::of(body)?,
        };
        coll.check(body)?;
        Ok(Staged { text, hash, expires: self.expiry(coll, *ttl_seconds), hlc: self.hlc.tick() })
    }

    /// Applies a graph, fact or stream operation.
    fn apply_memory_op(&mut self, op: &Op) -> Result<OpResult> {
        let result = |id: String, version: u64, position: u64| OpResult {
            collection: op.collection().to_owned(),
            id,
            version,
            position,
        };
        Ok(match op {
            Op::Link { edge } => {
                let (e, position) = self.link(edge)?;
                result(e.id, e.version, position)
            }
            Op::Unlink { from, to, edge_type } => {
                let (id, position) = self.unlink(from, edge_type, to)?;
                result(id, 0, position)
            }
            Op::Assert { fact } => {
                let (f, position) = self.assert_fact(fact)?;
                result(f.id, 1, position)
            }
            Op::Retract { fact_id, valid_until_ms } => {
                let (f, position) = self.retract_fact(fact_id, *valid_until_ms)?;
                result(f.id, 0, position)
            }
            Op::Append { stream, request } => {
                let (r, position) = self.append(stream, request)?;
                result(r.stream, r.version, position)
            }
            Op::Enqueue { queue, message } => {
                engram_core::names::check_queue_name(queue)?;
                message.validate()?;
                let e = self.enqueue(queue, message)?;
                result(e.id, u64::from(!e.deduplicated), e.position)
            }
            Op::Publish { topic, payload } => {
                let (id, position) = self.publish(topic, payload)?;
                result(id, 1, position)
            }
            Op::PutObject { key, object } => {
                let w = self.put_object(key, object)?;
                result(w.key, w.version, w.position)
            }
            Op::DeleteObject { key, expect } => {
                let w = self.delete_object(key, *expect, None)?;
                result(w.key, 0, w.position)
            }
            Op::CopyObject { from, to, expect } => {
                let w = self.copy_object(from, to, *expect)?;
                result(w.key, w.version, w.position)
            }
            Op::Put { .. } | Op::Patch { .. } | Op::Delete { .. } => {
                return Err(Error::internal("document operation routed as a memory operation"));
            }
        })
    }

    fn expiry(&self, coll: &Compiled, ttl: Option<u64>) -> Option<u64> {
        ttl.or(coll.row.spec.default_ttl_seconds).map(|t| self.now_ms.saturating_add(t.saturating_mul(1000)))
    }

    fn put(
        &mut self,
        coll: &Compiled,
        id: &str,
        body: &Value,
        encoded: Encoded,
        expect: Expect,
        ttl: Option<u64>,
    ) -> Result<(u64, u64)> {
        coll.check(body)?;
        let Encoded { text, hash } = encoded;
        let expires = self.expiry(coll, ttl);
        let hlc = self.hlc.tick();
        let version = if expect == Expect::Any && coll.indexes.is_empty() {
            // Nothing to check or unindex: the backend writes without a read
            // when the document is new.
            self.tx.upsert_doc(coll.row.id, id, &text, expires, hlc)?
        } else {
            let old = self.tx.doc(coll.row.id, id)?;
            check_expect(expect, live(old.as_ref(), self.now_ms).map(|d| d.version), "document", id)?;
            let version = old.as_ref().map_or(1, |d| d.version + 1);
            let doc = StoredDoc { id: id.to_owned(), version, body: text, expires_at_ms: expires, updated_hlc: hlc };
            self.tx.put_doc(coll.row.id, &doc)?;
            self.reindex(coll, id, old.as_ref(), Some(body))?;
            version
        };
        let position = self.log_stamped(hlc, ChangeOp::Put, coll.row.name.as_str(), id, version, hash)?;
        Ok((version, position))
    }

    fn patch(
        &mut self,
        coll: &Compiled,
        id: &str,
        patch: &Value,
        expect: Expect,
        ttl: Option<u64>,
    ) -> Result<(u64, u64)> {
        let old = self.tx.doc(coll.row.id, id)?;
        let current = live(old.as_ref(), self.now_ms).ok_or_else(|| missing(coll, id))?;
        check_expect(expect, Some(current.version), "document", id)?;
        let mut body = decode_document(&current.body)?;
        merge_patch(&mut body, patch);
        let text = encode_document(&body)?;
        coll.check(&body)?;
        let expires = if ttl.is_some() { self.expiry(coll, ttl) } else { current.expires_at_ms };
        let version = current.version + 1;
        let (hlc, hash) = (self.hlc.tick(), content_hash(text.as_bytes()));
        let doc = StoredDoc { id: id.to_owned(), version, body: text, expires_at_ms: expires, updated_hlc: hlc };
        self.tx.put_doc(coll.row.id, &doc)?;
        self.reindex(coll, id, old.as_ref(), Some(&body))?;
        let position = self.log_stamped(hlc, ChangeOp::Patch, coll.row.name.as_str(), id, version, hash)?;
        Ok((version, position))
    }

    fn delete(&mut self, coll: &Compiled, id: &str, expect: Expect) -> Result<(u64, u64)> {
        let old = self.tx.doc(coll.row.id, id)?;
        let current = live(old.as_ref(), self.now_ms).ok_or_else(|| missing(coll, id))?;
        check_expect(expect, Some(current.version), "document", id)?;
        self.remove(coll, old.as_ref(), id, ChangeOp::Delete).map(|p| (0, p))
    }

    /// Removes a stored document (live or expired) with its index entries
    /// and logs `op`.
    /// A caller's document takes its graph edges with it.
    pub fn remove(&mut self, coll: &Compiled, old: Option<&StoredDoc>, id: &str, op: ChangeOp) -> Result<u64> {
        if !coll.row.name.is_reserved() {
            self.unlink_node(coll.row.name.as_str(), id)?;
        }
        self.tx.delete_doc(coll.row.id, id)?;
        self.reindex(coll, id, old, None)?;
        self.log(op, coll.row.name.as_str(), id, 0, [0; 32])
    }

    /// Purges one document if it is still expired (it may have been rewritten
    /// since it was found). Returns whether it was purged.
    pub fn expire(&mut self, coll_id: CollectionId, id: &str) -> Result<bool> {
        let Some(row) = self.tx.collection_by_id(coll_id)? else { return Ok(false) };
        let old = self.tx.doc(coll_id, id)?;
        if old.as_ref().is_none_or(|d| d.is_live(self.now_ms)) {
            return Ok(false);
        }
        let coll = self.catalog.get(row)?;
        self.remove(&coll, old.as_ref(), id, ChangeOp::Expire).map(|_| true)
    }

    pub fn reindex(&mut self, coll: &Compiled, id: &str, old: Option<&StoredDoc>, new: Option<&Value>) -> Result<()> {
        if coll.indexes.is_empty() {
            return Ok(());
        }
        let old_entries = match old {
            Some(d) => coll.index_entries(&decode_document(&d.body)?),
            None => Vec::new(),
        };
        let new_entries = new.map(|b| coll.index_entries(b)).unwrap_or_default();
        self.tx.replace_index_entries(coll.row.id, id, &old_entries, &new_entries)
    }
}

/// A put of a run, checked and stamped, waiting for its version.
struct Staged {
    text: String,
    hash: Digest,
    expires: Option<u64>,
    hlc: u64,
}

/// How many operations from the start of `ops` form a run of puts that
/// [`Writer::put_run`] writes together: puts to one collection without a
/// precondition (their outcome does not depend on what is stored) and with
/// distinct ids (a document written twice needs its first version first).
pub(crate) fn plain_put_run(ops: &[Op]) -> usize {
    let Some(Op::Put { collection: first, .. }) = ops.first() else { return 0 };
    let mut ids = HashSet::new();
    ops.iter()
        .take_while(|op| {
            matches!(op, Op::Put { collection, id, expect: Expect::Any, .. }
                if collection == first && ids.insert(id.as_str()))
        })
        .count()
}

fn live(doc: Option<&StoredDoc>, now_ms: u64) -> Option<&StoredDoc> {
    doc.filter(|d| d.is_live(now_ms))
}

fn missing(coll: &Compiled, id: &str) -> Error {
    Error::not_found(format!("document {id:?} does not exist in collection {:?}", coll.row.name.as_str()))
}

/// Checks a write's precondition against the current live version of the
/// `what` (document, object) `id`.
pub(crate) fn check_expect(expect: Expect, found: Option<u64>, what: &str, id: &str) -> Result<()> {
    let ok = match expect {
        Expect::Any => true,
        Expect::Absent => found.is_none(),
        Expect::Exists => found.is_some(),
        Expect::Version(v) => found == Some(v),
    };
    if ok {
        return Ok(());
    }
    let state = found.map_or("it does not exist".to_owned(), |v| format!("it is at version {v}"));
    let wanted = match expect {
        Expect::Absent => "to be absent".to_owned(),
        Expect::Exists => "to exist".to_owned(),
        Expect::Version(v) => format!("version {v}"),
        Expect::Any => unreachable!("Any always holds"),
    };
    Err(Error::conflict(format!("{what} {id:?}: expected {wanted}, but {state}")))
}

fn spec_hash(spec: &CollectionSpec) -> Digest {
    let text = serde_json::to_string(spec).expect("a collection spec serializes");
    content_hash(text.as_bytes())
}

/// Writes the entries of indexes `index_ids` for every stored document of
/// a collection (whose entries of those indexes must be absent).
pub(crate) fn backfill(tx: &mut dyn WriteTx, compiled: &Compiled, index_ids: &[u32]) -> Result<()> {
    let coll = compiled.row.id;
    let mut after: Option<String> = None;
    loop {
        let docs = tx.scan_docs(coll, after.as_deref(), false, BACKFILL_CHUNK_ROWS)?;
        for d in &docs {
            let body = decode_document(&d.body)?;
            let entries: Vec<_> =
                compiled.index_entries(&body).into_iter().filter(|e| index_ids.contains(&e.index)).collect();
            tx.replace_index_entries(coll, &d.id, &[], &entries)?;
        }
        match docs.last() {
            Some(last) if docs.len() == BACKFILL_CHUNK_ROWS => after = Some(last.id.clone()),
            _ => return Ok(()),
        }
    }
}
