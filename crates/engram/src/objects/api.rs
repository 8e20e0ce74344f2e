//! The object operations of a [`Space`]: metadata reads and listings, the
//! staging and reference writes of the upload saga, and the collector's
//! steps. The bytes themselves go through the `engram-objects` crate.

use crate::objects::record::{BlobRecord, EXPIRY_INDEX, GC_INDEX, ObjectRecord, up_to};
use crate::objects::types::{
    BlobInfo, BlobInput, ListObjects, ObjectInfo, ObjectList, ObjectPut, ObjectWritten, Staged,
};
use crate::ops::Expect;
use crate::space::Space;
use crate::system::{System, scan_range};
use engram_core::Result;
use engram_core::backend::{Reader, StoredDoc};
use engram_core::limits::OBJECT_LIST_SCAN_MAX;
use engram_core::names::check_object_key;

/// Records read per step of a listing.
const LIST_CHUNK_ROWS: usize = 500;

impl Space {
    /// A live object's metadata.
    pub fn object(&self, key: &str) -> Result<Option<ObjectInfo>> {
        check_object_key(key)?;
        let Some(coll) = self.inner.reserved_collection(self.id, System::Objects)? else { return Ok(None) };
        let Some(doc) = self.inner.backend.reader()?.doc(coll.row.id, key)? else { return Ok(None) };
        let rec = ObjectRecord::parse(&doc)?;
        Ok((!rec.expired(self.inner.hlc.wall_ms())).then(|| rec.info(key, doc.version)))
    }

    /// A blob's record (its chunk digests, who refers to it).
    pub fn blob(&self, digest: &str) -> Result<Option<BlobInfo>> {
        crate::objects::types::check_digest(digest)?;
        let Some(coll) = self.inner.reserved_collection(self.id, System::Blobs)? else { return Ok(None) };
        let doc = self.inner.backend.reader()?.doc(coll.row.id, digest)?;
        doc.map(|d| BlobRecord::parse(&d).map(|r| r.info(digest))).transpose()
    }

    /// Records a blob before its bytes are stored under its content address
    /// (step 2 of the upload saga, see `objects/mod.rs`).
    pub fn stage_blob(&self, blob: BlobInput) -> Result<Staged> {
        blob.validate()?;
        self.write(move |w| w.stage_blob(&blob))
    }

    /// Reports a staged blob's bytes stored under its address (step 3 of
    /// the saga done), so keys may refer to it (`Op::PutObject` in any
    /// transaction) within its grace period.
    pub fn confirm_blob(&self, blob: BlobInput) -> Result<()> {
        blob.validate()?;
        self.write(move |w| w.confirm_blob(&blob))
    }

    /// Puts an object referring to a blob whose bytes the caller has just
    /// stored after staging it (steps 3 and 4 of the saga in one write).
    pub fn put_placed_object(&self, key: &str, put: ObjectPut) -> Result<ObjectWritten> {
        check_object_key(key)?;
        put.validate()?;
        let key = key.to_owned();
        self.write(move |w| w.put_object_placed(&key, &put, true))
    }

    /// Puts an object referring to a blob whose bytes are confirmed stored
    /// (or referenced). To put it together with other writes, use
    /// `Op::PutObject` in a transaction.
    pub fn put_object(&self, key: &str, put: ObjectPut) -> Result<ObjectWritten> {
        check_object_key(key)?;
        put.validate()?;
        let key = key.to_owned();
        self.write(move |w| w.put_object(&key, &put))
    }

    /// Puts `to` with `from`'s content and metadata; no bytes are copied.
    pub fn copy_object(&self, from: &str, to: &str, expect: Expect) -> Result<ObjectWritten> {
        check_object_key(from)?;
        check_object_key(to)?;
        let (from, to) = (from.to_owned(), to.to_owned());
        self.write(move |w| w.copy_object(&from, &to, expect))
    }

    /// Deletes a live object (its bytes are collected once nothing refers
    /// to them).
    pub fn delete_object(&self, key: &str, expect: Expect, if_digest: Option<&str>) -> Result<ObjectWritten> {
        check_object_key(key)?;
        let (key, if_digest) = (key.to_owned(), if_digest.map(str::to_owned));
        self.write(move |w| w.delete_object(&key, expect, if_digest.as_deref()))
    }

    /// Live objects under a prefix, in key order, with keys holding the
    /// delimiter after the prefix folded into common prefixes.
    pub fn list_objects(&self, req: &ListObjects) -> Result<ObjectList> {
        req.validate()?;
        let mut page = ObjectList { objects: Vec::new(), prefixes: Vec::new(), next_after: None };
        let Some(coll) = self.inner.reserved_collection(self.id, System::Objects)? else { return Ok(page) };
        let reader = self.inner.backend.reader()?;
        let now = self.inner.hlc.wall_ms();
        let (mut after, mut cursor) = self.list_start(&*reader, coll.row.id, req, now, &mut page)?;
        let mut scanned = 0;
        loop {
            let docs = reader.scan_docs(coll.row.id, Some(&after), false, LIST_CHUNK_ROWS)?;
            let read = docs.len();
            for doc in docs {
                if doc.id <= after {
                    continue; // folded into the common prefix just listed
                }
                if !doc.id.starts_with(&req.prefix) {
                    return Ok(page);
                }
                if page.objects.len() + page.prefixes.len() >= req.limit {
                    page.next_after = Some(cursor);
                    return Ok(page);
                }
                scanned += 1;
                (after, cursor) = self.list_one(&doc, req, now, &mut page)?;
            }
            if read < LIST_CHUNK_ROWS {
                return Ok(page);
            }
            if scanned >= OBJECT_LIST_SCAN_MAX {
                // Bounded work per page: resume from where the scan stopped
                // (a key, or a common prefix, which a cursor skips past).
                page.next_after = Some(cursor);
                return Ok(page);
            }
        }
    }

