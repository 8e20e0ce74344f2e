//! Signed checkpoints and receipts over a space's change log: what a server
//! signs (Ed25519) and what anyone holding its public key can check offline.
//!
//! A checkpoint commits to the Merkle tree of a log's first `tree_size`
//! entries (see `merkle.rs`) and to the chained hash of entry `tree_size`.
//! Its signature covers this text, one field per line:
//!
//! ```text
//! engram.audit.checkpoint.v1
//! <space name>
//! <space id>
//! <tree size>
//! <root hash, hex>
//! <head hash, hex>
//! <timestamp, ms since the epoch>
//! ```
//!
//! A receipt is an entry, a checkpoint and the entry's inclusion proof in
//! that checkpoint's tree: it shows the entry was in the log the key signed.

use crate::changelog::{ChangeEntry, ChangeOp, Digest, entry_hash};
pub use crate::json::hex;
use crate::merkle::{self, Hash};
use crate::{Error, Result};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Ed25519 seed (secret key) length.
pub const SEED_BYTES: usize = 32;

/// A signing key: an Ed25519 key pair from a 32-byte seed.
pub struct SigningKey {
    pair: ring::signature::Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the seed.
        write!(f, "SigningKey({})", self.key_id())
    }
}

impl SigningKey {
    /// The key of a seed (64 hex characters; surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self> {
        let seed = unhex(text.trim()).ok_or_else(|| Error::invalid("an audit signing key is 64 hex characters"))?;
        if seed.len() != SEED_BYTES {
            return Err(Error::invalid("an audit signing key is 64 hex characters"));
        }
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|_| Error::invalid("the audit signing key is not a valid Ed25519 seed"))?;
        Ok(Self { pair })
    }

    /// A new random key; returns it and its seed in hex (to be stored).
    pub fn generate() -> Result<(Self, String)> {
        use ring::rand::SecureRandom;
        let mut seed = [0u8; SEED_BYTES];
        ring::rand::SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| Error::internal("the system random generator failed"))?;
        let text = hex(&seed);
        Ok((Self::from_hex(&text)?, text))
    }

    /// The public key, hex.
    pub fn public_key(&self) -> String {
        use ring::signature::KeyPair;
        hex(self.pair.public_key().as_ref())
    }

    /// A short name of the key: the first 8 bytes of SHA-256 of the public key, hex.
    pub fn key_id(&self) -> String {
        use ring::signature::KeyPair;
        key_id_of(self.pair.public_key().as_ref())
    }

    fn sign(&self, message: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.pair.sign(message).as_ref())
    }
}

fn key_id_of(public: &[u8]) -> String {
    hex(&ring::digest::digest(&ring::digest::SHA256, public).as_ref()[..8])
}

/// A verifier's copy of a public key.
#[derive(Debug, Clone)]
pub struct PublicKey(Vec<u8>);

impl PublicKey {
    pub fn from_hex(text: &str) -> Result<Self> {
        match unhex(text.trim()) {
            Some(b) if b.len() == 32 => Ok(Self(b)),
            _ => Err(Error::invalid("an audit public key is 64 hex characters")),
        }
    }

    pub fn key_id(&self) -> String {
        key_id_of(&self.0)
    }
}

/// A signed tree head of one space's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Checkpoint {
    pub space: String,
    pub space_id: i64,
    /// Entries covered: positions 1 to `tree_size`.
    pub tree_size: u64,
    /// The Merkle tree root, hex.
    pub root_hash: String,
    /// The chained hash of entry `tree_size` (zeros for an empty log), hex.
    pub head_hash: String,
    pub timestamp_ms: u64,
    /// Which key signed (see [`SigningKey::key_id`]).
    pub key_id: String,
    /// Ed25519 signature of the checkpoint text, base64.
    pub signature: String,
}

impl Checkpoint {
    /// Signs a checkpoint.
    pub fn sign(
        key: &SigningKey,
        space: &str,
        space_id: i64,
        tree_size: u64,
        root: &Hash,
        head: &Digest,
        timestamp_ms: u64,
    ) -> Self {
        let mut c = Self {
            space: space.to_owned(),
            space_id,
            tree_size,
            root_hash: hex(root),
            head_hash: hex(head),
            timestamp_ms,
            key_id: key.key_id(),
            signature: String::new(),
        };
        c.signature = key.sign(c.text().as_bytes());
        c
    }

