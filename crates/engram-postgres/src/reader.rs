//! The SQL behind [`Reader`], written once over any connection.
//!
//! [`Queries`] serves pooled read transactions and the write transaction
//! alike, so reads inside a write see that write's own rows. Orderings
//! match the in-memory reference backend: names, ids and keys compare
//! bytewise (`COLLATE "C"` text and `bytea`).

use crate::conn::{Conn, Params, column};
use engram_core::backend::{
    CollectionId, CollectionRow, CollectionSpec, IdempotencyRecord, IndexScan, Reader, SpaceId, SpaceRow, StoredDoc,
};
use engram_core::changelog::{ChangeEntry, ChangeHead, ChangeOp, Digest};
use engram_core::names::{CollectionName, SpaceName};
use engram_core::sql_int::{bound_int, digest, from_sql_int, from_sql_opt, limit};
use engram_core::{Error, Result};
use postgres::Row;
use postgres::types::ToSql;
use std::cell::RefCell;
use std::ops::Bound;

/// Reads over one connection (a read transaction's, or the write's).
pub(crate) struct Queries<'a>(pub(crate) &'a RefCell<Conn>);

impl Queries<'_> {
    fn rows(&self, what: &'static str, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        self.0.borrow_mut().query(what, sql, params)
    }

    fn row(&self, what: &'static str, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
        self.0.borrow_mut().query_opt(what, sql, params)
    }
}

impl Queries<'_> {
    /// A collection's id and one of its documents, by the collection's name,
    /// in one statement (see `Backend::read_named_doc`). The LEFT JOIN
    /// yields the collection's row with NULL document columns when the
    /// document is missing, and no row when the collection is.
    pub(crate) fn named_doc(
        &self,
        space: SpaceId,
        coll: &CollectionName,
        id: &str,
    ) -> Result<Option<(CollectionId, Option<StoredDoc>)>> {
        let sql = "SELECT c.id, d.id, d.version, d.body, d.expires_at, d.updated_hlc FROM collections c \
                   LEFT JOIN docs d ON d.coll_id = c.id AND d.id = $3 WHERE c.space_id = $1 AND c.name = $2";
        let Some(r) = self.row("reading a document", sql, &[&space.0, &coll.as_str(), &id])? else {
            return Ok(None);
        };
        let found = get::<Option<String>>(&r, 1, "reading a document")?.is_some();
        let doc = if found { Some(doc_at(&r, 1)?) } else { None };
        Ok(Some((CollectionId(get(&r, 0, "reading a document")?), doc)))
    }
}

/// Reads column `i` of `row`, a type mismatch being corruption.
fn get<'r, T: postgres::types::FromSql<'r>>(row: &'r Row, i: usize, what: &str) -> Result<T> {
    column(row.try_get(i), what)
}

/// The five document columns starting at column `at`.
pub(crate) fn doc_at(r: &Row, at: usize) -> Result<StoredDoc> {
    let what = "reading a document";
    Ok(StoredDoc {
        id: get(r, at, what)?,
        version: from_sql_int(get(r, at + 1, what)?, "document version")?,
        body: get(r, at + 2, what)?,
        expires_at_ms: from_sql_opt(get(r, at + 3, what)?, "document expiry")?,
        updated_hlc: from_sql_int(get(r, at + 4, what)?, "document HLC")?,
    })
}

fn space_row(r: &Row) -> Result<SpaceRow> {
    let what = "reading a space";
    let id: i64 = get(r, 0, what)?;
    let name = SpaceName::stored(&get::<String>(r, 1, what)?)
        .map_err(|_| Error::corrupted(format!("stored name of space {id} is invalid")))?;
    Ok(SpaceRow { id: SpaceId(id), name, created_hlc: from_sql_int(get(r, 2, what)?, "space HLC")? })
}

fn collection_row(r: &Row) -> Result<CollectionRow> {
    let what = "reading a collection";
    let id: i64 = get(r, 0, what)?;
    let name = CollectionName::stored(&get::<String>(r, 2, what)?)
        .map_err(|_| Error::corrupted(format!("stored name of collection {id} is invalid")))?;
    let spec: CollectionSpec = serde_json::from_str(&get::<String>(r, 3, what)?)
        .map_err(|e| Error::corrupted(format!("stored spec of collection {id} is not valid: {e}")))?;
    let generation = from_sql_int(get(r, 4, what)?, "collection generation")?;
    Ok(CollectionRow { id: CollectionId(id), space: SpaceId(get(r, 1, what)?), name, spec, generation })
}

