//! [`WriteTx`] over a writer's open transaction, with per-space locking.
//!
//! Many servers may write one database, and PostgreSQL runs their
//! transactions concurrently at READ COMMITTED. What keeps each space's
//! change log gapless and ordered, and each write's preconditions true when
//! it commits, is one rule enforced here:
//!
//! **Invariant:** a transaction reads or writes a space's rows only while
//! holding that space's row lock (`SELECT … FROM spaces … FOR UPDATE`),
//! taken at its first touch of the space and held until commit or rollback.
//!
//! Why READ COMMITTED is then enough: every other writer of the space holds
//! the same lock for its whole transaction, so once ours is granted no
//! other transaction has uncommitted changes in the space and none can
//! start any until we end. Each READ COMMITTED statement sees everything
//! committed before it began, so every read we make under the lock sees the
//! space exactly as the last committed writer left it, and nothing changes
//! it until we commit: the space's transactions are serial. In particular
//! the change-log head read under the lock is the true head, and the next
//! position (head + 1) cannot be taken by anyone else. REPEATABLE READ would
//! add nothing but serialization failures, since its snapshot could predate
//! the commit that released the lock to us.
//!
//! Reads that span spaces (`spaces`, `space` by name, `expired`, `max_hlc`)
//! take no lock: their results are re-checked under the lock by the engine
//! (a space found by name and deleted before our lock is granted is
//! reported missing by every later write). Locks of a job whose savepoint
//! rolls back are released by PostgreSQL, so the writer forgets them too.

use crate::conn::{Conn, Params};
use crate::doc_cache::DocCache;
use crate::pending::{PENDING_ROWS_MAX, PendingChanges};
use crate::reader::Queries;
use engram_core::backend::{
    CollectionId, CollectionRow, CollectionSpec, DocUpsert, DocWrite, IdempotencyRecord, IndexEntry, IndexScan, Reader,
    SpaceId, SpaceRow, StoredDoc, WriteTx,
};
use engram_core::changelog::{ChangeEntry, ChangeHead};
use engram_core::names::{CollectionName, SpaceName};
use engram_core::sql_int::{bound_int, limit, to_sql_int};
use engram_core::{Error, ErrorKind, Result};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

/// Collection ids mapped to their spaces, shared by every writer. Safe to
/// keep forever: ids come from a sequence and are never reused, and a
/// collection never moves, so a mapping once read stays true (even for a
/// collection whose creating transaction rolled back).
#[derive(Debug, Default)]
pub(crate) struct SpaceOf(Mutex<HashMap<CollectionId, SpaceId>>);

/// Mappings kept before the map is emptied (a bound on memory, not a cache policy).
const SPACE_OF_MAX: usize = 1 << 20;

impl SpaceOf {
    fn get(&self, coll: CollectionId) -> Option<SpaceId> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(&coll).copied()
    }

    fn insert(&self, coll: CollectionId, space: SpaceId) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= SPACE_OF_MAX {
            map.clear();
        }
        map.insert(coll, space);
    }
}

/// A space as this transaction holds it.
#[derive(Debug, Clone, Copy)]
struct Held {
    /// False when the space's row was gone when the lock was requested (or
    /// this transaction deleted it).
    exists: bool,
    /// The change-log head under the lock, once read; kept current by
    /// `append_change`.
    head: Option<ChangeHead>,
    /// Whether every reserved collection of the space (and so the absence
    /// of the others) is in `TxState::colls` (see `space_lock.rs`).
    reserved_known: bool,
}

