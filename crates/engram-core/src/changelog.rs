//! Change-log entries: the per-space, hash-chained record of every mutation.
//!
//! Invariant: entry `n` of a space has `position == n` (from 1, no gaps while
//! the space lives), `prev_hash` equal to entry `n-1`'s `hash` (zeros for
//! n = 1), and `hash = H(prev_hash, position, hlc, op, collection, doc_id,
//! version, content_hash, actor, request_id)`. Changing any stored field
//! breaks the chain.
//!
//! Entries written before the log recorded who wrote them have an empty
//! `actor` and are hashed without it (format `engram.change.v1`); every
//! entry written since names its actor and is hashed with both (format
//! `engram.change.v2`). Blanking a v2 entry's actor to pass it off as v1
//! changes its hash, so the chain check catches it.

use crate::json::hex;
use crate::{Error, Result};
use serde::{Deserialize, Serialize, Serializer};

/// A 32-byte BLAKE3 digest.
pub type Digest = [u8; 32];

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOp {
    SpaceCreate,
    CollectionCreate,
    CollectionUpdate,
    CollectionDrop,
    Put,
    Patch,
    Delete,
    Expire,
}

impl ChangeOp {
    pub fn code(self) -> u8 {
        self as u8
    }
    pub fn from_code(code: u8) -> Result<Self> {
        const ALL: [ChangeOp; 8] = [
            ChangeOp::SpaceCreate,
            ChangeOp::CollectionCreate,
            ChangeOp::CollectionUpdate,
            ChangeOp::CollectionDrop,
            ChangeOp::Put,
            ChangeOp::Patch,
            ChangeOp::Delete,
            ChangeOp::Expire,
        ];
        ALL.get(usize::from(code)).copied().ok_or_else(|| Error::corrupted(format!("unknown change op code {code}")))
    }
}

/// The newest entry's position, hash and timestamp (all zero when empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeHead {
    pub position: u64,
    pub hash: Digest,
    /// The newest entry's HLC timestamp: a writer observes it before
    /// stamping, so timestamps never decrease along a space's log whatever
    /// process writes.
    pub hlc: u64,
}

impl ChangeHead {
    /// The head after `entry`.
    pub fn of(entry: &ChangeEntry) -> Self {
        Self { position: entry.position, hash: entry.hash, hlc: entry.hlc }
    }
}

/// One change-log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeEntry {
    pub position: u64,
    pub hlc: u64,
    pub op: ChangeOp,
    /// Collection name; empty for space-level entries.
    pub collection: String,
    /// Document id; empty for collection- and space-level entries.
    pub doc_id: String,
    /// Document version after the change (0 for deletes and DDL).
    pub version: u64,
    #[serde(serialize_with = "ser_hex")]
    pub content_hash: Digest,
    /// Who wrote it: `key:<id>` for an API key, `local` for a library
    /// call, `engram:<task>` for the engine's own background work; empty
    /// for entries written before the log recorded actors.
    pub actor: String,
    /// The request that wrote it (`X-Request-Id`); empty when none.
    pub request_id: String,
    #[serde(serialize_with = "ser_hex")]
    pub prev_hash: Digest,
    #[serde(serialize_with = "ser_hex")]
    pub hash: Digest,
}

fn ser_hex<S: Serializer>(d: &Digest, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&hex(d))
}

/// The fields a writer supplies; position and hashes come from sealing.
#[derive(Debug, Clone)]
pub struct ChangeDraft {
    pub hlc: u64,
    pub op: ChangeOp,
    pub collection: String,
    pub doc_id: String,
    pub version: u64,
    pub content_hash: Digest,
    pub actor: String,
    pub request_id: String,
}

impl ChangeDraft {
    /// Links the draft after `head`, computing its position and hash.
    pub fn seal(self, head: &ChangeHead) -> ChangeEntry {
        let mut e = ChangeEntry {
            position: head.position + 1,
            hlc: self.hlc,
            op: self.op,
            collection: self.collection,
            doc_id: self.doc_id,
            version: self.version,
            content_hash: self.content_hash,
            actor: self.actor,
            request_id: self.request_id,
            prev_hash: head.hash,
            hash: [0; 32],
        };
        e.hash = entry_hash(&e);
        e
    }
}

/// The chained hash of an entry (its own `hash` field is ignored).
pub fn entry_hash(e: &ChangeEntry) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(if e.actor.is_empty() { b"engram.change.v1" } else { b"engram.change.v2" });
    h.update(&e.prev_hash);
    h.update(&e.position.to_be_bytes());
    h.update(&e.hlc.to_be_bytes());
    h.update(&[e.op.code()]);
    for s in [&e.collection, &e.doc_id] {
        h.update(&(s.len() as u64).to_be_bytes());
        h.update(s.as_bytes());
    }
    h.update(&e.version.to_be_bytes());
    h.update(&e.content_hash);
    if !e.actor.is_empty() {
        for s in [&e.actor, &e.request_id] {
            h.update(&(s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        }
    }
    *h.finalize().as_bytes()
}

/// Checks a run of entries against the head before it; returns the new head.
pub fn verify_run(before: ChangeHead, entries: &[ChangeEntry]) -> Result<ChangeHead> {
    entries.iter().try_fold(before, |head, e| {
        if e.position != head.position + 1 {
            return Err(Error::corrupted(format!(
                "change {}: missing from the log (position {} follows {})",
                head.position + 1,
                e.position,
                head.position
            )));
        }
        if e.prev_hash != head.hash {
            return Err(Error::corrupted(format!("change {}: previous-hash link broken", e.position)));
        }
        if entry_hash(e) != e.hash {
            return Err(Error::corrupted(format!("change {}: hash does not match its contents", e.position)));
        }
        Ok(ChangeHead::of(e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(doc: &str) -> ChangeDraft {
        ChangeDraft {
            hlc: 7,
            op: ChangeOp::Put,
            collection: "c".into(),
            doc_id: doc.into(),
            version: 1,
            content_hash: [1; 32],
            actor: "local".into(),
            request_id: String::new(),
        }
    }

    #[test]
    fn chain_verifies_and_detects_tampering() {
        let a = draft("a").seal(&ChangeHead::default());
        let b = draft("b").seal(&ChangeHead::of(&a));
        let head = verify_run(ChangeHead::default(), &[a.clone(), b.clone()]).expect("valid chain");
        assert_eq!(head.position, 2);
        let mut tampered = b.clone();
        tampered.doc_id = "x".into();
        assert!(verify_run(ChangeHead::default(), &[a.clone(), tampered]).is_err());
        assert!(verify_run(ChangeHead::default(), std::slice::from_ref(&b)).is_err());
        let mut blanked = b.clone();
        blanked.actor.clear();
        assert!(verify_run(ChangeHead::of(&a), &[blanked]).is_err(), "a v2 entry cannot pass as v1");
        let mut other = b;
        other.request_id = "r".into();
        assert!(verify_run(ChangeHead::of(&a), &[other]).is_err(), "the request id is hashed");
        for code in 0..8 {
            assert_eq!(ChangeOp::from_code(code).expect("known").code(), code);
        }
        assert!(ChangeOp::from_code(8).is_err());
    }
}
