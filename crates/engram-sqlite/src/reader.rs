//! The SQL behind [`Reader`], written once over any connection.
//!
//! [`Queries`] is used by pooled read connections and by the write
//! transaction alike, so reads inside a write see that write's own rows.
//! Orderings match the in-memory reference backend: names, ids and keys
//! compare bytewise (SQLite's BINARY collation on UTF-8 text and memcmp on
//! blobs, like Rust's `str` and `[u8]` ordering).

use crate::error::sql;
use engram_core::backend::{
    CollectionId, CollectionRow, CollectionSpec, IdempotencyRecord, IndexScan, Reader, SpaceId, SpaceRow, StoredDoc,
};
use engram_core::changelog::{ChangeEntry, ChangeHead, ChangeOp, Digest};
use engram_core::names::{CollectionName, SpaceName};
use engram_core::sql_int::{bound_int, digest, from_sql_int, from_sql_opt, limit};
use engram_core::{Error, Result};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Params, Row, params, params_from_iter};
use std::ops::Bound;

/// Reads over one connection (committed state, or the open transaction's).
pub(crate) struct Queries<'a>(pub(crate) &'a Connection);

/// A document row as stored, before checked conversion.
struct RawDoc {
    id: String,
    version: i64,
    body: String,
    expires_at: Option<i64>,
    updated_hlc: i64,
}

impl RawDoc {
    /// Reads the five document columns starting at column `at`.
    fn read(r: &Row<'_>, at: usize) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(at)?,
            version: r.get(at + 1)?,
            body: r.get(at + 2)?,
            expires_at: r.get(at + 3)?,
            updated_hlc: r.get(at + 4)?,
        })
    }

    fn into_doc(self) -> Result<StoredDoc> {
        Ok(StoredDoc {
            id: self.id,
            version: from_sql_int(self.version, "document version")?,
            body: self.body,
            expires_at_ms: from_sql_opt(self.expires_at, "document expiry")?,
            updated_hlc: from_sql_int(self.updated_hlc, "document HLC")?,
        })
    }
}

type RawSpace = (i64, String, i64);
type RawCollection = (i64, i64, String, String, i64);

fn space_row((id, name, hlc): RawSpace) -> Result<SpaceRow> {
    let name =
        SpaceName::stored(&name).map_err(|_| Error::corrupted(format!("stored name of space {id} is invalid")))?;
    Ok(SpaceRow { id: SpaceId(id), name, created_hlc: from_sql_int(hlc, "space HLC")? })
}

fn collection_row((id, space, name, spec, generation): RawCollection) -> Result<CollectionRow> {
    let name = CollectionName::stored(&name)
        .map_err(|_| Error::corrupted(format!("stored name of collection {id} is invalid")))?;
    let spec: CollectionSpec = serde_json::from_str(&spec)
        .map_err(|e| Error::corrupted(format!("stored spec of collection {id} is not valid: {e}")))?;
    let generation = from_sql_int(generation, "collection generation")?;
    Ok(CollectionRow { id: CollectionId(id), space: SpaceId(space), name, spec, generation })
}

fn read_collection(r: &Row<'_>) -> rusqlite::Result<RawCollection> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

/// A change-log row as stored.
struct RawChange {
    position: i64,
    hlc: i64,
    op: i64,
    collection: String,
    doc_id: String,
    version: i64,
    content_hash: Vec<u8>,
    hash: Vec<u8>,
    actor: Option<String>,
    request_id: Option<String>,
}

impl RawChange {
    fn read(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            position: r.get(0)?,
            hlc: r.get(1)?,
            op: r.get(2)?,
            collection: r.get(3)?,
            doc_id: r.get(4)?,
            version: r.get(5)?,
            content_hash: r.get(6)?,
            hash: r.get(7)?,
            actor: r.get(8)?,
            request_id: r.get(9)?,
        })
    }

    /// The entry, linked after `prev_hash` (the previous row's hash: it is
    /// not stored twice, and the chain check recomputes every hash from it).
    fn into_entry(self, prev_hash: Digest) -> Result<ChangeEntry> {
        // A damaged row names its position, as the chain check does.
        let position = self.position;
        self.parse(prev_hash).map_err(|e| e.context(&format!("change {position}")))
    }

    fn parse(self, prev_hash: Digest) -> Result<ChangeEntry> {
        let op =
            u8::try_from(self.op).map_err(|_| Error::corrupted(format!("stored change op {} is invalid", self.op)))?;
        Ok(ChangeEntry {
            position: from_sql_int(self.position, "change position")?,
            hlc: from_sql_int(self.hlc, "change HLC")?,
            op: ChangeOp::from_code(op)?,
            collection: self.collection,
            doc_id: self.doc_id,
            version: from_sql_int(self.version, "change version")?,
            content_hash: digest(self.content_hash, "content hash")?,
            actor: self.actor.unwrap_or_default(),
            request_id: self.request_id.unwrap_or_default(),
            prev_hash,
            hash: digest(self.hash, "change hash")?,
        })
    }
}