/// What the writer knows of its open transaction: the spaces it locked,
/// the collection rows it read under those locks, and the change-log rows
/// it has yet to send.
///
/// Invariant: an entry of `held` exists exactly for the spaces whose row
/// this transaction has locked and not released; its head, when present,
/// equals the newest change of that space as seen inside the transaction
/// (buffered rows included). An entry of `colls` is the collection row (or
/// its absence) as of now in a space of `held`: no other transaction can
/// change it while we hold the space's lock, and this one forgets every
/// entry when it writes a collection. The writer calls
/// [`TxState::forget`] when a job's savepoint rolls back (which releases
/// the locks and undoes the appends and collection writes made since; the
/// writer has flushed the earlier jobs' rows by then) and when the
/// transaction ends.
#[derive(Debug, Default)]
pub(crate) struct TxState {
    /// Behind `RefCell`s because reads (`&self`) take locks and fill the cache.
    held: RefCell<HashMap<SpaceId, Held>>,
    colls: RefCell<HashMap<(SpaceId, String), Option<CollectionRow>>>,
    /// Documents read under the locks (see `doc_cache.rs`).
    docs: RefCell<DocCache>,
    pending: RefCell<PendingChanges>,
}

impl TxState {
    pub(crate) fn forget(&mut self) {
        self.held.get_mut().clear();
        self.colls.get_mut().clear();
        self.docs.get_mut().clear();
        self.pending.get_mut().clear();
    }
}

/// One job's view of the writer's transaction.
pub(crate) struct PgTx<'a> {
    conn: &'a RefCell<Conn>,
    locks: &'a TxState,
    space_of: &'a SpaceOf,
}

impl<'a> PgTx<'a> {
    pub(crate) fn new(conn: &'a RefCell<Conn>, locks: &'a TxState, space_of: &'a SpaceOf) -> Self {
        Self { conn, locks, space_of }
    }

    /// Sends the buffered change-log rows (see `pending.rs`).
    pub(crate) fn flush(&self) -> Result<()> {
        self.locks.pending.borrow_mut().flush(&mut self.conn.borrow_mut())
    }

    /// Forgets the collection rows read so far: this transaction is about
    /// to write one. Their documents too (deleting a collection or a space
    /// deletes them).
    fn forget_collections(&self) {
        self.locks.colls.borrow_mut().clear();
        self.locks.held.borrow_mut().values_mut().for_each(|h| h.reserved_known = false);
        self.locks.docs.borrow_mut().clear();
    }

    /// Forgets a document read so far: this transaction is about to write it.
    fn forget_doc(&self, coll: CollectionId, id: &str) {
        self.locks.docs.borrow_mut().forget(coll, id);
    }

    fn q(&self) -> Queries<'_> {
        Queries(self.conn)
    }

    fn exec(&self, what: &'static str, sql: &str, params: Params<'_>) -> Result<u64> {
        self.conn.borrow_mut().execute(what, sql, params)
    }

    /// Locks `space` if this transaction does not hold it yet; returns
    /// whether the space exists.
    fn lock(&self, space: SpaceId) -> Result<bool> {
        if let Some(held) = self.locks.held.borrow().get(&space) {
            return Ok(held.exists);
        }
        let sql = "SELECT 1 FROM spaces WHERE id = $1 FOR UPDATE";
        let exists = self.conn.borrow_mut().query_opt("locking a space", sql, &[&space.0])?.is_some();
        self.locks.held.borrow_mut().insert(space, Held { exists, head: None, reserved_known: false });
        Ok(exists)
    }

    /// Locks `space` for a write, which needs the space to exist.
    fn lock_for_write(&self, space: SpaceId) -> Result<()> {
        if self.lock(space)? {
            return Ok(());
        }
        Err(Error::not_found(format!("space {} no longer exists", space.0)))
    }

    /// The space of a collection, when the collection exists (or existed).
    fn space_of(&self, coll: CollectionId) -> Result<Option<SpaceId>> {
        if let Some(space) = self.space_of.get(coll) {
            return Ok(Some(space));
        }
        let sql = "SELECT space_id FROM collections WHERE id = $1";
        let row = self.conn.borrow_mut().query_opt("finding a collection's space", sql, &[&coll.0])?;
        let Some(row) = row else { return Ok(None) };
        let space = SpaceId(crate::conn::column(row.try_get(0), "finding a collection's space")?);
        self.space_of.insert(coll, space);
        Ok(Some(space))
    }

    /// Locks the space of `coll` before a read of the collection's rows.
    /// A collection that does not exist has no rows to protect.
    fn lock_coll(&self, coll: CollectionId) -> Result<()> {
        if let Some(space) = self.space_of(coll)? {
            self.lock(space)?;
        }
        Ok(())
    }

    /// Locks the space of `coll` before a write; a missing space is an error
    /// (the write would leave rows nothing can reach).
    fn lock_coll_for_write(&self, coll: CollectionId) -> Result<()> {
        match self.space_of(coll)? {
            Some(space) => self.lock_for_write(space),
            None => Ok(()),
        }
    }

    fn set_head(&self, space: SpaceId, head: ChangeHead) {
        let mut held = self.locks.held.borrow_mut();
        let entry = held.entry(space).or_insert(Held { exists: true, head: None, reserved_known: false });
        entry.exists = true;
        entry.head = Some(head);
    }

    /// A reserved collection's row (or its absence) when the lock read them
    /// all and nothing since wrote a collection.
    fn known_reserved(&self, space: SpaceId, name: &CollectionName) -> Option<Option<CollectionRow>> {
        let known = self.locks.held.borrow().get(&space).is_some_and(|h| h.reserved_known);
        if !known || !name.is_reserved() {
            return None;
        }
        Some(self.locks.colls.borrow().get(&(space, name.as_str().to_owned())).cloned().flatten())
    }
}

