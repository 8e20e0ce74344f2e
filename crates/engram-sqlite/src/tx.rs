//! [`WriteTx`] over the writer's open transaction.
//!
//! The writer runs each job inside `SAVEPOINT job` within one batch
//! transaction; this type only issues statements. Reads go through the same
//! connection, so a job sees its own writes and those of earlier jobs of the
//! batch.

use crate::error::{is_constraint_violation, sql};
use crate::reader::Queries;
use engram_core::backend::{
    CollectionId, CollectionRow, CollectionSpec, IdempotencyRecord, IndexEntry, IndexScan, Reader, SpaceId, SpaceRow,
    StoredDoc, WriteTx,
};
use engram_core::changelog::{ChangeEntry, ChangeHead};
use engram_core::names::{CollectionName, SpaceName};
use engram_core::sql_int::{limit, to_sql_int};
use engram_core::{Error, ErrorKind, Result};
use rusqlite::{CachedStatement, Connection, params};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

/// State the writer keeps for the length of one batch transaction.
///
/// Invariant: a cached head equals the newest change of that space as seen
/// inside the open transaction. A head is cached when first read and when
/// `append_change` adds a change (the only way changes are added),
/// `delete_space` drops the entry, and the writer calls
/// [`BatchCache::forget_heads`] whenever a job's savepoint is rolled back and
/// [`BatchCache::clear`] when the batch ends, committed or not.
#[derive(Debug, Default)]
pub(crate) struct BatchCache {
    /// Behind a `RefCell` because reads (`&self`) fill it; the writer thread
    /// alone uses it.
    heads: RefCell<HashMap<SpaceId, ChangeHead>>,
}

impl BatchCache {
    /// Drops cached change heads (after a savepoint rollback undid appends).
    pub(crate) fn forget_heads(&mut self) {
        self.heads.get_mut().clear();
    }

    /// Resets everything at the end of a batch.
    pub(crate) fn clear(&mut self) {
        self.heads.get_mut().clear();
    }
}

/// One job's view of the batch transaction.
pub(crate) struct SqliteTx<'a> {
    conn: &'a Connection,
    cache: &'a mut BatchCache,
    /// The statements a job may run once per document (inserting a
    /// document, appending a change), held for the job instead of being
    /// looked up in the connection's cache by their text at every use.
    insert_doc: Option<CachedStatement<'a>>,
    insert_change: Option<CachedStatement<'a>>,
}

impl<'a> SqliteTx<'a> {
    pub(crate) fn new(conn: &'a Connection, cache: &'a mut BatchCache) -> Self {
        Self { conn, cache, insert_doc: None, insert_change: None }
    }

    fn q(&self) -> Queries<'_> {
        Queries(self.conn)
    }

    /// Executes a cached statement; returns the number of changed rows.
    fn exec<P: rusqlite::Params>(&self, what: &'static str, sql_text: &str, args: P) -> Result<usize> {
        fail::fail_point!("sqlite.write", |_| Err(Error::new(
            ErrorKind::Unavailable,
            format!("{what}: injected failure")
        )));
        let mut stmt = self.conn.prepare_cached(sql_text).map_err(sql(what))?;
        stmt.execute(args).map_err(sql(what))
    }

    /// Executes the statement held in `slot` (prepared from the cache on
    /// first use); returns the number of changed rows.
    fn exec_held<P: rusqlite::Params>(
        conn: &'a Connection,
        slot: &mut Option<CachedStatement<'a>>,
        what: &'static str,
        sql_text: &str,
        args: P,
    ) -> Result<usize> {
        fail::fail_point!("sqlite.write", |_| Err(Error::new(
            ErrorKind::Unavailable,
            format!("{what}: injected failure")
        )));
        let stmt = match slot {
            Some(stmt) => stmt,
            None => slot.insert(conn.prepare_cached(sql_text).map_err(sql(what))?),
        };
        stmt.execute(args).map_err(sql(what))
    }

    /// Executes a cached `... RETURNING` statement that yields one integer.
    fn returning<P: rusqlite::Params>(&self, sql_text: &str, args: P) -> rusqlite::Result<i64> {
        let mut stmt = self.conn.prepare_cached(sql_text)?;
        stmt.query_row(args, |r| r.get(0))
    }
}