impl Queries<'_> {
    /// Runs a cached statement and collects its rows.
    fn rows<T, P: Params>(
        &self,
        what: &'static str,
        sql_text: &str,
        params: P,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.0.prepare_cached(sql_text).map_err(sql(what))?;
        let rows = stmt.query_map(params, map).map_err(sql(what))?;
        rows.collect::<rusqlite::Result<Vec<T>>>().map_err(sql(what))
    }

    /// Runs a cached statement expected to return at most one row.
    fn row<T, P: Params>(
        &self,
        what: &'static str,
        sql_text: &str,
        params: P,
        map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>> {
        let mut stmt = self.0.prepare_cached(sql_text).map_err(sql(what))?;
        stmt.query_row(params, map).optional().map_err(sql(what))
    }
}

impl Reader for Queries<'_> {
    fn spaces(&self) -> Result<Vec<SpaceRow>> {
        let sql_text = "SELECT id, name, created_hlc FROM spaces ORDER BY name";
        let raw = self.rows("listing spaces", sql_text, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        raw.into_iter().map(space_row).collect()
    }

    fn space(&self, name: &SpaceName) -> Result<Option<SpaceRow>> {
        let sql_text = "SELECT id, name, created_hlc FROM spaces WHERE name = ?1";
        let raw = self.row("reading a space", sql_text, [name.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        raw.map(space_row).transpose()
    }

    fn collections(&self, space: SpaceId) -> Result<Vec<CollectionRow>> {
        let sql_text = "SELECT id, space_id, name, spec, generation FROM collections WHERE space_id = ?1 ORDER BY name";
        let raw = self.rows("listing collections", sql_text, [space.0], read_collection)?;
        raw.into_iter().map(collection_row).collect()
    }

    fn collection(&self, space: SpaceId, name: &CollectionName) -> Result<Option<CollectionRow>> {
        let sql_text = "SELECT id, space_id, name, spec, generation FROM collections WHERE space_id = ?1 AND name = ?2";
        let raw = self.row("reading a collection", sql_text, params![space.0, name.as_str()], read_collection)?;
        raw.map(collection_row).transpose()
    }

    fn collection_by_id(&self, id: CollectionId) -> Result<Option<CollectionRow>> {
        let sql_text = "SELECT id, space_id, name, spec, generation FROM collections WHERE id = ?1";
        let raw = self.row("reading a collection", sql_text, [id.0], read_collection)?;
        raw.map(collection_row).transpose()
    }

    fn doc(&self, coll: CollectionId, id: &str) -> Result<Option<StoredDoc>> {
        let sql_text = "SELECT id, version, body, expires_at, updated_hlc FROM docs WHERE coll_id = ?1 AND id = ?2";
        let raw = self.row("reading a document", sql_text, params![coll.0, id], |r| RawDoc::read(r, 0))?;
        raw.map(RawDoc::into_doc).transpose()
    }

    fn scan_docs(
        &self,
        coll: CollectionId,
        after: Option<&str>,
        reverse: bool,
        limit_n: usize,
    ) -> Result<Vec<StoredDoc>> {
        let what = "scanning documents";
        let n = limit(limit_n);
        let read = |r: &Row<'_>| RawDoc::read(r, 0);
        let raw = match (after, reverse) {
            (None, false) => self.rows(what, SCAN_DOCS_FWD, params![coll.0, n], read)?,
            (None, true) => self.rows(what, SCAN_DOCS_REV, params![coll.0, n], read)?,
            (Some(a), false) => self.rows(what, SCAN_DOCS_FWD_AFTER, params![coll.0, a, n], read)?,
            (Some(a), true) => self.rows(what, SCAN_DOCS_REV_AFTER, params![coll.0, a, n], read)?,
        };
        raw.into_iter().map(RawDoc::into_doc).collect()
    }

    fn scan_index(&self, scan: &IndexScan<'_>) -> Result<Vec<(Vec<u8>, StoredDoc)>> {
        let (sql_text, values) = index_scan_sql(scan);
        let read = |r: &Row<'_>| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<String>>(1)?, RawDoc::read(r, 2)));
        let raw = self.rows("scanning an index", &sql_text, params_from_iter(values), read)?;
        raw.into_iter()
            .map(|(key, joined, doc)| {
                // A LEFT JOIN finds the dangling entry instead of hiding it.
                if joined.is_none() {
                    return Err(Error::corrupted("an index entry points at a missing document"));
                }
                let doc = doc.map_err(sql("scanning an index"))?;
                Ok((key, doc.into_doc()?))
            })
            .collect()
    }

    /// Reads from the entry at `after` itself (when there is one) to learn
    /// the hash the first returned entry links to.
    fn changes(&self, space: SpaceId, after: u64, limit_n: usize) -> Result<Vec<ChangeEntry>> {
        let args = params![space.0, bound_int(after), limit(limit_n.saturating_add(1))];
        let raw = self.rows("reading the change log", CHANGES, args, RawChange::read)?;
        let mut prev: Digest = [0; 32];
        let mut out = Vec::with_capacity(raw.len());
        for row in raw {
            let hash = digest(row.hash.clone(), "change hash")?;
            if from_sql_int(row.position, "change position")? > after {
                out.push(row.into_entry(prev)?);
            }
            prev = hash;
        }
        out.truncate(limit_n);
        Ok(out)
    }

    fn change_head(&self, space: SpaceId) -> Result<ChangeHead> {
        let sql_text = "SELECT position, hash, hlc FROM changes WHERE space_id = ?1 ORDER BY position DESC LIMIT 1";
        let raw = self.row("reading the change-log head", sql_text, [space.0], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, i64>(2)?))
        })?;
        let Some((position, hash, hlc)) = raw else { return Ok(ChangeHead::default()) };
        Ok(ChangeHead {
            position: from_sql_int(position, "change position")?,
            hash: digest(hash, "change hash")?,
            hlc: from_sql_int(hlc, "change HLC")?,
        })
    }

    /// The newest entry of each space, found by its primary key: one probe
    /// per space, never a scan.
    fn max_hlc(&self) -> Result<u64> {
        let raw = self.row("reading the newest HLC", MAX_HLC, [], |r| r.get::<_, Option<i64>>(0))?;
        from_sql_int(raw.flatten().unwrap_or(0), "change HLC")
    }

    /// Oldest expiry first (the order of the partial index on `expires_at`).
    fn expired(&self, now_ms: u64, limit_n: usize) -> Result<Vec<(CollectionId, String)>> {
        let args = params![bound_int(now_ms), limit(limit_n)];
        let raw = self.rows("listing expired documents", EXPIRED, args, |r| Ok((r.get::<_, i64>(0)?, r.get(1)?)))?;
        Ok(raw.into_iter().map(|(c, id)| (CollectionId(c), id)).collect())
    }

    fn idempotency(&self, space: SpaceId, key: &str) -> Result<Option<IdempotencyRecord>> {
        let sql_text = "SELECT request_hash, response, expires_at FROM idempotency WHERE space_id = ?1 AND key = ?2";
        let raw = self.row("reading an idempotency record", sql_text, params![space.0, key], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
        })?;
        let Some((hash, response, expires)) = raw else { return Ok(None) };
        Ok(Some(IdempotencyRecord {
            request_hash: digest(hash, "idempotency request hash")?,
            response,
            expires_at_ms: from_sql_int(expires, "idempotency expiry")?,
        }))
    }

    /// Keys are never empty, so `""` stands for "from the first".
    fn idempotency_records(
        &self,
        space: SpaceId,
        after: Option<&str>,
        limit_n: usize,
    ) -> Result<Vec<(String, IdempotencyRecord)>> {
        let sql_text = "SELECT key, request_hash, response, expires_at FROM idempotency \
                        WHERE space_id = ?1 AND key > ?2 ORDER BY key LIMIT ?3";
        let args = params![space.0, after.unwrap_or(""), limit(limit_n)];
        let raw = self.rows("listing idempotency records", sql_text, args, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
        })?;
        raw.into_iter()
            .map(|(key, hash, response, expires)| {
                let record = IdempotencyRecord {
                    request_hash: digest(hash, "idempotency request hash")?,
                    response,
                    expires_at_ms: from_sql_int(expires, "idempotency expiry")?,
                };
                Ok((key, record))
            })
            .collect()
    }

    /// Listed by migration 0002 (format v1 entries), removed as rebuilt.
    fn stale_indexes(&self) -> Result<Vec<CollectionId>> {
        let sql_text = "SELECT coll_id FROM index_rebuilds ORDER BY coll_id";
        let ids = self.rows("listing index rebuilds", sql_text, [], |r| r.get(0))?;
        Ok(ids.into_iter().map(CollectionId).collect())
    }
}

