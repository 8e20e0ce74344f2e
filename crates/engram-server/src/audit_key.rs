//! The server's audit signing key: from a file the operator names, else
//! `audit.key` in the data directory, created (mode 0600) at first start.
//!
//! Servers sharing one PostgreSQL database should be given one key file,
//! so every checkpoint of a log verifies under one public key.

use engram_core::audit::SigningKey;
use engram_core::{Error, Result};
use std::path::{Path, PathBuf};

/// The key's file in a data directory when none is configured.
pub const AUDIT_KEY_FILE: &str = "audit.key";

/// Loads the key from `configured`, or from (or into) the data directory.
pub fn load(data_dir: &Path, configured: Option<&Path>) -> Result<SigningKey> {
    if let Some(path) = configured {
        return read(path);
    }
    let path: PathBuf = data_dir.join(AUDIT_KEY_FILE);
    if path.exists() {
        return read(&path);
    }
    let (key, seed) = SigningKey::generate()?;
    crate::auth::keys::write_private(&path, format!("{seed}\n").as_bytes())?;
    tracing::info!(public_key = %key.public_key(), "created the audit signing key {}", path.display());
    Ok(key)
}

fn read(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid(format!("reading the audit key {}: {e}", path.display())))?;
    // The error names the file, never its contents.
    SigningKey::from_hex(&text).map_err(|e| Error::invalid(format!("{}: {}", path.display(), e.message())))
}

/// Writes a new key to `path` (refusing to replace a file); returns it.
pub fn generate_into(path: &Path) -> Result<SigningKey> {
    if path.exists() {
        return Err(Error::new(
            engram_core::ErrorKind::AlreadyExists,
            format!("{} exists; a signing key is never overwritten", path.display()),
        ));
    }
    let (key, seed) = SigningKey::generate()?;
    crate::auth::keys::write_private(path, format!("{seed}\n").as_bytes())?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = load(dir.path(), None).expect("created");
        let b = load(dir.path(), None).expect("read back");
        assert_eq!(a.public_key(), b.public_key());
        let other = dir.path().join("other.key");
        let c = generate_into(&other).expect("generated");
        assert_ne!(c.public_key(), a.public_key());
        assert_eq!(load(dir.path(), Some(&other)).expect("configured").public_key(), c.public_key());
        assert!(generate_into(&other).is_err(), "never overwritten");
        std::fs::write(&other, "not hex").expect("write");
        let e = load(dir.path(), Some(&other)).expect_err("bad key");
        assert!(!e.message().contains("not hex"), "{e}");
    }
}
