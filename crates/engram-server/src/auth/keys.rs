//! API keys: created with a random secret shown once, stored only as a
//! BLAKE3 hash in `keys.json` in the data directory (written aside, synced,
//! renamed), each bound to one space or to all, with a role, an optional
//! expiry and a revocation time.
//!
//! A key reads `egk_<id>_<secret>`: the id finds the record, the secret's
//! hash must match it (compared in constant time).

use crate::auth::Role;
use engram::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// File of key records in the data directory.
pub const KEYS_FILE: &str = "keys.json";
/// File holding the key the local CLI uses to reach this server.
pub const CLI_KEY_FILE: &str = "cli.key";
/// Keys kept at most (revoked ones included).
pub const KEYS_MAX: usize = 10_000;
/// Shortest key accepted from configuration.
pub const CONFIGURED_KEY_CHARS_MIN: usize = 24;
/// Name of the key written for the local CLI (replaced at every start).
const CLI_KEY_NAME: &str = "local-cli";

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

#[derive(Default, Serialize, Deserialize)]
struct KeysFile {
    version: u32,
    keys: Vec<KeyRecord>,
}

/// The space a key is scoped to: its name and its internal id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub name: String,
    pub id: i64,
}

/// The key store of one server.
pub struct KeyStore {
    path: Option<PathBuf>,
    keys: Mutex<BTreeMap<String, KeyRecord>>,
    /// Hash of a key given in configuration (an all-spaces admin).
    configured: Option<blake3::Hash>,
}

fn hash_secret(secret: &str) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"engram.key.v1");
    h.update(secret.as_bytes());
    h.finalize()
}

fn random_hex(bytes: usize) -> Result<String> {
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
        Ok(Self { path: None, keys: Mutex::default(), configured: configured.map(check_configured).transpose()? })
    }

    /// Loads `dir/keys.json` (empty when absent).
    pub fn open(dir: &Path, configured: Option<&str>) -> Result<Self> {
        let path = dir.join(KEYS_FILE);
        let keys = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: KeysFile = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::corrupted(format!("{}: not a key file: {e}", path.display())))?;
                file.keys.into_iter().map(|k| (k.id.clone(), k)).collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(Error::internal(format!("reading {}: {e}", path.display()))),
        };
        let configured = configured.map(check_configured).transpose()?;
        Ok(Self { path: Some(path), keys: Mutex::new(keys), configured })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, KeyRecord>> {
        self.keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether any key can administer the server (stored or configured).
    pub fn has_admin(&self) -> bool {
        self.configured.is_some()
            || self.lock().values().any(|k| k.role == Role::Admin && k.space.is_none() && k.active(now_ms()))
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
        let mut keys = self.lock();
        if keys.len() >= KEYS_MAX {
            return Err(Error::too_large(format!("at most {KEYS_MAX} keys; delete revoked ones")));
        }
        let mut next = keys.clone();
        next.insert(record.id.clone(), record.clone());
        self.persist(&next)?;
        *keys = next;
        Ok((record, token))
    }

    /// Revokes a key (it stays listed, unusable).
    pub fn revoke(&self, id: &str) -> Result<KeyRecord> {
        let mut keys = self.lock();
        let mut next = keys.clone();
        let rec = next.get_mut(id).ok_or_else(|| Error::not_found(format!("key {id:?} does not exist")))?;
        if rec.revoked_at_ms.is_none() {
            rec.revoked_at_ms = Some(now_ms());
        }
        let rec = rec.clone();
        self.persist(&next)?;
        *keys = next;
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
        let mut keys = self.lock();
        let mut next = keys.clone();
        let mut changed = 0;
        for rec in next.values_mut().filter(|k| k.space.is_some() && k.space_id.is_none() && k.revoked_at_ms.is_none())
        {
            match resolve(rec.space.as_deref().unwrap_or_default())? {
                Some(id) => rec.space_id = Some(id),
                None => rec.revoked_at_ms = Some(now_ms()),
            }
            changed += 1;
        }
        if changed > 0 {
            self.persist(&next)?;
            *keys = next;
        }
        Ok(changed)
    }

    fn revoke_where(&self, pred: impl Fn(&KeyRecord) -> bool) -> Result<usize> {
        let mut keys = self.lock();
        let mut next = keys.clone();
        let now = now_ms();
        let mut n = 0;
        for rec in next.values_mut().filter(|k| k.revoked_at_ms.is_none() && pred(k)) {
            rec.revoked_at_ms = Some(now);
            n += 1;
        }
        if n > 0 {
            self.persist(&next)?;
            *keys = next;
        }
        Ok(n)
    }

    pub fn list(&self) -> Vec<KeyRecord> {
        self.lock().values().cloned().collect()
    }

    /// The active key a presented token belongs to.
    pub fn verify(&self, token: &str) -> Option<KeyRecord> {
        let now = now_ms();
        if let Some(h) = &self.configured
            && hash_secret(token) == *h
        {
            return Some(KeyRecord {
                id: "configured".into(),
                name: "configured admin".into(),
                space: None,
                space_id: None,
                role: Role::Admin,
                created_at_ms: 0,
                expires_at_ms: None,
                revoked_at_ms: None,
                hash: String::new(),
            });
        }
        let (id, secret) = token.strip_prefix("egk_")?.split_once('_')?;
        let rec = self.lock().get(id).cloned()?;
        let stored = blake3::Hash::from_hex(&rec.hash).ok()?;
        (hash_secret(secret) == stored && rec.active(now)).then_some(rec)
    }

    /// Replaces the local CLI's key and writes it to `dir/cli.key` (owner
    /// read/write only): whoever can read the data directory can read the
    /// data anyway. The previous one is deleted, so restarts do not pile up
    /// keys.
    pub fn write_cli_key(&self, dir: &Path) -> Result<()> {
        let (record, token) = mint(CLI_KEY_NAME, None, Role::Admin, None)?;
        let mut keys = self.lock();
        let mut next = keys.clone();
        next.retain(|_, k| k.name != CLI_KEY_NAME);
        next.insert(record.id.clone(), record);
        // The file first: a crash between the two leaves an unusable
        // cli.key, which the next start replaces.
        self.persist(&next)?;
        *keys = next;
        write_private(&dir.join(CLI_KEY_FILE), token.as_bytes())
    }

    fn persist(&self, keys: &BTreeMap<String, KeyRecord>) -> Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        let file = KeysFile { version: 1, keys: keys.values().cloned().collect() };
        let mut text = serde_json::to_vec_pretty(&SerializedKeys(&file)).expect("keys serialize");
        text.push(b'\n');
        write_private(path, &text)
    }
}