const CHANGES: &str = "SELECT position, hlc, op, collection, doc_id, version, content_hash, hash, actor, request_id \
                       FROM changes WHERE space_id = ?1 AND position >= ?2 ORDER BY position LIMIT ?3";
/// One primary-key probe per space (the join form made SQLite scan the
/// whole change log: 0.76 s at open with 2.4M entries).
const MAX_HLC: &str = "SELECT max((SELECT hlc FROM changes WHERE space_id = s.id ORDER BY position DESC LIMIT 1)) \
                       FROM spaces s";
/// `expires_at IS NOT NULL` makes the partial index usable.
const EXPIRED: &str = "SELECT coll_id, id FROM docs WHERE expires_at IS NOT NULL AND expires_at <= ?1 \
                       ORDER BY expires_at LIMIT ?2";
const SCAN_DOCS_FWD: &str =
    "SELECT id, version, body, expires_at, updated_hlc FROM docs WHERE coll_id = ?1 ORDER BY id LIMIT ?2";
const SCAN_DOCS_REV: &str =
    "SELECT id, version, body, expires_at, updated_hlc FROM docs WHERE coll_id = ?1 ORDER BY id DESC LIMIT ?2";
const SCAN_DOCS_FWD_AFTER: &str = "SELECT id, version, body, expires_at, updated_hlc FROM docs \
                                   WHERE coll_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
