//! API keys: created with a random secret shown once, stored only as a
//! BLAKE3 hash in `keys.json` in the data directory (written aside, synced,
//! renamed), each bound to one space or to all, with a role, an optional
//! expiry and a revocation time.
//!
//! A key reads `egk_<id>_<secret>`: the id finds the record, the secret's
//! hash must match it (compared in constant time).

use crate::auth::Role;
use crate::auth::key_records::{Change, Records};
use engram::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// File of key records in the data directory.
pub const KEYS_FILE: &str = "keys.json";
/// File holding the key the local CLI uses to reach this server.
pub const CLI_KEY_FILE: &str = "cli.key";
/// Keys kept at most (revoked ones included).
pub const KEYS_MAX: usize = 10_000;
/// Shortest key accepted from configuration.
pub const CONFIGURED_KEY_CHARS_MIN: usize = 24;
/// Name of the key written for the local CLI (replaced at every start).
pub const CLI_KEY_NAME: &str = "local-cli";
/// Longest key id accepted (ids are 12 hex digits).
const KEY_ID_CHARS_MAX: usize = 64;

/// A key as stored (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    /// The one space it works in; all spaces when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<String>,
    /// The internal id of that space when the key was created. Space ids
    /// are never reused, so a space deleted and created again under the
    /// same name is another space, which this key cannot reach.
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub space_id: Option<i64>,
    pub role: Role,
    pub created_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<u64>,
    /// Lower-case hex BLAKE3 of the secret.
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub hash: String,
}

impl KeyRecord {
    /// Usable at `now_ms`: not revoked, not expired.
    pub fn active(&self, now_ms: u64) -> bool {
        self.revoked_at_ms.is_none() && self.expires_at_ms.is_none_or(|e| e > now_ms)
    }
}

/// The space a key is scoped to: its name and its internal id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub name: String,
    pub id: i64,
}

/// The key store of one server: its records (see [`Records`]) and the
/// admin key given in configuration, if any.
pub struct KeyStore {
    records: Records,
    /// Hash of a key given in configuration (an all-spaces admin).
    configured: Option<blake3::Hash>,
}

fn hash_secret(secret: &str) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"engram.key.v1");
    h.update(secret.as_bytes());
    h.finalize()
}

