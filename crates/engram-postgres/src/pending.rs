//! Change-log rows appended in a write transaction but not yet sent: the
//! writer inserts them with one statement over arrays instead of one round
//! trip per entry.
//!
//! Safe because nothing reads a space's log rows inside a write
//! transaction before they are flushed: the head is kept in memory under
//! the space's lock (`tx.rs`), and every read of the `changes` table made
//! through a transaction (`changes`, `max_hlc`, deleting a space) flushes
//! first. Other transactions cannot see the rows before COMMIT anyway, and
//! the writer flushes before every COMMIT and before releasing a job's
//! savepoint, so a job's rows share its fate.

use crate::conn::Conn;
use engram_core::Result;
use engram_core::backend::SpaceId;
use engram_core::changelog::ChangeEntry;
use engram_core::sql_int::to_sql_int;

/// Rows buffered before they are flushed mid-transaction (a bound on the
/// statement's size and on memory, not a tuning knob).
pub(crate) const PENDING_ROWS_MAX: usize = 4_096;

const INSERT: &str = "INSERT INTO changes \
     (space_id, position, hlc, op, collection, doc_id, version, content_hash, hash, actor, request_id) \
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::smallint[], $5::text[], \
     $6::text[], $7::bigint[], $8::bytea[], $9::bytea[], $10::text[], $11::text[])";

/// Buffered rows, column by column (the statement's arrays).
#[derive(Debug, Default)]
pub(crate) struct PendingChanges {
    space: Vec<i64>,
    position: Vec<i64>,
    hlc: Vec<i64>,
    op: Vec<i16>,
    collection: Vec<String>,
    doc_id: Vec<String>,
    version: Vec<i64>,
    content_hash: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
    /// NULL for an entry from before actors were recorded (copied).
    actor: Vec<Option<String>>,
    request_id: Vec<Option<String>>,
}

impl PendingChanges {
    /// Buffers one entry. Its integers are converted now, so an entry that
    /// cannot be stored fails the job that appends it, not a later flush.
    pub(crate) fn push(&mut self, space: SpaceId, entry: &ChangeEntry) -> Result<()> {
        let position = to_sql_int(entry.position, "change position")?;
        let hlc = to_sql_int(entry.hlc, "HLC timestamp")?;
        let version = to_sql_int(entry.version, "change version")?;
        self.space.push(space.0);
        self.position.push(position);
        self.hlc.push(hlc);
        self.op.push(i16::from(entry.op.code()));
        self.collection.push(entry.collection.clone());
        self.doc_id.push(entry.doc_id.clone());
        self.version.push(version);
        self.content_hash.push(entry.content_hash.to_vec());
        self.hash.push(entry.hash.to_vec());
        self.actor.push((!entry.actor.is_empty()).then(|| entry.actor.clone()));
        self.request_id.push((!entry.request_id.is_empty()).then(|| entry.request_id.clone()));
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.space.len()
    }

    /// Inserts every buffered row with one statement and empties the
    /// buffer. The buffer is emptied even when the statement fails: the
    /// failure aborts the (sub)transaction the rows belonged to.
    pub(crate) fn flush(&mut self, conn: &mut Conn) -> Result<()> {
        if self.len() == 0 {
            return Ok(());
        }
        let rows = std::mem::take(self);
        let args: crate::conn::Params<'_> = &[
            &rows.space,
            &rows.position,
            &rows.hlc,
            &rows.op,
            &rows.collection,
            &rows.doc_id,
            &rows.version,
            &rows.content_hash,
            &rows.hash,
            &rows.actor,
            &rows.request_id,
        ];
        conn.execute("appending to the change log", INSERT, args)?;
        Ok(())
    }

    /// Drops the buffered rows (their transaction or savepoint rolled back).
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }
}