/// Serializes records with their hashes (the API never shows them).
struct SerializedKeys<'a>(&'a KeysFile);

impl Serialize for SerializedKeys<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let keys: Vec<serde_json::Value> = self
            .0
            .keys
            .iter()
            .map(|k| {
                let mut v = serde_json::to_value(k).expect("keys serialize");
                v["hash"] = serde_json::Value::String(k.hash.clone());
                if let Some(id) = k.space_id {
                    v["space_id"] = serde_json::Value::from(id);
                }
                v
            })
            .collect();
        serde_json::json!({"version": self.0.version, "keys": keys}).serialize(s)
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
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
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
        assert!(!store.has_admin());
        let acme = Scope { name: "acme".into(), id: 7 };
        let (rec, token) = store.create("a", Some(acme), Role::Write, None).expect("create");
        assert_eq!(store.verify(&token).map(|k| k.id), Some(rec.id.clone()));
        assert!(store.verify(&format!("{token}x")).is_none());
        assert!(store.verify("egk_nope_nope").is_none());
        let text = std::fs::read_to_string(dir.path().join(KEYS_FILE)).expect("file");
        assert!(text.contains(&rec.hash) && !text.contains(token.rsplit('_').next().expect("secret")));
        let reopened = KeyStore::open(dir.path(), None).expect("reopen");
        assert!(reopened.verify(&token).is_some(), "keys survive a restart");
        reopened.revoke(&rec.id).expect("revoke");
        assert!(KeyStore::open(dir.path(), None).expect("reopen").verify(&token).is_none(), "revocation is durable");
        let expired = store.create("e", None, Role::Read, Some(now_ms() - 1)).expect("create").1;
        assert!(store.verify(&expired).is_none());
    }

    #[test]
    fn space_keys_keep_their_space_id_and_die_with_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = KeyStore::open(dir.path(), None).expect("open");
        let (a, ta) = store.create("a", Some(Scope { name: "t".into(), id: 3 }), Role::Write, None).expect("a");
        let (_, tb) = store.create("b", Some(Scope { name: "u".into(), id: 4 }), Role::Read, None).expect("b");
        let reopened = KeyStore::open(dir.path(), None).expect("reopen");
        assert_eq!(reopened.verify(&ta).and_then(|k| k.space_id), Some(3), "the space id survives a restart");
        assert_eq!(reopened.revoke_space(3).expect("revoke"), 1);
        assert!(reopened.verify(&ta).is_none() && reopened.verify(&tb).is_some());
        assert!(KeyStore::open(dir.path(), None).expect("reopen").verify(&ta).is_none(), "durable");
        let listed = serde_json::to_value(store.list()).expect("json");
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
        assert_eq!(store.verify("egk_aa_s").and_then(|k| k.space_id), Some(9));
        assert!(store.verify("egk_bb_s").is_none(), "a key whose space is gone is revoked");
        let again = KeyStore::open(dir.path(), None).expect("reopen");
        assert_eq!(again.bind_unbound(|_| Ok(None)).expect("bind"), 0, "binding is remembered");
    }

    #[test]
    fn restarts_keep_one_cli_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        for _ in 0..5 {
            KeyStore::open(dir.path(), None).expect("open").write_cli_key(dir.path()).expect("cli key");
        }
        let store = KeyStore::open(dir.path(), None).expect("open");
        assert_eq!(store.list().iter().filter(|k| k.name == CLI_KEY_NAME).count(), 1);
        let token = std::fs::read_to_string(dir.path().join(CLI_KEY_FILE)).expect("cli.key");
        assert_eq!(store.verify(&token).map(|k| k.role), Some(Role::Admin));
    }

    #[test]
    fn configured_keys_must_be_long() {
        assert!(KeyStore::in_memory(Some("short")).is_err());
        let store = KeyStore::in_memory(Some("a-configured-admin-key-of-length")).expect("store");
        assert!(store.has_admin());
        assert_eq!(store.verify("a-configured-admin-key-of-length").map(|k| k.role), Some(Role::Admin));
    }
}