    /// Where a listing's scan starts (exclusive). A first page includes the
    /// key equal to the prefix, which a scan after the prefix would skip.
    fn list_start(
        &self,
        reader: &dyn Reader,
        coll: engram_core::backend::CollectionId,
        req: &ListObjects,
        now: u64,
        page: &mut ObjectList,
    ) -> Result<(String, String)> {
        // A cursor before the prefix starts the listing at the prefix.
        let after = req.after.as_ref().filter(|a| a.as_str() >= req.prefix.as_str());
        match after {
            Some(after) if is_common_prefix(after, req) => Ok((past_prefix(after), after.clone())),
            Some(after) => Ok((after.clone(), after.clone())),
            None if req.prefix.is_empty() => Ok((String::new(), String::new())),
            None => {
                if let Some(doc) = reader.doc(coll, &req.prefix)? {
                    self.list_one(&doc, req, now, page)?;
                }
                Ok((req.prefix.clone(), req.prefix.clone()))
            }
        }
    }

    /// Adds one record to a page; returns where the scan goes on after it
    /// and the cursor that resumes there (a key or a common prefix).
    fn list_one(
        &self,
        doc: &StoredDoc,
        req: &ListObjects,
        now: u64,
        page: &mut ObjectList,
    ) -> Result<(String, String)> {
        let rec = ObjectRecord::parse(doc)?;
        if rec.expired(now) {
            return Ok((doc.id.clone(), doc.id.clone())); // gone: neither listed nor folded
        }
        if let Some(delim) = &req.delimiter
            && let Some(at) = doc.id[req.prefix.len()..].find(delim.as_str())
        {
            let common = doc.id[..req.prefix.len() + at + delim.len()].to_owned();
            page.prefixes.push(common.clone());
            return Ok((past_prefix(&common), common));
        }
        page.objects.push(rec.info(&doc.id, doc.version));
        Ok((doc.id.clone(), doc.id.clone()))
    }

    /// Removes up to `limit` expired objects (dropping their references);
    /// returns how many.
    pub fn expire_objects(&self, limit: usize) -> Result<usize> {
        let Some(coll) = self.inner.reserved_collection(self.id, System::Objects)? else { return Ok(0) };
        let now = self.inner.hlc.wall_ms();
        let reader = self.inner.backend.reader()?;
        let expired = scan_range(&*reader, &coll.row, EXPIRY_INDEX, &up_to(now), limit)?;
        drop(reader);
        let keys: Vec<String> = expired.into_iter().map(|d| d.id).collect();
        if keys.is_empty() {
            return Ok(0);
        }
        self.write(move |w| {
            let mut n = 0;
            for key in &keys {
                n += usize::from(w.expire_object(key)?);
            }
            Ok(n)
        })
    }

    /// Up to `limit` blobs unreferenced since `cutoff_ms` or before (or
    /// being collected): what the collector deletes.
    pub fn collectable_blobs(&self, cutoff_ms: u64, limit: usize) -> Result<Vec<BlobInfo>> {
        let Some(coll) = self.inner.reserved_collection(self.id, System::Blobs)? else { return Ok(Vec::new()) };
        let reader = self.inner.backend.reader()?;
        let docs = scan_range(&*reader, &coll.row, GC_INDEX, &up_to(cutoff_ms), limit)?;
        docs.iter().map(|d| BlobRecord::parse(d).map(|r| r.info(&d.id))).collect()
    }

    /// Marks a blob as being collected; true when its bytes may be deleted.
    pub fn begin_collect(&self, digest: &str, cutoff_ms: u64) -> Result<bool> {
        crate::objects::types::check_digest(digest)?;
        let digest = digest.to_owned();
        self.write(move |w| w.begin_collect(&digest, cutoff_ms))
    }

    /// Removes a collected blob's record once its bytes are deleted.
    pub fn end_collect(&self, digest: &str) -> Result<bool> {
        crate::objects::types::check_digest(digest)?;
        let digest = digest.to_owned();
        self.write(move |w| w.end_collect(&digest))
    }
}

/// Whether a listing's `after` names a common prefix (so the keys under it
/// were folded and must be skipped).
fn is_common_prefix(after: &str, req: &ListObjects) -> bool {
    match &req.delimiter {
        Some(d) => after.starts_with(&req.prefix) && after[req.prefix.len()..].ends_with(d.as_str()),
        None => false,
    }
}

/// A string after every key that starts with `prefix`: keys are at most
/// `OBJECT_KEY_BYTES_MAX` bytes, and U+10FFFF is the greatest character.
fn past_prefix(prefix: &str) -> String {
    let room = engram_core::limits::OBJECT_KEY_BYTES_MAX.saturating_sub(prefix.len()) / 4 + 1;
    let mut s = prefix.to_owned();
    s.extend(std::iter::repeat_n('\u{10FFFF}', room));
    s
}
