//! Where API key records live: in this server's data directory
//! (`keys.json`, the embedded default), or as documents in the engine's
//! system space, shared by every server of a database.
//!
//! Invariant: on shared storage a record is read from the database at every
//! use, so a key created or revoked through one server works or is refused
//! through every other at once; nothing is cached.

use super::keys::{KEYS_FILE, KeyRecord, write_private};
use engram::{Error, Expect, Op, Query, Result, Space};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The collection of key records in the system space.
const KEYS_COLLECTION: &str = "api_keys";
/// Records read per page when listing shared keys.
const PAGE: usize = 1_000;

/// A change to the set of records, applied atomically with others.
pub enum Change {
    Put(KeyRecord),
    Remove(String),
}

/// The records of one key store.
pub enum Records {
    /// In memory, each change written whole to `keys.json` (when a path is
    /// given) aside, synced and renamed.
    Local { path: Option<PathBuf>, keys: Mutex<BTreeMap<String, KeyRecord>> },
    /// Documents of the engine's system space (see the module invariant).
    Shared(Space),
}

/// A record as stored: the API's form plus the fields it never shows.
#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    record: KeyRecord,
    hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    space_id: Option<i64>,
}

fn to_stored(k: &KeyRecord) -> Stored {
    Stored { record: k.clone(), hash: k.hash.clone(), space_id: k.space_id }
}

fn from_stored(s: Stored) -> KeyRecord {
    KeyRecord { hash: s.hash, space_id: s.space_id, ..s.record }
}

impl Records {
    /// Loads `dir/keys.json` (empty when absent).
    pub fn open_file(dir: &Path) -> Result<Self> {
        let path = dir.join(KEYS_FILE);
        let keys = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: Vec<Stored> = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| serde_json::from_value(v["keys"].clone()).ok())
                    .ok_or_else(|| Error::corrupted(format!("{}: not a key file", path.display())))?;
                file.into_iter().map(from_stored).map(|k| (k.id.clone(), k)).collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(Error::internal(format!("reading {}: {e}", path.display()))),
        };
        Ok(Self::Local { path: Some(path), keys: Mutex::new(keys) })
    }

    pub fn in_memory() -> Self {
        Self::Local { path: None, keys: Mutex::default() }
    }

    /// Every record.
    pub fn all(&self) -> Result<Vec<KeyRecord>> {
        match self {
            Self::Local { keys, .. } => Ok(lock(keys).values().cloned().collect()),
            Self::Shared(space) => list_shared(space),
        }
    }

    /// One record by key id.
    pub fn get(&self, id: &str) -> Result<Option<KeyRecord>> {
        match self {
            Self::Local { keys, .. } => Ok(lock(keys).get(id).cloned()),
            Self::Shared(space) => match space.get(KEYS_COLLECTION, id) {
                Ok(doc) => Ok(Some(parse(doc.body)?)),
                Err(e) if e.kind() == engram::ErrorKind::NotFound => Ok(None),
                // A key id that is not a valid document id has no record.
                Err(e) if e.kind() == engram::ErrorKind::InvalidInput => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// How many records there are.
    pub fn count(&self) -> Result<u64> {
        match self {
            Self::Local { keys, .. } => Ok(lock(keys).len() as u64),
            Self::Shared(space) => match space.count(KEYS_COLLECTION, &serde_json::json!({})) {
                Err(e) if e.kind() == engram::ErrorKind::NotFound => Ok(0),
                r => r,
            },
        }
    }

    /// Applies `changes` all or none.
    pub fn apply(&self, changes: Vec<Change>) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        match self {
            Self::Local { path, keys } => {
                let mut keys = lock(keys);
                let mut next = keys.clone();
                for c in changes {
                    match c {
                        Change::Put(k) => next.insert(k.id.clone(), k),
                        Change::Remove(id) => next.remove(&id),
                    };
                }
                if let Some(path) = path {
                    persist(path, &next)?;
                }
                *keys = next;
                Ok(())
            }
            Self::Shared(space) => space.commit(changes.into_iter().map(op).collect(), None).map(drop),
        }
    }
}

fn op(c: Change) -> Op {
    match c {
        Change::Put(k) => Op::Put {
            collection: KEYS_COLLECTION.into(),
            id: k.id.clone(),
            body: serde_json::to_value(to_stored(&k)).expect("key records serialize"),
            expect: Expect::Any,
            ttl_seconds: None,
        },
        Change::Remove(id) => Op::Delete { collection: KEYS_COLLECTION.into(), id, expect: Expect::Any },
    }
}

fn parse(body: serde_json::Value) -> Result<KeyRecord> {
    let stored: Stored =
        serde_json::from_value(body).map_err(|e| Error::corrupted(format!("a stored API key record: {e}")))?;
    Ok(from_stored(stored))
}

fn list_shared(space: &Space) -> Result<Vec<KeyRecord>> {
    let mut out = Vec::new();
    let mut q = Query { limit: Some(PAGE), ..Query::default() };
    loop {
        let page = match space.query(KEYS_COLLECTION, &q) {
            Ok(p) => p,
            Err(e) if e.kind() == engram::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for doc in page.documents {
            out.push(parse(doc.body)?);
        }
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return Ok(out),
        }
    }
}

fn persist(path: &Path, keys: &BTreeMap<String, KeyRecord>) -> Result<()> {
    let stored: Vec<Stored> = keys.values().map(to_stored).collect();
    let mut text =
        serde_json::to_vec_pretty(&serde_json::json!({"version": 1, "keys": stored})).expect("keys serialize");
    text.push(b'\n');
    write_private(path, &text)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