pub(crate) fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| Error::internal(format!("no randomness for a key: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

pub fn now_ms() -> u64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl KeyStore {
    /// Keys kept in memory only (tests, embedded use).
    pub fn in_memory(configured: Option<&str>) -> Result<Self> {
        Ok(Self { records: Records::in_memory(), configured: configured.map(check_configured).transpose()? })
    }

    /// Loads `dir/keys.json` (empty when absent).
    pub fn open(dir: &Path, configured: Option<&str>) -> Result<Self> {
        Ok(Self { records: Records::open_file(dir)?, configured: configured.map(check_configured).transpose()? })
    }

    /// Keys kept in the engine's system space: one set shared by every
    /// server of the engine's database.
    pub fn shared(engine: &engram::Engine, configured: Option<&str>) -> Result<Self> {
        let space = engine.system_space()?;
        Ok(Self { records: Records::Shared(space), configured: configured.map(check_configured).transpose()? })
    }

    /// Whether the records live in the database (each use reads it).
    pub fn is_shared(&self) -> bool {
        matches!(self.records, Records::Shared(_))
    }

    /// Whether any key can administer the server (stored or configured).
    pub fn has_admin(&self) -> Result<bool> {
        if self.configured.is_some() {
            return Ok(true);
        }
        Ok(self.records.all()?.iter().any(|k| k.role == Role::Admin && k.space.is_none() && k.active(now_ms())))
    }

    /// Creates a key; returns its record and the whole key (shown once).
    pub fn create(
        &self,
        name: &str,
        space: Option<Scope>,
        role: Role,
        expires_at_ms: Option<u64>,
    ) -> Result<(KeyRecord, String)> {
        let (record, token) = mint(name, space, role, expires_at_ms)?;
        if self.records.count()? >= KEYS_MAX as u64 {
            return Err(Error::too_large(format!("at most {KEYS_MAX} keys; delete revoked ones")));
        }
        self.records.apply(vec![Change::Put(record.clone())])?;
        Ok((record, token))
    }

    /// Revokes a key (it stays listed, unusable).
    pub fn revoke(&self, id: &str) -> Result<KeyRecord> {
        let mut rec = self.records.get(id)?.ok_or_else(|| Error::not_found(format!("key {id:?} does not exist")))?;
        if rec.revoked_at_ms.is_none() {
            rec.revoked_at_ms = Some(now_ms());
            self.records.apply(vec![Change::Put(rec.clone())])?;
        }
        Ok(rec)
    }

    /// Revokes every key scoped to the space with internal id `space_id`
    /// (called when that space is deleted); returns how many.
    pub fn revoke_space(&self, space_id: i64) -> Result<usize> {
        self.revoke_where(|k| k.space_id == Some(space_id))
    }

    /// Binds keys stored before keys recorded their space's id: each is
    /// bound to the space its name resolves to now (`resolve`), or revoked
    /// when no such space exists. Returns how many changed.
    pub fn bind_unbound(&self, resolve: impl Fn(&str) -> Result<Option<i64>>) -> Result<usize> {
        let mut changes = Vec::new();
        for mut rec in self.records.all()? {
            if rec.space.is_none() || rec.space_id.is_some() || rec.revoked_at_ms.is_some() {
                continue;
            }
            match resolve(rec.space.as_deref().unwrap_or_default())? {
                Some(id) => rec.space_id = Some(id),
                None => rec.revoked_at_ms = Some(now_ms()),
            }
            changes.push(Change::Put(rec));
        }
        let n = changes.len();
        self.records.apply(changes)?;
        Ok(n)
    }

    fn revoke_where(&self, pred: impl Fn(&KeyRecord) -> bool) -> Result<usize> {
        let now = now_ms();
        let changes: Vec<Change> = self
            .records
            .all()?
            .into_iter()
            .filter(|k| k.revoked_at_ms.is_none() && pred(k))
            .map(|mut k| {
                k.revoked_at_ms = Some(now);
                Change::Put(k)
            })
            .collect();
        let n = changes.len();
        self.records.apply(changes)?;
        Ok(n)
    }

    pub fn list(&self) -> Result<Vec<KeyRecord>> {
        self.records.all()
    }

    /// The active key a presented token belongs to (on shared storage, as
    /// stored now: a revocation through another server applies at once).
    pub fn verify(&self, token: &str) -> Result<Option<KeyRecord>> {
        let now = now_ms();
        if let Some(h) = &self.configured
            && hash_secret(token) == *h
        {
            return Ok(Some(KeyRecord {
                id: "configured".into(),
                name: "configured admin".into(),
                space: None,
                space_id: None,
                role: Role::Admin,
                created_at_ms: 0,
                expires_at_ms: None,
                revoked_at_ms: None,
                hash: String::new(),
            }));
        }
        let Some((id, secret)) = token.strip_prefix("egk_").and_then(|t| t.split_once('_')) else { return Ok(None) };
        if id.is_empty() || id.len() > KEY_ID_CHARS_MAX || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let Some(rec) = self.records.get(id)? else { return Ok(None) };
        let Ok(stored) = blake3::Hash::from_hex(&rec.hash) else { return Ok(None) };
        Ok((hash_secret(secret) == stored && rec.active(now)).then_some(rec))
    }

    /// Replaces the local CLI's key and writes it to `dir/cli.key` (owner
    /// read/write only): whoever can read the data directory can read the
    /// data anyway. The previous key of that name is deleted, so restarts
    /// do not pile up keys; on shared storage each server passes its own
    /// name.
    pub fn write_cli_key(&self, dir: &Path, name: &str) -> Result<()> {
        let (record, token) = mint(name, None, Role::Admin, None)?;
        let mut changes: Vec<Change> =
            self.records.all()?.into_iter().filter(|k| k.name == name).map(|k| Change::Remove(k.id)).collect();
        changes.push(Change::Put(record));
        // The records first: a crash between the two leaves an unusable
        // cli.key, which the next start replaces.
        self.records.apply(changes)?;
        write_private(&dir.join(CLI_KEY_FILE), token.as_bytes())
    }
}

/// A new key: its record (with the secret's hash) and the whole key.
fn mint(name: &str, space: Option<Scope>, role: Role, expires_at_ms: Option<u64>) -> Result<(KeyRecord, String)> {
    let id = random_hex(6)?;
    let secret = random_hex(24)?;
    let (space, space_id) = space.map_or((None, None), |s| (Some(s.name), Some(s.id)));
    let record = KeyRecord {
        id: id.clone(),
        name: name.to_owned(),
        space,
        space_id,
        role,
        created_at_ms: now_ms(),
        expires_at_ms,
        revoked_at_ms: None,
        hash: hash_secret(&secret).to_hex().to_string(),
    };
    Ok((record, format!("egk_{id}_{secret}")))
}

fn check_configured(key: &str) -> Result<blake3::Hash> {
    if key.chars().count() < CONFIGURED_KEY_CHARS_MIN || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(format!(
            "the configured admin key must be at least {CONFIGURED_KEY_CHARS_MIN} characters without spaces"
        )));
    }
    Ok(hash_secret(key))
}

