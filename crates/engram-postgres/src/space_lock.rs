//! A space's row lock, its change-log head and its reserved collections in
//! one round trip: the start of every write, and so of every batch on the
//! writer's connection, where the space's other writers wait for each
//! round trip.
//!
//! Three statements sent as one simple-protocol query. Each runs at READ
//! COMMITTED with a snapshot of its own, taken when it starts, so the head
//! and the collection rows are read after the lock is granted: as the
//! last committer of the space left them (see `tx.rs`). One statement
//! could not do it: a subquery of the locking statement would read from
//! the snapshot taken before its wait for the lock. The space id is an
//! integer spliced in as a literal; nothing else comes from outside.
//!
//! Reserved collections (names starting with `_`; callers cannot name
//! one so) are few per space, and every queue, graph, fact, stream or
//! feed step asks for one or two of them: the writer keeps them all, and
//! the absence of the others, for the rest of the transaction.

use crate::conn::Conn;
use engram_core::backend::{CollectionId, CollectionRow, CollectionSpec, SpaceId};
use engram_core::changelog::ChangeHead;
use engram_core::names::CollectionName;
use engram_core::sql_int::{digest, from_sql_int};
use engram_core::{Error, Result};
use postgres::SimpleQueryRow;

const WHAT: &str = "locking a space";

/// What the lock found.
pub(crate) struct Locked {
    /// False when the space's row is gone.
    pub exists: bool,
    pub head: ChangeHead,
    /// Every reserved collection of the space.
    pub reserved: Vec<CollectionRow>,
}

/// Locks `space` and reads its head and reserved collections.
pub(crate) fn lock(conn: &mut Conn, space: SpaceId) -> Result<Locked> {
    let id = space.0;
    // Names are COLLATE "C": the ones starting with `_` (0x5F) sort below
    // '`' (0x60).
    let sql = format!(
        "SELECT 1 FROM spaces WHERE id = {id} FOR UPDATE; \
         SELECT position, encode(hash, 'hex'), hlc FROM changes WHERE space_id = {id} \
         ORDER BY position DESC LIMIT 1; \
         SELECT id, space_id, name, spec, generation FROM collections \
         WHERE space_id = {id} AND name >= '_' AND name < '`'"
    );
    let mut results = conn.simple_rows(WHAT, &sql)?.into_iter();
    let (Some(lock), Some(head), Some(colls)) = (results.next(), results.next(), results.next()) else {
        return Err(Error::internal("locking a space returned fewer results than statements"));
    };
    let head = head.first().map(head_of).transpose()?.unwrap_or_default();
    let reserved = colls.iter().map(collection_of).collect::<Result<Vec<_>>>()?;
    Ok(Locked { exists: !lock.is_empty(), head, reserved })
}

/// Column `i` of a row, which must not be null.
fn text(row: &SimpleQueryRow, i: usize) -> Result<&str> {
    row.try_get(i)
        .map_err(|e| Error::corrupted(format!("{WHAT}: unexpected column {i}: {e}")))?
        .ok_or_else(|| Error::corrupted(format!("{WHAT}: column {i} is null")))
}

fn int(row: &SimpleQueryRow, i: usize) -> Result<i64> {
    text(row, i)?.parse().map_err(|e| Error::corrupted(format!("{WHAT}: column {i} is not an integer: {e}")))
}

fn head_of(row: &SimpleQueryRow) -> Result<ChangeHead> {
    let hash = hex_bytes(text(row, 1)?)?;
    Ok(ChangeHead {
        position: from_sql_int(int(row, 0)?, "change position")?,
        hash: digest(hash, "change hash")?,
        hlc: from_sql_int(int(row, 2)?, "change HLC")?,
    })
}

fn collection_of(row: &SimpleQueryRow) -> Result<CollectionRow> {
    let id = int(row, 0)?;
    let name = CollectionName::stored(text(row, 2)?)
        .map_err(|_| Error::corrupted(format!("stored name of collection {id} is invalid")))?;
    let spec: CollectionSpec = serde_json::from_str(text(row, 3)?)
        .map_err(|e| Error::corrupted(format!("stored spec of collection {id} is not valid: {e}")))?;
    let generation = from_sql_int(int(row, 4)?, "collection generation")?;
    Ok(CollectionRow { id: CollectionId(id), space: SpaceId(int(row, 1)?), name, spec, generation })
}

/// Bytes from lowercase or uppercase hex digits.
fn hex_bytes(hex: &str) -> Result<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).ok_or_else(|| Error::corrupted(format!("{WHAT}: bad hex {hex:?}")));
    if !hex.len().is_multiple_of(2) {
        return Err(Error::corrupted(format!("{WHAT}: odd hex length")));
    }
    hex.as_bytes().chunks(2).map(|p| Ok((digit(p[0])? * 16 + digit(p[1])?) as u8)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_decodes_both_cases_and_refuses_junk() {
        assert_eq!(hex_bytes("00ff7fA0").expect("hex"), [0x00, 0xff, 0x7f, 0xa0]);
        assert!(hex_bytes("abc").is_err());
        assert!(hex_bytes("zz").is_err());
        assert_eq!(hex_bytes("").expect("empty"), Vec::<u8>::new());
    }
}