    /// [`Checkpoint::sign`] stamped with the system clock.
    pub fn sign_now(key: &SigningKey, space: &str, space_id: i64, tree_size: u64, root: &Hash, head: &Digest) -> Self {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        Self::sign(key, space, space_id, tree_size, root, head, u64::try_from(now).unwrap_or(u64::MAX))
    }

    /// The signed text.
    pub fn text(&self) -> String {
        format!(
            "engram.audit.checkpoint.v1\n{}\n{}\n{}\n{}\n{}\n{}\n",
            self.space, self.space_id, self.tree_size, self.root_hash, self.head_hash, self.timestamp_ms
        )
    }

    /// Checks the signature under `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<()> {
        if self.key_id != key.key_id() {
            return Err(Error::invalid(format!(
                "the checkpoint at size {} was signed by key {}, not {}",
                self.tree_size,
                self.key_id,
                key.key_id()
            )));
        }
        let sig = base64::engine::general_purpose::STANDARD
            .decode(&self.signature)
            .map_err(|_| Error::invalid("the checkpoint's signature is not base64"))?;
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &key.0)
            .verify(self.text().as_bytes(), &sig)
            .map_err(|_| Error::invalid(format!("the checkpoint at size {} has a bad signature", self.tree_size)))
    }

    /// The root, decoded.
    pub fn root(&self) -> Result<Hash> {
        digest_hex(&self.root_hash, "the checkpoint's root hash")
    }

    /// The head hash, decoded.
    pub fn head(&self) -> Result<Digest> {
        digest_hex(&self.head_hash, "the checkpoint's head hash")
    }
}

/// A change-log entry as a receipt carries it (every field, hex hashes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptEntry {
    pub position: u64,
    pub hlc: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub op: ChangeOp,
    pub collection: String,
    pub doc_id: String,
    pub version: u64,
    pub content_hash: String,
    pub actor: String,
    pub request_id: String,
    pub prev_hash: String,
    pub hash: String,
}

impl ReceiptEntry {
    pub fn of(e: &ChangeEntry) -> Self {
        Self {
            position: e.position,
            hlc: e.hlc,
            op: e.op,
            collection: e.collection.clone(),
            doc_id: e.doc_id.clone(),
            version: e.version,
            content_hash: hex(&e.content_hash),
            actor: e.actor.clone(),
            request_id: e.request_id.clone(),
            prev_hash: hex(&e.prev_hash),
            hash: hex(&e.hash),
        }
    }

    /// The entry, its hash recomputed and checked.
    pub fn entry(&self) -> Result<ChangeEntry> {
        let e = ChangeEntry {
            position: self.position,
            hlc: self.hlc,
            op: self.op,
            collection: self.collection.clone(),
            doc_id: self.doc_id.clone(),
            version: self.version,
            content_hash: digest_hex(&self.content_hash, "the entry's content hash")?,
            actor: self.actor.clone(),
            request_id: self.request_id.clone(),
            prev_hash: digest_hex(&self.prev_hash, "the entry's previous hash")?,
            hash: digest_hex(&self.hash, "the entry's hash")?,
        };
        if entry_hash(&e) != e.hash {
            return Err(Error::invalid(format!("entry {}: its hash does not match its fields", e.position)));
        }
        Ok(e)
    }
}

/// Proof that an entry is in a signed checkpoint's tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    pub entry: ReceiptEntry,
    pub checkpoint: Checkpoint,
    /// The entry's audit path in the checkpoint's tree, hex, leaf side first.
    pub inclusion_proof: Vec<String>,
}

impl Receipt {
    /// Checks everything a receipt claims, offline, with the signer's public
    /// key: the entry's hash, its path to the root, the signature.
    pub fn verify(&self, key: &PublicKey) -> Result<()> {
        let e = self.entry.entry()?;
        self.checkpoint.verify(key)?;
        if e.position == 0 || e.position > self.checkpoint.tree_size {
            return Err(Error::invalid(format!(
                "entry {} is outside the checkpoint's {} entries",
                e.position, self.checkpoint.tree_size
            )));
        }
        if e.position == self.checkpoint.tree_size && e.hash != self.checkpoint.head()? {
            return Err(Error::invalid(format!("entry {} is not the checkpoint's head", e.position)));
        }
        let proof = hashes_hex(&self.inclusion_proof)?;
        merkle::verify_inclusion(
            &merkle::leaf_hash(&e.hash),
            e.position - 1,
            self.checkpoint.tree_size,
            &proof,
            &self.checkpoint.root()?,
        )
        .map_err(|err| Error::invalid(format!("entry {}: {}", e.position, err.message())))
    }
}