/// Writes a file aside, syncs it, renames it into place, syncs the
/// directory; mode 0600 on Unix.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e: std::io::Error| Error::internal(format!("writing {}: {e}", path.display()));
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_as_hashes_and_verify() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = KeyStore::open(dir.path(), None).expect("open");
        assert!(!store.has_admin().expect("has admin"));
        let acme = Scope { name: "acme".into(), id: 7 };
        let (rec, token) = store.create("a", Some(acme), Role::Write, None).expect("create");
        assert_eq!(store.verify(&token).expect("verify").map(|k| k.id), Some(rec.id.clone()));
        assert!(store.verify(&format!("{token}x")).expect("verify").is_none());
        assert!(store.verify("egk_nope_nope").expect("verify").is_none());
        let text = std::fs::read_to_string(dir.path().join(KEYS_FILE)).expect("file");
        assert!(text.contains(&rec.hash) && !text.contains(token.rsplit('_').next().expect("secret")));
        let reopened = KeyStore::open(dir.path(), None).expect("reopen");
        assert!(reopened.verify(&token).expect("verify").is_some(), "keys survive a restart");
        reopened.revoke(&rec.id).expect("revoke");
        assert!(
            KeyStore::open(dir.path(), None).expect("reopen").verify(&token).expect("verify").is_none(),
            "revocation is durable"
        );
        let expired = store.create("e", None, Role::Read, Some(now_ms() - 1)).expect("create").1;
        assert!(store.verify(&expired).expect("verify").is_none());
    }

    #[test]
    fn space_keys_keep_their_space_id_and_die_with_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = KeyStore::open(dir.path(), None).expect("open");
        let (a, ta) = store.create("a", Some(Scope { name: "t".into(), id: 3 }), Role::Write, None).expect("a");
        let (_, tb) = store.create("b", Some(Scope { name: "u".into(), id: 4 }), Role::Read, None).expect("b");
        let reopened = KeyStore::open(dir.path(), None).expect("reopen");
        assert_eq!(
            reopened.verify(&ta).expect("verify").and_then(|k| k.space_id),
            Some(3),
            "the space id survives a restart"
        );
        assert_eq!(reopened.revoke_space(3).expect("revoke"), 1);
        assert!(reopened.verify(&ta).expect("verify").is_none() && reopened.verify(&tb).expect("verify").is_some());
        assert!(KeyStore::open(dir.path(), None).expect("reopen").verify(&ta).expect("verify").is_none(), "durable");
        let listed = serde_json::to_value(store.list().expect("list")).expect("json");
        assert!(!listed.to_string().contains("space_id"), "the API does not show internal ids: {listed}");
        let _ = a;
    }

    #[test]
    fn keys_from_before_space_ids_are_bound_or_revoked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = r#"{"version":1,"keys":[
            {"id":"aa","name":"x","space":"live","role":"write","created_at_ms":1,"hash":"HASH"},
            {"id":"bb","name":"y","space":"gone","role":"write","created_at_ms":1,"hash":"HASH"}]}"#;
        let hash = hash_secret("s").to_hex().to_string();
        std::fs::write(dir.path().join(KEYS_FILE), old.replace("HASH", &hash)).expect("write");
        let store = KeyStore::open(dir.path(), None).expect("open");
        let n = store.bind_unbound(|name| Ok((name == "live").then_some(9))).expect("bind");
        assert_eq!(n, 2);
        assert_eq!(store.verify("egk_aa_s").expect("verify").and_then(|k| k.space_id), Some(9));
        assert!(store.verify("egk_bb_s").expect("verify").is_none(), "a key whose space is gone is revoked");
        let again = KeyStore::open(dir.path(), None).expect("reopen");
        assert_eq!(again.bind_unbound(|_| Ok(None)).expect("bind"), 0, "binding is remembered");
    }

    #[test]
    fn restarts_keep_one_cli_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        for _ in 0..5 {
            KeyStore::open(dir.path(), None).expect("open").write_cli_key(dir.path(), CLI_KEY_NAME).expect("cli key");
        }
        let store = KeyStore::open(dir.path(), None).expect("open");
        assert_eq!(store.list().expect("list").iter().filter(|k| k.name == CLI_KEY_NAME).count(), 1);
        let token = std::fs::read_to_string(dir.path().join(CLI_KEY_FILE)).expect("cli.key");
        assert_eq!(store.verify(&token).expect("verify").map(|k| k.role), Some(Role::Admin));
    }

    #[test]
    fn configured_keys_must_be_long() {
        assert!(KeyStore::in_memory(Some("short")).is_err());
        let store = KeyStore::in_memory(Some("a-configured-admin-key-of-length")).expect("store");
        assert!(store.has_admin().expect("has admin"));
        assert_eq!(
            store.verify("a-configured-admin-key-of-length").expect("verify").map(|k| k.role),
            Some(Role::Admin)
        );
    }
}