impl Reader for PgTx<'_> {
    fn spaces(&self) -> Result<Vec<SpaceRow>> {
        self.q().spaces()
    }
    fn space(&self, name: &SpaceName) -> Result<Option<SpaceRow>> {
        self.q().space(name)
    }
    fn collections(&self, space: SpaceId) -> Result<Vec<CollectionRow>> {
        self.lock(space)?;
        self.q().collections(space)
    }
    /// Read once per transaction (every job of a batch asks for its
    /// collection), then kept: see [`TxState`].
    fn collection(&self, space: SpaceId, name: &CollectionName) -> Result<Option<CollectionRow>> {
        self.lock(space)?;
        if let Some(row) = self.known_reserved(space, name) {
            return Ok(row);
        }
        let key = (space, name.as_str().to_owned());
        if let Some(row) = self.locks.colls.borrow().get(&key) {
            return Ok(row.clone());
        }
        let row = self.q().collection(space, name)?;
        self.locks.colls.borrow_mut().insert(key, row.clone());
        Ok(row)
    }
    fn collection_by_id(&self, id: CollectionId) -> Result<Option<CollectionRow>> {
        self.lock_coll(id)?;
        self.q().collection_by_id(id)
    }
    /// Kept once read under the space's lock (see `doc_cache.rs`).
    fn doc(&self, coll: CollectionId, id: &str) -> Result<Option<StoredDoc>> {
        // A collection that does not exist (yet, for this transaction) has
        // no space to lock: what is read of it is not kept.
        let Some(space) = self.space_of(coll)? else { return self.q().doc(coll, id) };
        self.lock(space)?;
        if let Some(doc) = self.locks.docs.borrow().get(coll, id) {
            return Ok(doc);
        }
        let doc = self.q().doc(coll, id)?;
        self.locks.docs.borrow_mut().insert(coll, id, doc.clone());
        Ok(doc)
    }
    /// One statement (see `many_docs.rs`).
    fn docs(&self, coll: CollectionId, ids: &[&str]) -> Result<Vec<StoredDoc>> {
        self.lock_coll(coll)?;
        crate::many_docs::read(&mut self.conn.borrow_mut(), coll, ids)
    }
    fn scan_docs(&self, coll: CollectionId, after: Option<&str>, reverse: bool, n: usize) -> Result<Vec<StoredDoc>> {
        self.lock_coll(coll)?;
        self.q().scan_docs(coll, after, reverse, n)
    }
    fn scan_index(&self, scan: &IndexScan<'_>) -> Result<Vec<(Vec<u8>, StoredDoc)>> {
        self.lock_coll(scan.collection)?;
        self.q().scan_index(scan)
    }
    fn changes(&self, space: SpaceId, after: u64, n: usize) -> Result<Vec<ChangeEntry>> {
        self.lock(space)?;
        self.flush()?;
        self.q().changes(space, after, n)
    }
    /// Read under the space's lock once per transaction, then kept.
    fn stale_indexes(&self) -> Result<Vec<CollectionId>> {
        Ok(Vec::new())
    }

    fn change_head(&self, space: SpaceId) -> Result<ChangeHead> {
        self.lock(space)?;
        if let Some(head) = self.locks.held.borrow().get(&space).and_then(|h| h.head) {
            return Ok(head);
        }
        let head = self.q().change_head(space)?;
        if let Some(held) = self.locks.held.borrow_mut().get_mut(&space) {
            held.head = Some(head);
        }
        Ok(head)
    }
    fn max_hlc(&self) -> Result<u64> {
        self.flush()?;
        self.q().max_hlc()
    }
    fn expired(&self, now_ms: u64, n: usize) -> Result<Vec<(CollectionId, String)>> {
        self.q().expired(now_ms, n)
    }
    fn idempotency(&self, space: SpaceId, key: &str) -> Result<Option<IdempotencyRecord>> {
        self.lock(space)?;
        self.q().idempotency(space, key)
    }
    fn idempotency_records(
        &self,
        space: SpaceId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, IdempotencyRecord)>> {
        self.lock(space)?;
        self.q().idempotency_records(space, after, limit)
    }
}

