//! Helpers shared by the PostgreSQL backend's tests: a fresh database per
//! test, raw connections to it, and sealing change-log entries.

#![allow(dead_code)] // each test file uses its own subset

use engram_core::Result;
use engram_core::backend::{SpaceId, WriteTx};
use engram_core::changelog::{ChangeDraft, ChangeEntry, ChangeOp};
use engram_core::names::SpaceName;
use engram_postgres::{PostgresBackend, PostgresOptions};
use engram_testkit::TestDatabase;

/// A fresh database, or `None` (with the skip message) when no server is
/// reachable outside CI.
pub fn database() -> Option<TestDatabase> {
    engram_testkit::postgres_available().then(TestDatabase::create)
}

pub fn options(db: &TestDatabase) -> PostgresOptions {
    PostgresOptions::new(db.url())
}

pub fn open(db: &TestDatabase) -> PostgresBackend {
    PostgresBackend::open(options(db)).expect("open backend")
}

/// A plain client on the test database, outside the backend.
pub fn raw(db: &TestDatabase) -> postgres::Client {
    postgres::Client::connect(db.url(), postgres::NoTls).expect("raw connection")
}

pub fn space_name(s: &str) -> SpaceName {
    SpaceName::new(s).expect("valid space name")
}

/// Seals and appends one change to `space`'s log inside `tx`.
pub fn log_change(tx: &mut dyn WriteTx, space: SpaceId, doc_id: &str) -> Result<ChangeEntry> {
    let head = tx.change_head(space)?;
    let draft = ChangeDraft {
        hlc: head.position + 1,
        op: ChangeOp::Put,
        collection: "c".into(),
        doc_id: doc_id.into(),
        version: 1,
        content_hash: *blake3::hash(doc_id.as_bytes()).as_bytes(),
        actor: "local".into(),
        request_id: String::new(),
    };
    let entry = draft.seal(&head);
    tx.append_change(space, &entry)?;
    Ok(entry)
}