/// A change row, linked to `prev` (the hash of the row before it).
fn change_row(r: &Row, prev: Digest) -> Result<ChangeEntry> {
    // A damaged row names its position, as the chain check does.
    parse_change(r, prev).map_err(|e| match get::<i64>(r, 0, "reading the change log") {
        Ok(position) => e.context(&format!("change {position}")),
        Err(_) => e,
    })
}

fn parse_change(r: &Row, prev: Digest) -> Result<ChangeEntry> {
    let what = "reading the change log";
    let op: i16 = get(r, 2, what)?;
    let op = u8::try_from(op).map_err(|_| Error::corrupted(format!("unknown change op code {op}")))?;
    Ok(ChangeEntry {
        position: from_sql_int(get(r, 0, what)?, "change position")?,
        hlc: from_sql_int(get(r, 1, what)?, "change HLC")?,
        op: ChangeOp::from_code(op)?,
        collection: get(r, 3, what)?,
        doc_id: get(r, 4, what)?,
        version: from_sql_int(get(r, 5, what)?, "change version")?,
        content_hash: digest(get(r, 6, what)?, "change content hash")?,
        actor: get::<Option<String>>(r, 8, what)?.unwrap_or_default(),
        request_id: get::<Option<String>>(r, 9, what)?.unwrap_or_default(),
        prev_hash: prev,
        hash: digest(get(r, 7, what)?, "change hash")?,
    })
}