impl WriteTx for PgTx<'_> {
    /// Nothing to record: see `Reader::stale_indexes`.
    fn mark_indexes_rebuilt(&mut self, _coll: CollectionId) -> Result<()> {
        Ok(())
    }

    /// `ON CONFLICT DO NOTHING` rather than catching a unique violation: an
    /// error would abort the whole transaction (every job of the batch), and
    /// a concurrent creator's commit is waited for, then seen.
    fn insert_space(&mut self, name: &SpaceName, hlc: u64) -> Result<SpaceId> {
        let sql = "INSERT INTO spaces (name, created_hlc) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id";
        let hlc = to_sql_int(hlc, "HLC timestamp")?;
        let row = self.conn.borrow_mut().query_opt("creating a space", sql, &[&name.as_str(), &hlc])?;
        let row = row.ok_or_else(|| Error::new(ErrorKind::AlreadyExists, format!("space {name} already exists")))?;
        let id = SpaceId(crate::conn::column(row.try_get(0), "creating a space")?);
        // The new row is this transaction's own: as good as locked.
        self.set_head(id, ChangeHead::default());
        Ok(id)
    }

    fn delete_space(&mut self, space: SpaceId) -> Result<()> {
        if !self.lock(space)? {
            return Ok(());
        }
        self.flush()?;
        self.forget_collections();
        let what = "deleting a space";
        let in_space = "(SELECT id FROM collections WHERE space_id = $1)";
        self.exec(what, &format!("DELETE FROM index_entries WHERE coll_id IN {in_space}"), &[&space.0])?;
        self.exec(what, &format!("DELETE FROM docs WHERE coll_id IN {in_space}"), &[&space.0])?;
        self.exec(what, "DELETE FROM collections WHERE space_id = $1", &[&space.0])?;
        self.exec(what, "DELETE FROM changes WHERE space_id = $1", &[&space.0])?;
        self.exec(what, "DELETE FROM idempotency WHERE space_id = $1", &[&space.0])?;
        self.exec(what, "DELETE FROM spaces WHERE id = $1", &[&space.0])?;
        // Still locked (the deleted row's lock lasts until commit), now gone.
        self.locks
            .held
            .borrow_mut()
            .insert(space, Held { exists: false, head: Some(ChangeHead::default()), reserved_known: false });
        Ok(())
    }

    fn insert_collection(
        &mut self,
        space: SpaceId,
        name: &CollectionName,
        spec: &CollectionSpec,
    ) -> Result<CollectionId> {
        self.lock_for_write(space)?;
        self.forget_collections();
        let sql = "INSERT INTO collections (space_id, name, spec, generation) VALUES ($1, $2, $3, 1) \
                   ON CONFLICT (space_id, name) DO NOTHING RETURNING id";
        let args: Params<'_> = &[&space.0, &name.as_str(), &spec_json(spec)?];
        let row = self.conn.borrow_mut().query_opt("creating a collection", sql, args)?;
        let row =
            row.ok_or_else(|| Error::new(ErrorKind::AlreadyExists, format!("collection {name} already exists")))?;
        let id = CollectionId(crate::conn::column(row.try_get(0), "creating a collection")?);
        self.space_of.insert(id, space);
        Ok(id)
    }

    fn update_collection(&mut self, id: CollectionId, spec: &CollectionSpec, generation: u64) -> Result<()> {
        self.lock_coll_for_write(id)?;
        self.forget_collections();
        let sql = "UPDATE collections SET spec = $2, generation = $3 WHERE id = $1";
        let generation = to_sql_int(generation, "collection generation")?;
        if self.exec("updating a collection", sql, &[&id.0, &spec_json(spec)?, &generation])? == 0 {
            return Err(Error::not_found("collection vanished"));
        }
        Ok(())
    }

    fn delete_collection(&mut self, id: CollectionId) -> Result<()> {
        self.lock_coll_for_write(id)?;
        self.forget_collections();
        let what = "deleting a collection";
        self.exec(what, "DELETE FROM index_entries WHERE coll_id = $1", &[&id.0])?;
        self.exec(what, "DELETE FROM docs WHERE coll_id = $1", &[&id.0])?;
        self.exec(what, "DELETE FROM collections WHERE id = $1", &[&id.0])?;
        Ok(())
    }

    fn put_doc(&mut self, coll: CollectionId, doc: &StoredDoc) -> Result<()> {
        self.lock_coll_for_write(coll)?;
        self.forget_doc(coll, &doc.id);
        let sql = "INSERT INTO docs (coll_id, id, version, body, expires_at, updated_hlc) \
                   VALUES ($1, $2, $3, $4, $5, $6) \
                   ON CONFLICT (coll_id, id) DO UPDATE SET version = excluded.version, body = excluded.body, \
                   expires_at = excluded.expires_at, updated_hlc = excluded.updated_hlc";
        let expires = doc.expires_at_ms.map(|t| to_sql_int(t, "expiry time")).transpose()?;
        let version = to_sql_int(doc.version, "document version")?;
        let hlc = to_sql_int(doc.updated_hlc, "HLC timestamp")?;
        self.exec("writing a document", sql, &[&coll.0, &doc.id, &version, &doc.body, &expires, &hlc])?;
        Ok(())
    }

    /// One statement: insert version 1, or bump the stored version.
    fn upsert_doc(
        &mut self,
        coll: CollectionId,
        id: &str,
        body: &str,
        expires_at_ms: Option<u64>,
        hlc: u64,
    ) -> Result<u64> {
        self.lock_coll_for_write(coll)?;
        self.forget_doc(coll, id);
        let sql = "INSERT INTO docs (coll_id, id, version, body, expires_at, updated_hlc) \
                   VALUES ($1, $2, 1, $3, $4, $5) \
                   ON CONFLICT (coll_id, id) DO UPDATE SET version = docs.version + 1, body = excluded.body, \
                   expires_at = excluded.expires_at, updated_hlc = excluded.updated_hlc RETURNING version";
        let expires = expires_at_ms.map(|t| to_sql_int(t, "expiry time")).transpose()?;
        let hlc = to_sql_int(hlc, "HLC timestamp")?;
        let row =
            self.conn.borrow_mut().query_opt("writing a document", sql, &[&coll.0, &id, &body, &expires, &hlc])?;
        let row = row.ok_or_else(|| Error::internal("an upsert returned no version"))?;
        let version: i64 = crate::conn::column(row.try_get(0), "writing a document")?;
        engram_core::sql_int::from_sql_int(version, "document version")
    }

    /// One statement over arrays, whatever the number of documents. The
    /// ids are distinct (an `ON CONFLICT DO UPDATE` cannot touch a row
    /// twice), so the returned rows are matched back to the input by id.
    fn upsert_docs(&mut self, coll: CollectionId, docs: &[DocUpsert<'_>]) -> Result<Vec<u64>> {
        self.lock_coll_for_write(coll)?;
        docs.iter().for_each(|d| self.forget_doc(coll, d.id));
        let what = "writing documents";
        let sql = "INSERT INTO docs (coll_id, id, version, body, expires_at, updated_hlc) \
                   SELECT $1, u.id, 1, u.body, u.expires_at, u.hlc \
                   FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS u(id, body, expires_at, hlc) \
                   ON CONFLICT (coll_id, id) DO UPDATE SET version = docs.version + 1, body = excluded.body, \
                   expires_at = excluded.expires_at, updated_hlc = excluded.updated_hlc RETURNING id, version";
        let ids: Vec<&str> = docs.iter().map(|d| d.id).collect();
        let bodies: Vec<&str> = docs.iter().map(|d| d.body).collect();
        let expires = docs
            .iter()
            .map(|d| d.expires_at_ms.map(|t| to_sql_int(t, "expiry time")).transpose())
            .collect::<Result<Vec<Option<i64>>>>()?;
        let hlcs = docs.iter().map(|d| to_sql_int(d.hlc, "HLC timestamp")).collect::<Result<Vec<i64>>>()?;
        let rows = self.conn.borrow_mut().query(what, sql, &[&coll.0, &ids, &bodies, &expires, &hlcs])?;
        let mut versions = HashMap::with_capacity(rows.len());
        for row in &rows {
            let id: &str = crate::conn::column(row.try_get(0), what)?;
            let version: i64 = crate::conn::column(row.try_get(1), what)?;
            versions.insert(id, engram_core::sql_int::from_sql_int(version, "document version")?);
        }
        ids.iter()
            .map(|id| versions.get(id).copied().ok_or_else(|| Error::internal("an upsert returned no version")))
            .collect()
    }

    fn delete_doc(&mut self, coll: CollectionId, id: &str) -> Result<()> {
        self.lock_coll_for_write(coll)?;
        self.forget_doc(coll, id);
        self.exec("deleting a document", "DELETE FROM docs WHERE coll_id = $1 AND id = $2", &[&coll.0, &id])?;
        Ok(())
    }

    /// Deletes `old` entries not in `new`, then inserts all of `new` (an
    /// entry in both ends up present, as in the reference backend); each
    /// side is one statement over arrays, whatever the number of entries.
    fn replace_index_entries(
        &mut self,
        coll: CollectionId,
        doc_id: &str,
        old: &[IndexEntry],
        new: &[IndexEntry],
    ) -> Result<()> {
        self.lock_coll_for_write(coll)?;
        let what = "updating index entries";
        let keep: BTreeSet<&IndexEntry> = new.iter().collect();
        let gone: Vec<&IndexEntry> = old.iter().filter(|e| !keep.contains(e)).collect();
        if !gone.is_empty() {
            let (idx, keys) = columns(gone.into_iter());
            let sql = "DELETE FROM index_entries WHERE coll_id = $1 AND doc_id = $2 \
                       AND (idx, key) IN (SELECT * FROM unnest($3::bigint[], $4::bytea[]))";
            self.exec(what, sql, &[&coll.0, &doc_id, &idx, &keys])?;
        }
        if !new.is_empty() {
            let (idx, keys) = columns(new.iter());
            let sql = "INSERT INTO index_entries (coll_id, idx, key, doc_id) \
                       SELECT $1, u.i, u.k, $2 FROM unnest($3::bigint[], $4::bytea[]) AS u(i, k) \
                       ON CONFLICT DO NOTHING";
            self.exec(what, sql, &[&coll.0, &doc_id, &idx, &keys])?;
        }
        Ok(())
    }

    /// One statement, whatever the number of documents (see `many_docs.rs`).
    fn write_docs(&mut self, coll: CollectionId, writes: &[DocWrite<'_>]) -> Result<()> {
        self.lock_coll_for_write(coll)?;
        writes.iter().for_each(|w| self.forget_doc(coll, w.id));
        if writes.is_empty() {
            return Ok(());
        }
        crate::many_docs::write(&mut self.conn.borrow_mut(), coll, writes)
    }

    fn clear_index(&mut self, coll: CollectionId, index: u32) -> Result<()> {
        self.lock_coll_for_write(coll)?;
        let sql = "DELETE FROM index_entries WHERE coll_id = $1 AND idx = $2";
        self.exec("dropping an index", sql, &[&coll.0, &i64::from(index)])?;
        Ok(())
    }

    /// One round trip at the first touch of the space: the lock, the head
    /// and the reserved collections (see `space_lock.rs`).
    fn lock_space(&mut self, space: SpaceId) -> Result<ChangeHead> {
        if self.locks.held.borrow().contains_key(&space) {
            return self.change_head(space);
        }
        let locked = crate::space_lock::lock(&mut self.conn.borrow_mut(), space)?;
        let mut colls = self.locks.colls.borrow_mut();
        for row in locked.reserved {
            self.space_of.insert(row.id, space);
            colls.insert((space, row.name.as_str().to_owned()), Some(row));
        }
        let held = Held { exists: locked.exists, head: Some(locked.head), reserved_known: true };
        self.locks.held.borrow_mut().insert(space, held);
        Ok(locked.head)
    }

    fn append_change(&mut self, space: SpaceId, entry: &ChangeEntry) -> Result<()> {
        self.lock_for_write(space)?;
        let head = self.change_head(space)?;
        if entry.position != head.position + 1 || entry.prev_hash != head.hash {
            return Err(Error::internal("change appended out of order"));
        }
        // Buffered, flushed with the rest of the transaction's rows.
        let full = {
            let mut pending = self.locks.pending.borrow_mut();
            pending.push(space, entry)?;
            pending.len() >= PENDING_ROWS_MAX
        };
        if full {
            self.flush()?;
        }
        self.set_head(space, ChangeHead::of(entry));
        Ok(())
    }

    fn put_idempotency(&mut self, space: SpaceId, key: &str, record: &IdempotencyRecord) -> Result<()> {
        self.lock_for_write(space)?;
        let sql = "INSERT INTO idempotency (space_id, key, request_hash, response, expires_at) \
                   VALUES ($1, $2, $3, $4, $5) \
                   ON CONFLICT (space_id, key) DO UPDATE SET request_hash = excluded.request_hash, \
                   response = excluded.response, expires_at = excluded.expires_at";
        let expires = to_sql_int(record.expires_at_ms, "expiry time")?;
        let args: Params<'_> = &[&space.0, &key, &&record.request_hash[..], &record.response, &expires];
        self.exec("recording an idempotent response", sql, args)?;
        Ok(())
    }

    /// Crosses spaces without their locks: an expired record is dead to every
    /// reader already, and two purgers deleting one row both succeed.
    fn purge_idempotency(&mut self, now_ms: u64, limit_n: usize) -> Result<usize> {
        let sql = "DELETE FROM idempotency WHERE (space_id, key) IN \
                   (SELECT space_id, key FROM idempotency WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)";
        let n = self.exec("purging idempotency records", sql, &[&bound_int(now_ms), &limit(limit_n)])?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}

/// Index entries as two parallel arrays (index numbers, keys) for `unnest`.
fn columns<'e>(entries: impl Iterator<Item = &'e IndexEntry>) -> (Vec<i64>, Vec<Vec<u8>>) {
    entries.map(|e| (i64::from(e.index), e.key.clone())).unzip()
}

fn spec_json(spec: &CollectionSpec) -> Result<String> {
    serde_json::to_string(spec).map_err(|e| Error::internal(format!("collection spec could not be serialized: {e}")))
}
