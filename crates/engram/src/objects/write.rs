//! Object and blob writes inside a transaction: stage, put, copy, delete,
//! expire, and the collector's two steps. Every reference change and the
//! object record it belongs to are written in one transaction (the
//! invariants are in `objects/mod.rs`).

use crate::apply::{Writer, check_expect};
use crate::catalog::Compiled;
use crate::objects::record::{BlobRecord, ObjectRecord};
use crate::objects::types::{BlobInput, DEFAULT_CONTENT_TYPE, ObjectPut, ObjectWritten, Staged};
use crate::ops::Expect;
use engram_core::backend::StoredDoc;
use engram_core::changelog::ChangeOp;
use engram_core::names::check_object_key;
use engram_core::{Error, Result};
use std::sync::Arc;

/// An object's stored record with its version.
type Current = Option<(u64, ObjectRecord)>;

impl Writer<'_> {
    /// Records a blob before its bytes may be stored under its address (see
    /// [`Staged`]). A blob with references is left as it is.
    pub(crate) fn stage_blob(&mut self, blob: &BlobInput) -> Result<Staged> {
        blob.validate()?;
        let coll = self.system_created(crate::system::System::Blobs)?;
        let now = self.now_ms;
        let mut rec = match self.blob(&coll, &blob.digest)? {
            Some(rec) if rec.collecting => return Ok(Staged::Collecting),
            Some(rec) if rec.refs > 0 => return Ok(Staged::Referenced),
            Some(rec) => {
                check_same_blob(&rec, blob)?;
                rec
            }
            None => BlobRecord {
                size: blob.size,
                chunks: blob.chunks.clone(),
                refs: 0,
                stored: false,
                collecting: false,
                gc_at: None,
            },
        };
        // The grace period restarts now: the upload has that long to commit
        // its reference before the collector may take the bytes.
        rec.gc_at = Some(now);
        self.store_blob(&coll, &blob.digest, &rec)?;
        Ok(Staged::Pending)
    }

    /// Marks a staged blob's bytes as stored (its uploader placed them):
    /// from then on keys may refer to it. Restarts its grace period.
    pub(crate) fn confirm_blob(&mut self, blob: &BlobInput) -> Result<()> {
        blob.validate()?;
        let coll = self.system_created(crate::system::System::Blobs)?;
        let mut rec = self.blob(&coll, &blob.digest)?.ok_or_else(|| missing_blob(&blob.digest))?;
        if rec.collecting {
            return Err(missing_blob(&blob.digest));
        }
        check_same_blob(&rec, blob)?;
        if rec.stored && rec.refs > 0 {
            return Ok(());
        }
        rec.stored = true;
        if rec.refs == 0 {
            rec.gc_at = Some(self.now_ms);
        }
        self.store_blob(&coll, &blob.digest, &rec)
    }

    /// Puts an object whose blob's bytes are stored (confirmed, or
    /// `placed` by the caller in this saga).
    pub(crate) fn put_object_placed(&mut self, key: &str, put: &ObjectPut, placed: bool) -> Result<ObjectWritten> {
        check_object_key(key)?;
        put.validate()?;
        let objects = self.system_created(crate::system::System::Objects)?;
        let current = self.object(&objects, key)?;
        self.check_object(key, &current, put.expect, put.if_digest.as_deref())?;
        self.add_ref(&put.blob, placed)?;
        self.finish_put(&objects, key, put, current)
    }

    /// Puts an object whose blob's bytes are confirmed stored.
    pub(crate) fn put_object(&mut self, key: &str, put: &ObjectPut) -> Result<ObjectWritten> {
        self.put_object_placed(key, put, false)
    }

    fn finish_put(
        &mut self,
        objects: &Compiled,
        key: &str,
        put: &ObjectPut,
        current: Current,
    ) -> Result<ObjectWritten> {
        if let Some((_, old)) = &current {
            self.drop_ref(&old.digest)?;
        }
        let rec = ObjectRecord {
            digest: put.blob.digest.clone(),
            size: put.blob.size,
            content_type: put.content_type.clone().unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned()),
            metadata: put.metadata.clone(),
            updated_ms: self.now_ms,
            exp: put.ttl_seconds.map(|t| self.now_ms.saturating_add(t.saturating_mul(1000))),
        };
        let (version, position) = self.put_system(objects, key, &record_value(&rec)?, None)?;
        Ok(ObjectWritten { key: key.to_owned(), version, position, digest: rec.digest, size: rec.size })
    }

    /// Puts `to` with the content and metadata of `from` (no bytes move:
    /// both refer to one blob).
    pub(crate) fn copy_object(&mut self, from: &str, to: &str, expect: Expect) -> Result<ObjectWritten> {
        check_object_key(from)?;
        let objects = self.system_created(crate::system::System::Objects)?;
        let now = self.now_ms;
        let Some((_, src)) = self.object(&objects, from)?.filter(|(_, r)| !r.expired(now)) else {
            return Err(Error::not_found(format!("object {from:?} does not exist")));
        };
        let blobs = self.system_created(crate::system::System::Blobs)?;
        let blob = self.blob(&blobs, &src.digest)?.ok_or_else(|| missing_blob(&src.digest))?;
        let mut put = ObjectPut::new(BlobInput { digest: src.digest.clone(), size: src.size, chunks: blob.chunks });
        put.content_type = Some(src.content_type);
        put.metadata = src.metadata;
        put.expect = expect;
        self.put_object(to, &put)
    }

    /// Deletes a live object and drops its reference.
    pub(crate) fn delete_object(
        &mut self,
        key: &str,
        expect: Expect,
        if_digest: Option<&str>,
    ) -> Result<ObjectWritten> {
        check_object_key(key)?;
        let missing = || Error::not_found(format!("object {key:?} does not exist"));
        let objects = self.system(crate::system::System::Objects, false)?.ok_or_else(missing)?;
        let current = self.object(&objects, key)?;
        let Some((_, rec)) = current.as_ref().filter(|(_, r)| !r.expired(self.now_ms)) else { return Err(missing()) };
        self.check_object(key, &current, expect, if_digest)?;
        self.drop_ref(&rec.digest)?;
        let position = self.remove_record(&objects, key, ChangeOp::Delete)?;
        Ok(ObjectWritten { key: key.to_owned(), version: 0, position, digest: rec.digest.clone(), size: rec.size })
    }

    /// Removes an object found expired (if it still is), dropping its
    /// reference; logged as `expire`. Returns whether it was removed.
    pub(crate) fn expire_object(&mut self, key: &str) -> Result<bool> {
        let Some(objects) = self.system(crate::system::System::Objects, false)? else { return Ok(false) };
        let Some(doc) = self.tx.doc(objects.row.id, key)? else { return Ok(false) };
        let rec = ObjectRecord::parse(&doc)?;
        if !rec.expired(self.now_ms) {
            return Ok(false);
        }
        self.drop_ref(&rec.digest)?;
        self.remove_record(&objects, key, ChangeOp::Expire)?;
        Ok(true)
    }

    /// The collector's first step: marks an unreferenced blob, unreferenced
    /// since `cutoff_ms` or before, as being collected. Returns whether it
    /// may now delete the bytes (a reference or a new stage since wins).
    pub(crate) fn begin_collect(&mut self, digest: &str, cutoff_ms: u64) -> Result<bool> {
        let Some(coll) = self.system(crate::system::System::Blobs, false)? else { return Ok(false) };
        let Some(mut rec) = self.blob(&coll, digest)? else { return Ok(false) };
        if rec.collecting {
            return Ok(true);
        }
        if rec.refs > 0 || rec.gc_at.is_none_or(|at| at > cutoff_ms) {
            return Ok(false);
        }
        rec.collecting = true;
        self.store_blob(&coll, digest, &rec)?;
        Ok(true)
    }

    /// The collector's last step, once the bytes are deleted: removes the
    /// blob's record.
    pub(crate) fn end_collect(&mut self, digest: &str) -> Result<bool> {
        let Some(coll) = self.system(crate::system::System::Blobs, false)? else { return Ok(false) };
        match self.blob(&coll, digest)? {
            Some(rec) if rec.collecting => {
                self.remove_record(&coll, digest, ChangeOp::Delete)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The object's record (live or expired) with its version.
    fn object(&mut self, coll: &Compiled, key: &str) -> Result<Current> {
        let Some(doc) = self.tx.doc(coll.row.id, key)? else { return Ok(None) };
        Ok(Some((doc.version, ObjectRecord::parse(&doc)?)))
    }

    /// Checks a write's preconditions against the live object.
    fn check_object(&self, key: &str, current: &Current, expect: Expect, if_digest: Option<&str>) -> Result<()> {
        let live = current.as_ref().filter(|(_, r)| !r.expired(self.now_ms));
        check_expect(expect, live.map(|(v, _)| *v), "object", key)?;
        match (if_digest, live) {
            (Some(want), Some((_, rec))) if rec.digest != want => {
                Err(Error::precondition(format!("object {key:?}: its content is {:?}, not {want:?}", rec.digest)))
            }
            (Some(_), None) => Err(Error::precondition(format!("object {key:?} does not exist"))),
            _ => Ok(()),
        }
    }

    fn blob(&mut self, coll: &Compiled, digest: &str) -> Result<Option<BlobRecord>> {
        self.tx.doc(coll.row.id, digest)?.as_ref().map(BlobRecord::parse).transpose()
    }

    fn store_blob(&mut self, coll: &Compiled, digest: &str, rec: &BlobRecord) -> Result<()> {
        let body = serde_json::to_value(rec).map_err(|e| Error::internal(format!("blob record: {e}")))?;
        self.put_system(coll, digest, &body, None).map(drop)
    }

    /// Adds a reference to a blob whose bytes are stored: confirmed, or
    /// `placed` by the caller after staging. One being collected, never
    /// staged, or staged without its bytes reported cannot be referred to:
    /// its bytes may be missing.
    fn add_ref(&mut self, blob: &BlobInput, placed: bool) -> Result<()> {
        let coll = self.system_created(crate::system::System::Blobs)?;
        let mut rec = self.blob(&coll, &blob.digest)?.ok_or_else(|| missing_blob(&blob.digest))?;
        if rec.collecting || !(rec.stored || placed) {
            return Err(missing_blob(&blob.digest));
        }
        check_same_blob(&rec, blob)?;
        rec.stored = true;
        rec.add_refs(1, self.now_ms);
        self.store_blob(&coll, &blob.digest, &rec)
    }

    fn drop_ref(&mut self, digest: &str) -> Result<()> {
        let coll = self.system_created(crate::system::System::Blobs)?;
        let Some(mut rec) = self.blob(&coll, digest)? else {
            return Err(Error::corrupted(format!("an object refers to blob {digest}, which has no record")));
        };
        rec.add_refs(-1, self.now_ms);
        self.store_blob(&coll, digest, &rec)
    }

    fn remove_record(&mut self, coll: &Arc<Compiled>, id: &str, op: ChangeOp) -> Result<u64> {
        let old: Option<StoredDoc> = self.tx.doc(coll.row.id, id)?;
        self.remove(coll, old.as_ref(), id, op)
    }
}

fn record_value(rec: &ObjectRecord) -> Result<serde_json::Value> {
    serde_json::to_value(rec).map_err(|e| Error::internal(format!("object record: {e}")))
}

/// A blob described twice must be described the same way.
fn check_same_blob(rec: &BlobRecord, blob: &BlobInput) -> Result<()> {
    if rec.size != blob.size || rec.chunks != blob.chunks {
        return Err(Error::invalid(format!(
            "blob {} is stored with {} bytes and other chunk digests than given",
            blob.digest, rec.size
        )));
    }
    Ok(())
}

/// The start of the message of [`missing_blob`], which the upload saga
/// recognizes (a key cannot put it first: those messages start "object").
pub const NOT_STAGED: &str = "blob is not staged";

fn missing_blob(digest: &str) -> Error {
    Error::conflict(format!(
        "{NOT_STAGED}: {digest} (upload its bytes first with POST …/blobs, or again: unreferenced bytes are collected after the grace period)"
    ))
}