impl Reader for Queries<'_> {
    fn spaces(&self) -> Result<Vec<SpaceRow>> {
        let rows = self.rows("listing spaces", "SELECT id, name, created_hlc FROM spaces ORDER BY name", &[])?;
        rows.iter().map(space_row).collect()
    }

    fn space(&self, name: &SpaceName) -> Result<Option<SpaceRow>> {
        let sql = "SELECT id, name, created_hlc FROM spaces WHERE name = $1";
        self.row("reading a space", sql, &[&name.as_str()])?.as_ref().map(space_row).transpose()
    }

    fn collections(&self, space: SpaceId) -> Result<Vec<CollectionRow>> {
        let sql = "SELECT id, space_id, name, spec, generation FROM collections WHERE space_id = $1 ORDER BY name";
        self.rows("listing collections", sql, &[&space.0])?.iter().map(collection_row).collect()
    }

    fn collection(&self, space: SpaceId, name: &CollectionName) -> Result<Option<CollectionRow>> {
        let sql = "SELECT id, space_id, name, spec, generation FROM collections WHERE space_id = $1 AND name = $2";
        let row = self.row("reading a collection", sql, &[&space.0, &name.as_str()])?;
        row.as_ref().map(collection_row).transpose()
    }

    fn collection_by_id(&self, id: CollectionId) -> Result<Option<CollectionRow>> {
        let sql = "SELECT id, space_id, name, spec, generation FROM collections WHERE id = $1";
        self.row("reading a collection", sql, &[&id.0])?.as_ref().map(collection_row).transpose()
    }

    fn doc(&self, coll: CollectionId, id: &str) -> Result<Option<StoredDoc>> {
        let sql = "SELECT id, version, body, expires_at, updated_hlc FROM docs WHERE coll_id = $1 AND id = $2";
        self.row("reading a document", sql, &[&coll.0, &id])?.as_ref().map(|r| doc_at(r, 0)).transpose()
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
        let rows = match (after, reverse) {
            (None, false) => self.rows(what, SCAN_DOCS_FWD, &[&coll.0, &n])?,
            (None, true) => self.rows(what, SCAN_DOCS_REV, &[&coll.0, &n])?,
            (Some(a), false) => self.rows(what, SCAN_DOCS_FWD_AFTER, &[&coll.0, &a, &n])?,
            (Some(a), true) => self.rows(what, SCAN_DOCS_REV_AFTER, &[&coll.0, &a, &n])?,
        };
        rows.iter().map(|r| doc_at(r, 0)).collect()
    }

    fn scan_index(&self, scan: &IndexScan<'_>) -> Result<Vec<(Vec<u8>, StoredDoc)>> {
        let (sql, values) = index_scan_sql(scan);
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(Value::as_sql).collect();
        let rows = self.rows("scanning an index", &sql, &params)?;
        rows.iter()
            .map(|r| {
                // A LEFT JOIN finds the dangling entry instead of hiding it.
                if get::<Option<String>>(r, 1, "scanning an index")?.is_none() {
                    return Err(Error::corrupted("an index entry points at a missing document"));
                }
                Ok((get(r, 0, "scanning an index")?, doc_at(r, 2)?))
            })
            .collect()
    }

    /// Reads from the entry at `after` itself (when there is one) to learn
    /// the hash the first returned entry links to.
    fn changes(&self, space: SpaceId, after: u64, limit_n: usize) -> Result<Vec<ChangeEntry>> {
        let n = limit(limit_n.saturating_add(1));
        let rows = self.rows("reading the change log", CHANGES, &[&space.0, &bound_int(after), &n])?;
        let mut prev: Digest = [0; 32];
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let hash = digest(get(r, 7, "reading the change log")?, "change hash")?;
            if from_sql_int(get(r, 0, "reading the change log")?, "change position")? > after {
                out.push(change_row(r, prev)?);
            }
            prev = hash;
        }
        out.truncate(limit_n);
        Ok(out)
    }

    fn change_head(&self, space: SpaceId) -> Result<ChangeHead> {
        let sql = "SELECT position, hash, hlc FROM changes WHERE space_id = $1 ORDER BY position DESC LIMIT 1";
        let Some(r) = self.row("reading the change-log head", sql, &[&space.0])? else {
            return Ok(ChangeHead::default());
        };
        let what = "reading the change-log head";
        Ok(ChangeHead {
            position: from_sql_int(get(&r, 0, what)?, "change position")?,
            hash: digest(get(&r, 1, what)?, "change hash")?,
            hlc: from_sql_int(get(&r, 2, what)?, "change HLC")?,
        })
    }

    /// Always empty: this backend was born with format-2 index keys (exact
    /// numbers), so no entry of an older encoding can exist.
    fn stale_indexes(&self) -> Result<Vec<CollectionId>> {
        Ok(Vec::new())
    }

    /// The newest entry of each space, found by its primary key: one index
    /// probe per space, never a scan of the log.
    fn max_hlc(&self) -> Result<u64> {
        let r = self.row("reading the newest HLC", MAX_HLC, &[])?;
        let hlc: Option<i64> = match &r {
            Some(r) => get(r, 0, "reading the newest HLC")?,
            None => None,
        };
        from_sql_int(hlc.unwrap_or(0), "change HLC")
    }

    /// Oldest expiry first (the order of the partial index on `expires_at`).
    fn expired(&self, now_ms: u64, limit_n: usize) -> Result<Vec<(CollectionId, String)>> {
        let rows = self.rows("listing expired documents", EXPIRED, &[&bound_int(now_ms), &limit(limit_n)])?;
        rows.iter()
            .map(|r| {
                Ok((CollectionId(get(r, 0, "listing expired documents")?), get(r, 1, "listing expired documents")?))
            })
            .collect()
    }

    fn idempotency(&self, space: SpaceId, key: &str) -> Result<Option<IdempotencyRecord>> {
        let what = "reading an idempotency record";
        let sql = "SELECT request_hash, response, expires_at FROM idempotency WHERE space_id = $1 AND key = $2";
        let Some(r) = self.row(what, sql, &[&space.0, &key])? else { return Ok(None) };
        Ok(Some(IdempotencyRecord {
            request_hash: digest(get(&r, 0, what)?, "idempotency request hash")?,
            response: get(&r, 1, what)?,
            expires_at_ms: from_sql_int(get(&r, 2, what)?, "idempotency expiry")?,
        }))
    }

    /// Keys are never empty, so `''` stands for "from the first"; `key` is
    /// `COLLATE "C"`, so the order is bytewise.
    fn idempotency_records(
        &self,
        space: SpaceId,
        after: Option<&str>,
        n: usize,
    ) -> Result<Vec<(String, IdempotencyRecord)>> {
        let what = "listing idempotency records";
        let sql = "SELECT key, request_hash, response, expires_at FROM idempotency \
                   WHERE space_id = $1 AND key > $2 ORDER BY key LIMIT $3";
        let rows = self.rows(what, sql, &[&space.0, &after.unwrap_or(""), &limit(n)])?;
        rows.iter()
            .map(|r| {
                let record = IdempotencyRecord {
                    request_hash: digest(get(r, 1, what)?, "idempotency request hash")?,
                    response: get(r, 2, what)?,
                    expires_at_ms: from_sql_int(get(r, 3, what)?, "idempotency expiry")?,
                };
                Ok((get(r, 0, what)?, record))
            })
            .collect()
    }
}

const CHANGES: &str = "SELECT position, hlc, op, collection, doc_id, version, content_hash, hash, actor, request_id \
                       FROM changes WHERE space_id = $1 AND position >= $2 ORDER BY position LIMIT $3";