const SCAN_DOCS_REV_AFTER: &str = "SELECT id, version, body, expires_at, updated_hlc FROM docs \
                                   WHERE coll_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";

/// The SQL and parameters of an index scan. The text is assembled from fixed
/// fragments only (every value is a bound parameter), so it stays among a
/// small set of shapes that the statement cache keeps prepared.
pub(crate) fn index_scan_sql(scan: &IndexScan<'_>) -> (String, Vec<Value>) {
    let mut sql_text = String::from(
        "SELECT e.key, d.id, d.id, d.version, d.body, d.expires_at, d.updated_hlc \
         FROM index_entries e LEFT JOIN docs d ON d.coll_id = e.coll_id AND d.id = e.doc_id \
         WHERE e.coll_id = ? AND e.idx = ?",
    );
    let mut values = vec![Value::Integer(scan.collection.0), Value::Integer(i64::from(scan.index))];
    let mut bound = |b: &Bound<Vec<u8>>, incl: &str, excl: &str| match b {
        Bound::Included(k) => {
            sql_text.push_str(incl);
            values.push(Value::Blob(k.clone()));
        }
        Bound::Excluded(k) => {
            sql_text.push_str(excl);
            values.push(Value::Blob(k.clone()));
        }
        Bound::Unbounded => {}
    };
    bound(&scan.range.start, " AND e.key >= ?", " AND e.key > ?");
    bound(&scan.range.end, " AND e.key <= ?", " AND e.key < ?");
    if let Some((key, id)) = scan.after {
        // Keyset pagination on the (key, doc_id) row value: exclusive.
        sql_text.push_str(if scan.reverse {
            " AND (e.key, e.doc_id) < (?, ?)"
        } else {
            " AND (e.key, e.doc_id) > (?, ?)"
        });
        values.push(Value::Blob(key.to_vec()));
        values.push(Value::Text(id.to_owned()));
    }
    sql_text.push_str(if scan.reverse { " ORDER BY e.key DESC, e.doc_id DESC" } else { " ORDER BY e.key, e.doc_id" });
    sql_text.push_str(" LIMIT ?");
    values.push(Value::Integer(limit(scan.limit)));
    (sql_text, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::migrated_in_memory;
    use engram_core::keys::KeyRange;

    /// The query plan's details, one per line.
    fn plan(conn: &Connection, sql_text: &str, values: Vec<Value>) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql_text}")).expect("explain");
        let rows = stmt.query_map(params_from_iter(values), |r| r.get::<_, String>(3)).expect("plan rows");
        rows.collect::<rusqlite::Result<Vec<_>>>().expect("plan").join("\n")
    }

    fn bounds() -> [Bound<Vec<u8>>; 3] {
        [Bound::Included(vec![1]), Bound::Excluded(vec![2]), Bound::Unbounded]
    }

    #[test]
    fn every_index_scan_shape_walks_the_primary_key_without_sorting() {
        let conn = migrated_in_memory();
        let mut shapes = std::collections::BTreeSet::new();
        for start in bounds() {
            for end in bounds() {
                let range = KeyRange { start: start.clone(), end };
                for after in [None, Some((&[1u8][..], "d"))] {
                    for reverse in [false, true] {
                        let scan = IndexScan {
                            collection: CollectionId(1),
                            index: 2,
                            range: &range,
                            after,
                            reverse,
                            limit: 10,
                        };
                        let (sql_text, values) = index_scan_sql(&scan);
                        let p = plan(&conn, &sql_text, values);
                        assert!(!p.contains("TEMP B-TREE"), "{sql_text}\n{p}");
                        assert!(p.contains("SEARCH e USING PRIMARY KEY"), "{sql_text}\n{p}");
                        shapes.insert(sql_text);
                    }
                }
            }
        }
        assert_eq!(shapes.len(), 36, "each combination has its own statement");
    }

    #[test]
    fn doc_change_and_expiry_scans_use_indexes() {
        let conn = migrated_in_memory();
        let int = Value::Integer;
        let text = || Value::Text("d".into());
        let cases = [
            (SCAN_DOCS_FWD, vec![int(1), int(5)]),
            (SCAN_DOCS_REV, vec![int(1), int(5)]),
            (SCAN_DOCS_FWD_AFTER, vec![int(1), text(), int(5)]),
            (SCAN_DOCS_REV_AFTER, vec![int(1), text(), int(5)]),
        ];
        for (sql_text, values) in cases {
            let p = plan(&conn, sql_text, values);
            assert!(!p.contains("TEMP B-TREE") && p.contains("PRIMARY KEY"), "{sql_text}\n{p}");
        }
        let p = plan(&conn, EXPIRED, vec![int(5), int(5)]);
        assert!(p.contains("docs_expires_at") && !p.contains("TEMP B-TREE"), "{p}");
        let p = plan(&conn, CHANGES, vec![int(1), int(0), int(5)]);
        assert!(p.contains("PRIMARY KEY") && !p.contains("TEMP B-TREE"), "{p}");
    }

    #[test]
    fn rebinding_a_limit_does_not_prepare_the_statement_again() {
        let conn = migrated_in_memory();
        conn.execute_batch("INSERT INTO docs VALUES (1, 'a', 1, '{}', NULL, 1), (1, 'b', 1, '{}', NULL, 1)")
            .expect("docs");
        let q = Queries(&conn);
        for n in 1..=3 {
            q.scan_docs(CollectionId(1), Some(""), false, n).expect("scan");
            q.scan_docs(CollectionId(1), Some("z"), true, n).expect("scan");
        }
        for sql_text in [SCAN_DOCS_FWD_AFTER, SCAN_DOCS_REV_AFTER] {
            let stmt = conn.prepare_cached(sql_text).expect("cached");
            assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0, "{sql_text}");
        }
    }

    #[test]
    fn empty_database_reads_are_empty_not_errors() {
        let conn = migrated_in_memory();
        let q = Queries(&conn);
        assert!(q.spaces().expect("spaces").is_empty());
        assert_eq!(q.change_head(SpaceId(1)).expect("head"), ChangeHead::default());
        assert_eq!(q.max_hlc().expect("max hlc"), 0);
        assert!(q.doc(CollectionId(1), "x").expect("doc").is_none());
        assert!(q.changes(SpaceId(1), u64::MAX, usize::MAX).expect("changes").is_empty());
        assert!(q.expired(u64::MAX, 10).expect("expired").is_empty());
    }

    #[test]
    fn damaged_rows_are_reported_as_corruption() {
        let conn = migrated_in_memory();
        conn.execute_batch(
            "INSERT INTO spaces (name, created_hlc) VALUES ('bad name!', 1);
             INSERT INTO changes VALUES (7, 1, 1, 99, '', '', 0, x'00', x'00', NULL, NULL);
             INSERT INTO index_entries VALUES (3, 1, x'01', 'ghost');",
        )
        .expect("damage");
        let q = Queries(&conn);
        assert_eq!(q.spaces().expect_err("bad name").kind(), engram_core::ErrorKind::Corrupted);
        assert_eq!(q.changes(SpaceId(7), 0, 10).expect_err("bad op").kind(), engram_core::ErrorKind::Corrupted);
        let all = KeyRange::all();
        let scan =
            IndexScan { collection: CollectionId(3), index: 1, range: &all, after: None, reverse: false, limit: 10 };
        assert_eq!(q.scan_index(&scan).expect_err("dangling").kind(), engram_core::ErrorKind::Corrupted);
    }
}
