//! Several documents of one collection read, or written with their index
//! entries, in one statement over arrays: a queue step touches up to a
//! batch of messages, and a round trip per document and per index change
//! was most of its time on the space's lock.
//!
//! The write is one statement of data-modifying CTEs. They all run on one
//! snapshot and cannot see each other's rows, which is safe here because
//! no two of them touch one row: document ids are distinct (the caller's
//! contract), the index entries deleted are the old ones not among the new
//! (as in `replace_index_entries`), and each entry's key holds its
//! document's id.

use crate::conn::{Conn, Params};
use engram_core::Result;
use engram_core::backend::{CollectionId, DocWrite, IndexEntry, StoredDoc};
use engram_core::sql_int::to_sql_int;
use std::collections::BTreeSet;

const READ: &str = "SELECT id, version, body, expires_at, updated_hlc FROM docs \
     WHERE coll_id = $1 AND id = ANY($2::text[])";

/// The index entries to delete are found one primary-key probe each
/// (`OFFSET 0` keeps the planner from flattening the probe into a join)
/// and deleted by row address. Joined with the arrays instead, the planner
/// (which counts live rows only) chose to read every entry of the
/// collection and hash them, and between vacuums a queue's collection
/// holds many more dead entries than live ones, which such scans revisit
/// every time.
const WRITE: &str = "WITH gone AS (\
       DELETE FROM index_entries WHERE ctid = ANY (ARRAY(\
         SELECT e.ctid FROM unnest($2::text[], $3::bigint[], $4::bytea[]) AS g(doc_id, idx, key) \
         CROSS JOIN LATERAL (SELECT ctid FROM index_entries \
           WHERE coll_id = $1 AND idx = g.idx AND key = g.key AND doc_id = g.doc_id OFFSET 0) AS e))), \
     dropped AS (DELETE FROM docs WHERE coll_id = $1 AND id = ANY($5::text[])), \
     put AS (\
       INSERT INTO docs (coll_id, id, version, body, expires_at, updated_hlc) \
       SELECT $1, u.id, u.version, u.body, u.expires_at, u.hlc \
       FROM unnest($6::text[], $7::bigint[], $8::text[], $9::bigint[], $10::bigint[]) \
         AS u(id, version, body, expires_at, hlc) \
       ON CONFLICT (coll_id, id) DO UPDATE SET version = excluded.version, body = excluded.body, \
       expires_at = excluded.expires_at, updated_hlc = excluded.updated_hlc), \
     added AS (\
       INSERT INTO index_entries (coll_id, idx, key, doc_id) \
       SELECT $1, u.idx, u.key, u.doc_id FROM unnest($11::text[], $12::bigint[], $13::bytea[]) AS u(doc_id, idx, key) \
       ON CONFLICT DO NOTHING) \
     SELECT 1";

/// The documents of `ids` that exist.
pub(crate) fn read(conn: &mut Conn, coll: CollectionId, ids: &[&str]) -> Result<Vec<StoredDoc>> {
    let rows = conn.query("reading documents", READ, &[&coll.0, &ids])?;
    rows.iter().map(|r| crate::reader::doc_at(r, 0)).collect()
}

/// Index entries of several documents as parallel arrays (document ids,
/// index numbers, keys) for `unnest`.
#[derive(Default)]
struct Entries {
    doc_id: Vec<String>,
    idx: Vec<i64>,
    key: Vec<Vec<u8>>,
}

impl Entries {
    fn push<'e>(&mut self, doc_id: &str, entries: impl Iterator<Item = &'e IndexEntry>) {
        for e in entries {
            self.doc_id.push(doc_id.to_owned());
            self.idx.push(i64::from(e.index));
            self.key.push(e.key.clone());
        }
    }
}

/// Documents put, as parallel arrays.
#[derive(Default)]
struct Puts<'a> {
    id: Vec<&'a str>,
    version: Vec<i64>,
    body: Vec<&'a str>,
    expires: Vec<Option<i64>>,
    hlc: Vec<i64>,
}

impl<'a> Puts<'a> {
    fn push(&mut self, doc: &'a StoredDoc) -> Result<()> {
        self.id.push(&doc.id);
        self.version.push(to_sql_int(doc.version, "document version")?);
        self.body.push(&doc.body);
        self.expires.push(doc.expires_at_ms.map(|t| to_sql_int(t, "expiry time")).transpose()?);
        self.hlc.push(to_sql_int(doc.updated_hlc, "HLC timestamp")?);
        Ok(())
    }
}

/// Writes every document of `writes` (see [`engram_core::backend::WriteTx::write_docs`]).
pub(crate) fn write(conn: &mut Conn, coll: CollectionId, writes: &[DocWrite<'_>]) -> Result<()> {
    let (mut gone, mut added, mut puts, mut dropped) =
        (Entries::default(), Entries::default(), Puts::default(), Vec::new());
    for w in writes {
        let keep: BTreeSet<&IndexEntry> = w.new.iter().collect();
        gone.push(w.id, w.old.iter().filter(|e| !keep.contains(e)));
        added.push(w.id, w.new.iter());
        match w.doc {
            Some(doc) => puts.push(doc)?,
            None => dropped.push(w.id),
        }
    }
    let args: Params<'_> = &[
        &coll.0,
        &gone.doc_id,
        &gone.idx,
        &gone.key,
        &dropped,
        &puts.id,
        &puts.version,
        &puts.body,
        &puts.expires,
        &puts.hlc,
        &added.doc_id,
        &added.idx,
        &added.key,
    ];
    conn.query("writing documents and index entries", WRITE, args)?;
    Ok(())
}