/// The error for a name clash on insert, or the converted SQLite error.
fn clash(e: rusqlite::Error, what: &'static str, message: String) -> Error {
    if is_constraint_violation(&e) {
        return Error::new(ErrorKind::AlreadyExists, message);
    }
    sql(what)(e)
}

impl Reader for SqliteTx<'_> {
    fn spaces(&self) -> Result<Vec<SpaceRow>> {
        self.q().spaces()
    }
    fn space(&self, name: &SpaceName) -> Result<Option<SpaceRow>> {
        self.q().space(name)
    }
    fn collections(&self, space: SpaceId) -> Result<Vec<CollectionRow>> {
        self.q().collections(space)
    }
    fn collection(&self, space: SpaceId, name: &CollectionName) -> Result<Option<CollectionRow>> {
        self.q().collection(space, name)
    }
    fn collection_by_id(&self, id: CollectionId) -> Result<Option<CollectionRow>> {
        self.q().collection_by_id(id)
    }
    fn doc(&self, coll: CollectionId, id: &str) -> Result<Option<StoredDoc>> {
        self.q().doc(coll, id)
    }
    fn scan_docs(
        &self,
        coll: CollectionId,
        after: Option<&str>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<StoredDoc>> {
        self.q().scan_docs(coll, after, reverse, limit)
    }
    fn scan_index(&self, scan: &IndexScan<'_>) -> Result<Vec<(Vec<u8>, StoredDoc)>> {
        self.q().scan_index(scan)
    }
    fn changes(&self, space: SpaceId, after: u64, limit: usize) -> Result<Vec<ChangeEntry>> {
        self.q().changes(space, after, limit)
    }
    /// From the batch cache when this batch already read or appended to
    /// the space's log (an append reads the head two or three times).
    fn change_head(&self, space: SpaceId) -> Result<ChangeHead> {
        if let Some(head) = self.cache.heads.borrow().get(&space) {
            return Ok(*head);
        }
        let head = self.q().change_head(space)?;
        self.cache.heads.borrow_mut().insert(space, head);
        Ok(head)
    }
    /// Includes timestamps written earlier in this (uncommitted) batch.
    fn max_hlc(&self) -> Result<u64> {
        self.q().max_hlc()
    }
    fn expired(&self, now_ms: u64, limit: usize) -> Result<Vec<(CollectionId, String)>> {
        self.q().expired(now_ms, limit)
    }
    fn idempotency(&self, space: SpaceId, key: &str) -> Result<Option<IdempotencyRecord>> {
        self.q().idempotency(space, key)
    }
    fn idempotency_records(
        &self,
        space: SpaceId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, IdempotencyRecord)>> {
        self.q().idempotency_records(space, after, limit)
    }
    fn stale_indexes(&self) -> Result<Vec<CollectionId>> {
        self.q().stale_indexes()
    }
}