const MAX_HLC: &str = "SELECT max(c.hlc) FROM spaces s CROSS JOIN LATERAL \
                       (SELECT hlc FROM changes WHERE space_id = s.id ORDER BY position DESC LIMIT 1) c";
/// `expires_at IS NOT NULL` makes the partial index usable.
const EXPIRED: &str = "SELECT coll_id, id FROM docs WHERE expires_at IS NOT NULL AND expires_at <= $1 \
                       ORDER BY expires_at LIMIT $2";
const SCAN_DOCS_FWD: &str =
    "SELECT id, version, body, expires_at, updated_hlc FROM docs WHERE coll_id = $1 ORDER BY id LIMIT $2";
const SCAN_DOCS_REV: &str =
    "SELECT id, version, body, expires_at, updated_hlc FROM docs WHERE coll_id = $1 ORDER BY id DESC LIMIT $2";
const SCAN_DOCS_FWD_AFTER: &str = "SELECT id, version, body, expires_at, updated_hlc FROM docs \
                                   WHERE coll_id = $1 AND id > $2 ORDER BY id LIMIT $3";
const SCAN_DOCS_REV_AFTER: &str = "SELECT id, version, body, expires_at, updated_hlc FROM docs \
                                   WHERE coll_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3";

/// A bound value of an index scan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Int(i64),
    Bytes(Vec<u8>),
    Text(String),
}

impl Value {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Self::Int(v) => v,
            Self::Bytes(v) => v,
            Self::Text(v) => v,
        }
    }
}

/// The SQL and parameters of an index scan. The text is assembled from fixed
/// fragments only (every value is a bound parameter), so it stays among 36
/// shapes that each connection prepares once.
pub(crate) fn index_scan_sql(scan: &IndexScan<'_>) -> (String, Vec<Value>) {
    let mut sql = String::from(
        "SELECT e.key, d.id, d.id, d.version, d.body, d.expires_at, d.updated_hlc \
         FROM index_entries e LEFT JOIN docs d ON d.coll_id = e.coll_id AND d.id = e.doc_id \
         WHERE e.coll_id = $1 AND e.idx = $2",
    );
    let mut values = vec![Value::Int(scan.collection.0), Value::Int(i64::from(scan.index))];
    let mut push = |sql: &mut String, fragment: &str, v: Value| {
        values.push(v);
        sql.push_str(&fragment.replace('?', &format!("${}", values.len())));
    };
    for (b, incl, excl) in [
        (&scan.range.start, " AND e.key >= ?", " AND e.key > ?"),
        (&scan.range.end, " AND e.key <= ?", " AND e.key < ?"),
    ] {
        match b {
            Bound::Included(k) => push(&mut sql, incl, Value::Bytes(k.clone())),
            Bound::Excluded(k) => push(&mut sql, excl, Value::Bytes(k.clone())),
            Bound::Unbounded => {}
        }
    }
    if let Some((key, id)) = scan.after {
        // Keyset pagination on the (key, doc_id) row value: exclusive.
        let op = if scan.reverse { "<" } else { ">" };
        push(&mut sql, &format!(" AND (e.key, e.doc_id) {op} (?,"), Value::Bytes(key.to_vec()));
        push(&mut sql, " ?)", Value::Text(id.to_owned()));
    }
    sql.push_str(if scan.reverse { " ORDER BY e.key DESC, e.doc_id DESC" } else { " ORDER BY e.key, e.doc_id" });
    push(&mut sql, " LIMIT ?", Value::Int(limit(scan.limit)));
    (sql, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engram_core::keys::KeyRange;

    #[test]
    fn index_scan_parameters_are_numbered_in_order() {
        let range = KeyRange { start: Bound::Included(vec![1]), end: Bound::Excluded(vec![9]) };
        let scan = IndexScan {
            collection: CollectionId(4),
            index: 2,
            range: &range,
            after: Some((&[5u8][..], "d")),
            reverse: true,
            limit: 10,
        };
        let (sql, values) = index_scan_sql(&scan);
        assert!(sql.contains("e.key >= $3 AND e.key < $4 AND (e.key, e.doc_id) < ($5, $6)"), "{sql}");
        assert!(sql.ends_with("ORDER BY e.key DESC, e.doc_id DESC LIMIT $7"), "{sql}");
        assert_eq!(values.len(), 7);
        assert_eq!(values[5], Value::Text("d".into()));
        assert_eq!(values[6], Value::Int(10));
    }
}