/// A consistency proof between two tree sizes, as served.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    /// Hex hashes (RFC 9162 §2.1.4).
    pub proof: Vec<String>,
}

impl ConsistencyProof {
    /// Checks that `old` is a prefix of `new` (both signed by `key`).
    pub fn verify(&self, key: &PublicKey, old: &Checkpoint, new: &Checkpoint) -> Result<()> {
        old.verify(key)?;
        new.verify(key)?;
        if (old.space_id, old.tree_size, new.tree_size) != (new.space_id, self.old_size, self.new_size) {
            return Err(Error::invalid("the proof is not between these two checkpoints"));
        }
        let proof = hashes_hex(&self.proof)?;
        merkle::verify_consistency(old.tree_size, &old.root()?, new.tree_size, &new.root()?, &proof).map_err(|e| {
            Error::invalid(format!(
                "the log of {} entries is not a prefix of the one of {}: {}",
                old.tree_size,
                new.tree_size,
                e.message()
            ))
        })
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

fn digest_hex(text: &str, what: &str) -> Result<Digest> {
    unhex(text)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| Error::invalid(format!("{what} is not 64 hex characters")))
}

/// Decodes a list of hex hashes.
pub fn hashes_hex(list: &[String]) -> Result<Vec<Hash>> {
    list.iter().map(|h| digest_hex(h, "a proof hash")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changelog::{ChangeDraft, ChangeHead};
    use crate::merkle::{MemoryLeaves, Tree};

    fn log(n: usize) -> Vec<ChangeEntry> {
        let mut head = ChangeHead::default();
        (0..n)
            .map(|i| {
                let e = ChangeDraft {
                    hlc: i as u64 + 1,
                    op: ChangeOp::Put,
                    collection: "c".into(),
                    doc_id: format!("d{i}"),
                    version: 1,
                    content_hash: [7; 32],
                    actor: "local".into(),
                    request_id: String::new(),
                }
                .seal(&head);
                head = ChangeHead::of(&e);
                e
            })
            .collect()
    }

    #[test]
    fn receipts_and_consistency_verify_offline_and_tampering_fails() {
        let (key, seed) = SigningKey::generate().expect("key");
        let public = PublicKey::from_hex(&key.public_key()).expect("public");
        assert_eq!(SigningKey::from_hex(&seed).expect("seed").public_key(), key.public_key());
        assert!(!format!("{key:?}").contains(&seed), "Debug never shows the seed");
        let entries = log(300);
        let leaves = MemoryLeaves(entries.iter().map(|e| merkle::leaf_hash(&e.hash)).collect());
        let sign = |n: u64| {
            let tree = Tree::new(&leaves, n);
            Checkpoint::sign(&key, "acme", 1, n, &tree.root().expect("root"), &entries[n as usize - 1].hash, 5)
        };
        let (old, new) = (sign(100), sign(300));
        for pos in [1u64, 50, 100] {
            let tree = Tree::new(&leaves, 100);
            let proof = tree.inclusion_proof(pos - 1).expect("proof").iter().map(|h| hex(h)).collect();
            let receipt = Receipt {
                entry: ReceiptEntry::of(&entries[pos as usize - 1]),
                checkpoint: old.clone(),
                inclusion_proof: proof,
            };
            receipt.verify(&public).expect("receipt verifies");
            let json = serde_json::to_string(&receipt).expect("json");
            let back: Receipt = serde_json::from_str(&json).expect("parse");
            back.verify(&public).expect("round trip");
            let mut forged = receipt.clone();
            forged.entry.doc_id.push('x');
            assert!(forged.verify(&public).is_err(), "an edited entry fails");
            let mut moved = receipt.clone();
            moved.checkpoint.tree_size += 1;
            assert!(moved.verify(&public).is_err(), "an edited checkpoint fails its signature");
        }
        let tree = Tree::new(&leaves, 300);
        let proof = ConsistencyProof {
            old_size: 100,
            new_size: 300,
            proof: tree.consistency_proof(100).expect("proof").iter().map(|h| hex(h)).collect(),
        };
        proof.verify(&public, &old, &new).expect("consistent");
        let other = PublicKey::from_hex(&SigningKey::generate().expect("key").0.public_key()).expect("public");
        assert!(proof.verify(&other, &old, &new).is_err(), "another key's checkpoints are refused");
        assert!(SigningKey::from_hex("zz").is_err());
        assert!(PublicKey::from_hex(&"0".repeat(63)).is_err());
    }
}
