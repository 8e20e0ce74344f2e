//! The data directory and its single-owner lock.
//!
//! A data directory belongs to one process at a time: opening takes an
//! exclusive OS lock on `LOCK` (released by the kernel even on SIGKILL) and
//! records who holds it, so a second opener gets an error naming the holder
//! instead of corrupting data or hanging.

use engram_core::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const LOCK_FILE: &str = "LOCK";
/// Name of the SQLite database inside the directory.
pub const DB_FILE: &str = "engram.db";
/// Bytes of holder information read from a lock file.
const HOLDER_BYTES_MAX: u64 = 4096;

/// Who holds a data directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub command: String,
    /// HTTP address, when the holder is a server.
    #[serde(default)]
    pub address: Option<String>,
    pub since_ms: u64,
}

/// An open, locked data directory. The lock lasts as long as this value.
pub struct DataDir {
    path: PathBuf,
    lock: File,
    holder: Holder,
}

impl DataDir {
    /// Creates the directory if needed and takes its lock.
    pub fn open(path: &Path, command: &str) -> Result<Self> {
        crate::durable_fs::create_dir_all(path).map_err(|e| io_error(path, "create", &e))?;
        let lock_path = path.join(LOCK_FILE);
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| io_error(&lock_path, "open", &e))?;
        if let Err(e) = lock.try_lock() {
            return Err(locked_error(path, &mut lock, e));
        }
        let holder = Holder {
            pid: std::process::id(),
            command: command.to_owned(),
            address: None,
            since_ms: engram_core::hlc::Clock::now_ms(&engram_core::hlc::SystemClock),
        };
        let mut dir = Self { path: path.to_owned(), lock, holder };
        dir.write_holder()?;
        Ok(dir)
    }

    /// Syncs the directory's entries (after the database files are created,
    /// so a new data directory's files survive power loss).
    pub fn sync(&self) -> Result<()> {
        crate::durable_fs::sync_dir(&self.path).map_err(|e| io_error(&self.path, "sync", &e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn db_path(&self) -> PathBuf {
        self.path.join(DB_FILE)
    }

    /// Records the address the holder serves on (for other tools to find it).
    pub fn set_address(&mut self, address: &str) -> Result<()> {
        self.holder.address = Some(address.to_owned());
        self.write_holder()
    }

    fn write_holder(&mut self) -> Result<()> {
        let text = serde_json::to_string(&self.holder).expect("holder serializes");
        let lock_path = self.path.join(LOCK_FILE);
        let res = self
            .lock
            .set_len(0)
            .and_then(|()| self.lock.seek(SeekFrom::Start(0)))
            .and_then(|_| self.lock.write_all(text.as_bytes()));
        res.map_err(|e| io_error(&lock_path, "write", &e))
    }
}

/// The current holder of a data directory, if it is locked.
pub fn holder(path: &Path) -> Option<Holder> {
    let mut file = File::open(path.join(LOCK_FILE)).ok()?;
    if file.try_lock_shared().is_ok() {
        return None; // nobody holds it
    }
    read_holder(&mut file)
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(HOLDER_BYTES_MAX).read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn locked_error(path: &Path, lock: &mut File, e: std::fs::TryLockError) -> Error {
    if let std::fs::TryLockError::Error(io) = e {
        return io_error(path, "lock", &io);
    }
    let who = match read_holder(lock) {
        Some(h) => {
            let at = h.address.map(|a| format!(", serving http://{a}")).unwrap_or_default();
            format!("process {} ({}{at})", h.pid, h.command)
        }
        None => "another process".to_owned(),
    };
    Error::new(
        ErrorKind::Locked,
        format!("data directory {} is in use by {who}; stop it or talk to it over HTTP", path.display()),
    )
}

fn io_error(path: &Path, what: &str, e: &std::io::Error) -> Error {
    Error::new(ErrorKind::Unavailable, format!("cannot {what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_opener_is_told_who_holds_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut first = DataDir::open(tmp.path(), "engram serve").expect("first open");
        first.set_address("127.0.0.1:7171").expect("address");
        let err = DataDir::open(tmp.path(), "engram get").err().expect("second open must fail");
        assert_eq!(err.kind(), ErrorKind::Locked);
        assert!(err.message().contains(&std::process::id().to_string()), "{}", err.message());
        assert!(err.message().contains("127.0.0.1:7171"), "{}", err.message());
        assert_eq!(holder(tmp.path()).and_then(|h| h.address).as_deref(), Some("127.0.0.1:7171"));
        drop(first);
        assert!(holder(tmp.path()).is_none());
        DataDir::open(tmp.path(), "again").expect("lock released on drop");
    }
}