impl WriteTx for SqliteTx<'_> {
    fn insert_space(&mut self, name: &SpaceName, hlc: u64) -> Result<SpaceId> {
        let sql_text = "INSERT INTO spaces (name, created_hlc) VALUES (?1, ?2) RETURNING id";
        let id = self
            .returning(sql_text, params![name.as_str(), to_sql_int(hlc, "HLC timestamp")?])
            .map_err(|e| clash(e, "creating a space", format!("space {name} already exists")))?;
        Ok(SpaceId(id))
    }

    fn delete_space(&mut self, space: SpaceId) -> Result<()> {
        let what = "deleting a space";
        let in_space = "(SELECT id FROM collections WHERE space_id = ?1)";
        self.exec(what, &format!("DELETE FROM index_entries WHERE coll_id IN {in_space}"), [space.0])?;
        self.exec(what, &format!("DELETE FROM docs WHERE coll_id IN {in_space}"), [space.0])?;
        self.exec(what, "DELETE FROM collections WHERE space_id = ?1", [space.0])?;
        self.exec(what, "DELETE FROM changes WHERE space_id = ?1", [space.0])?;
        self.exec(what, "DELETE FROM idempotency WHERE space_id = ?1", [space.0])?;
        self.exec(what, "DELETE FROM spaces WHERE id = ?1", [space.0])?;
        // Its change log is gone: the cached head no longer holds.
        self.cache.heads.get_mut().remove(&space);
        Ok(())
    }

    fn insert_collection(
        &mut self,
        space: SpaceId,
        name: &CollectionName,
        spec: &CollectionSpec,
    ) -> Result<CollectionId> {
        let spec_json = spec_json(spec)?;
        let sql_text = "INSERT INTO collections (space_id, name, spec, generation) VALUES (?1, ?2, ?3, 1) RETURNING id";
        let id = self
            .returning(sql_text, params![space.0, name.as_str(), spec_json])
            .map_err(|e| clash(e, "creating a collection", format!("collection {name} already exists")))?;
        Ok(CollectionId(id))
    }

    fn update_collection(&mut self, id: CollectionId, spec: &CollectionSpec, generation: u64) -> Result<()> {
        let sql_text = "UPDATE collections SET spec = ?2, generation = ?3 WHERE id = ?1";
        let args = params![id.0, spec_json(spec)?, to_sql_int(generation, "collection generation")?];
        if self.exec("updating a collection", sql_text, args)? == 0 {
            return Err(Error::not_found("collection vanished"));
        }
        Ok(())
    }

    fn delete_collection(&mut self, id: CollectionId) -> Result<()> {
        let what = "deleting a collection";
        self.exec(what, "DELETE FROM index_entries WHERE coll_id = ?1", [id.0])?;
        self.exec(what, "DELETE FROM docs WHERE coll_id = ?1", [id.0])?;
        self.exec(what, "DELETE FROM collections WHERE id = ?1", [id.0])?;
        Ok(())
    }

    fn put_doc(&mut self, coll: CollectionId, doc: &StoredDoc) -> Result<()> {
        let sql_text = "INSERT INTO docs (coll_id, id, version, body, expires_at, updated_hlc) \
                        VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                        ON CONFLICT (coll_id, id) DO UPDATE SET version = excluded.version, body = excluded.body, \
                        expires_at = excluded.expires_at, updated_hlc = excluded.updated_hlc";
        let expires = doc.expires_at_ms.map(|t| to_sql_int(t, "expiry time")).transpose()?;
        let args = params![
            coll.0,
            doc.id,
            to_sql_int(doc.version, "document version")?,
            doc.body,
            expires,
            to_sql_int(doc.updated_hlc, "HLC timestamp")?
        ];
        self.exec("writing a document", sql_text, args)?;
        Ok(())
    }

    fn upsert_doc(
        &mut self,
        coll: CollectionId,
        id: &str,
        body: &str,
        expires_at_ms: Option<u64>,
        hlc: u64,
    ) -> Result<u64> {
        // A new document costs one statement and no read. On conflict, the
        // old version is read and the row updated. (`RETURNING` would do it
        // in one statement, but SQLite builds a temporary table for every
        // RETURNING, which measured slower than the two.)
        let expires = expires_at_ms.map(|t| to_sql_int(t, "expiry time")).transpose()?;
        let hlc = to_sql_int(hlc, "HLC timestamp")?;
        let insert = "INSERT INTO docs (coll_id, id, version, body, expires_at, updated_hlc) \
                      VALUES (?1, ?2, 1, ?3, ?4, ?5) ON CONFLICT (coll_id, id) DO NOTHING";
        let args = params![coll.0, id, body, expires, hlc];
        if Self::exec_held(self.conn, &mut self.insert_doc, "writing a document", insert, args)? == 1 {
            return Ok(1);
        }
        let old = self.q().doc(coll, id)?.ok_or_else(|| Error::internal("a conflicting document vanished"))?;
        let version = old.version + 1;
        let update = "UPDATE docs SET version = ?3, body = ?4, expires_at = ?5, updated_hlc = ?6 \
                      WHERE coll_id = ?1 AND id = ?2";
        let v = to_sql_int(version, "document version")?;
        self.exec("writing a document", update, params![coll.0, id, v, body, expires, hlc])?;
        Ok(version)
    }

    fn delete_doc(&mut self, coll: CollectionId, id: &str) -> Result<()> {
        self.exec("deleting a document", "DELETE FROM docs WHERE coll_id = ?1 AND id = ?2", params![coll.0, id])?;
        Ok(())
    }

    /// Deletes `old` entries not in `new`, then inserts all of `new` (an
    /// entry in both ends up present, as in the reference backend).
    fn replace_index_entries(
        &mut self,
        coll: CollectionId,
        doc_id: &str,
        old: &[IndexEntry],
        new: &[IndexEntry],
    ) -> Result<()> {
        let what = "updating index entries";
        let keep: BTreeSet<&IndexEntry> = new.iter().collect();
        let delete = "DELETE FROM index_entries WHERE coll_id = ?1 AND idx = ?2 AND key = ?3 AND doc_id = ?4";
        for e in old.iter().filter(|e| !keep.contains(e)) {
            self.exec(what, delete, params![coll.0, e.index, e.key, doc_id])?;
        }
        let insert = "INSERT OR IGNORE INTO index_entries (coll_id, idx, key, doc_id) VALUES (?1, ?2, ?3, ?4)";
        for e in new {
            self.exec(what, insert, params![coll.0, e.index, e.key, doc_id])?;
        }
        Ok(())
    }

    fn mark_indexes_rebuilt(&mut self, coll: CollectionId) -> Result<()> {
        self.exec("recording an index rebuild", "DELETE FROM index_rebuilds WHERE coll_id = ?1", [coll.0])?;
        Ok(())
    }

    fn clear_index(&mut self, coll: CollectionId, index: u32) -> Result<()> {
        let sql_text = "DELETE FROM index_entries WHERE coll_id = ?1 AND idx = ?2";
        self.exec("dropping an index", sql_text, params![coll.0, index])?;
        Ok(())
    }

    fn append_change(&mut self, space: SpaceId, entry: &ChangeEntry) -> Result<()> {
        let head = self.change_head(space)?;
        if entry.position != head.position + 1 || entry.prev_hash != head.hash {
            return Err(Error::internal("change appended out of order"));
        }
        let sql_text = "INSERT INTO changes (space_id, position, hlc, op, collection, doc_id, version, \
                        content_hash, hash, actor, request_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
        let args = params![
            space.0,
            to_sql_int(entry.position, "change position")?,
            to_sql_int(entry.hlc, "HLC timestamp")?,
            entry.op.code(),
            entry.collection,
            entry.doc_id,
            to_sql_int(entry.version, "change version")?,
            entry.content_hash,
            entry.hash,
            // Empty (an entry from before actors were recorded, copied) is
            // stored as NULL, as the migration left such entries.
            (!entry.actor.is_empty()).then_some(&entry.actor),
            (!entry.request_id.is_empty()).then_some(&entry.request_id)
        ];
        Self::exec_held(self.conn, &mut self.insert_change, "appending to the change log", sql_text, args)?;
        self.cache.heads.get_mut().insert(space, ChangeHead::of(entry));
        Ok(())
    }

    fn put_idempotency(&mut self, space: SpaceId, key: &str, record: &IdempotencyRecord) -> Result<()> {
        let sql_text = "INSERT INTO idempotency (space_id, key, request_hash, response, expires_at) \
                        VALUES (?1, ?2, ?3, ?4, ?5) \
                        ON CONFLICT (space_id, key) DO UPDATE SET request_hash = excluded.request_hash, \
                        response = excluded.response, expires_at = excluded.expires_at";
        let expires = to_sql_int(record.expires_at_ms, "expiry time")?;
        let args = params![space.0, key, record.request_hash, record.response, expires];
        self.exec("recording an idempotent response", sql_text, args)?;
        Ok(())
    }

    fn purge_idempotency(&mut self, now_ms: u64, limit_n: usize) -> Result<usize> {
        let sql_text = "DELETE FROM idempotency WHERE (space_id, key) IN \
                        (SELECT space_id, key FROM idempotency WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)";
        let args = params![engram_core::sql_int::bound_int(now_ms), limit(limit_n)];
        self.exec("purging idempotency records", sql_text, args)
    }
}

fn spec_json(spec: &CollectionSpec) -> Result<String> {
    serde_json::to_string(spec).map_err(|e| Error::internal(format!("collection spec could not be serialized: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::migrated_in_memory;
    use engram_core::changelog::{ChangeDraft, ChangeOp};

    fn draft(doc: &str) -> ChangeDraft {
        ChangeDraft {
            hlc: 3,
            op: ChangeOp::Put,
            collection: "c".into(),
            doc_id: doc.into(),
            version: 1,
            content_hash: [2; 32],
            actor: "local".into(),
            request_id: String::new(),
        }
    }

    fn with_tx(f: impl FnOnce(&mut SqliteTx<'_>)) {
        let conn = migrated_in_memory();
        let mut cache = BatchCache::default();
        conn.execute_batch("BEGIN").expect("begin");
        f(&mut SqliteTx::new(&conn, &mut cache));
    }

    #[test]
    fn append_must_follow_the_head_and_updates_the_cache() {
        with_tx(|tx| {
            let space = tx.insert_space(&SpaceName::new("s").expect("name"), 1).expect("space");
            let first = draft("a").seal(&ChangeHead::default());
            tx.append_change(space, &first).expect("first append");
            assert_eq!(tx.cache.heads.borrow().get(&space).map(|h| h.position), Some(1));
            // Same position again, and a wrong link: both refused.
            let e = tx.append_change(space, &draft("b").seal(&ChangeHead::default())).expect_err("replay");
            assert_eq!(e.kind(), ErrorKind::Internal);
            let wrong_link = draft("b").seal(&ChangeHead { position: 1, hash: [9; 32], hlc: 0 });
            assert!(tx.append_change(space, &wrong_link).is_err());
            let second = draft("b").seal(&tx.change_head(space).expect("head"));
            tx.append_change(space, &second).expect("second append");
            assert_eq!(tx.q().change_head(space).expect("stored head").position, 2);
            // Deleting the space resets its head, cached or not.
            tx.delete_space(space).expect("delete");
            assert_eq!(tx.change_head(space).expect("head"), ChangeHead::default());
        });
    }

    #[test]
    fn upsert_counts_versions_and_names_clash_as_already_exists() {
        with_tx(|tx| {
            let name = SpaceName::new("s").expect("name");
            let space = tx.insert_space(&name, 1).expect("space");
            assert_eq!(tx.insert_space(&name, 2).expect_err("duplicate").kind(), ErrorKind::AlreadyExists);
            let c = CollectionName::new("c").expect("name");
            let coll = tx.insert_collection(space, &c, &CollectionSpec::default()).expect("collection");
            let dup = tx.insert_collection(space, &c, &CollectionSpec::default()).expect_err("duplicate");
            assert_eq!(dup.kind(), ErrorKind::AlreadyExists);
            for want in 1..=3 {
                assert_eq!(tx.upsert_doc(coll, "d", "{}", None, 10 + want).expect("upsert"), want);
            }
            let doc = tx.doc(coll, "d").expect("read").expect("present");
            assert_eq!((doc.version, doc.updated_hlc), (3, 13));
            assert_eq!(tx.max_hlc().expect("max"), 0, "only change-log entries stamp the clock floor");
        });
    }

    #[test]
    fn values_above_i64_max_are_refused_not_wrapped() {
        with_tx(|tx| {
            let e = tx.upsert_doc(CollectionId(1), "d", "{}", Some(u64::MAX), 1).expect_err("expiry too large");
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            assert!(tx.doc(CollectionId(1), "d").expect("read").is_none());
        });
    }

    #[test]
    fn replacing_index_entries_keeps_entries_in_both_lists() {
        with_tx(|tx| {
            let coll = CollectionId(1);
            tx.put_doc(
                coll,
                &StoredDoc { id: "d".into(), version: 1, body: "{}".into(), expires_at_ms: None, updated_hlc: 1 },
            )
            .expect("doc");
            let e = |k: u8| IndexEntry { index: 1, key: vec![k] };
            tx.replace_index_entries(coll, "d", &[], &[e(1), e(2)]).expect("insert");
            // e(3) was never stored but is in both lists: it ends up present,
            // as in the reference backend (remove old, then insert new).
            tx.replace_index_entries(coll, "d", &[e(1), e(3)], &[e(3), e(4)]).expect("replace");
            let n: i64 = tx.conn.query_row("SELECT count(*) FROM index_entries", [], |r| r.get(0)).expect("count");
            let keys: Vec<Vec<u8>> = {
                let mut stmt = tx.conn.prepare("SELECT key FROM index_entries ORDER BY key").expect("prepare");
                stmt.query_map([], |r| r.get(0)).expect("query").collect::<rusqlite::Result<_>>().expect("rows")
            };
            assert_eq!((n, keys), (3, vec![vec![2], vec![3], vec![4]]));
        });
    }
}
