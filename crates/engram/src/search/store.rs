//! The file seam under search-index persistence: the index files are read
//! and written only through an [`IndexStore`], so tests can put a store
//! underneath that fails after N operations or loses what was not synced
//! (power loss). [`DirStore`] is the real one: files in a directory.

use std::fmt::Debug;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::PathBuf;

/// A file being written; durable only after [`IndexWriter::sync`].
pub trait IndexWriter: Write + Send {
    /// Flushes and makes the written bytes durable.
    fn sync(&mut self) -> io::Result<()>;
}

/// Where search index files live.
///
/// # Contract
/// `create` truncates; bytes are durable after `sync`; `rename` atomically
/// replaces the target and is durable when it returns; `remove` is durable
/// when it returns, and of a missing file succeeds; `open` of a missing file is `Ok(None)`.
pub trait IndexStore: Send + Sync + Debug {
    fn create(&self, name: &str) -> io::Result<Box<dyn IndexWriter>>;
    /// A reader and the file's length, or `None` when there is no such file.
    fn open(&self, name: &str) -> io::Result<Option<(Box<dyn Read + Send>, u64)>>;
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    fn remove(&self, name: &str) -> io::Result<()>;
    /// A file's location, for messages.
    fn describe(&self, name: &str) -> String;
}

/// Index files in a directory of the local file system.
#[derive(Debug, Clone)]
pub struct DirStore {
    dir: PathBuf,
}

impl DirStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn sync_dir(&self) -> io::Result<()> {
        crate::durable_fs::sync_dir(&self.dir)
    }
}

struct FileWriter(File);

impl Write for FileWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl IndexWriter for FileWriter {
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
}

impl IndexStore for DirStore {
    fn create(&self, name: &str) -> io::Result<Box<dyn IndexWriter>> {
        crate::durable_fs::create_dir_all(&self.dir)?;
        let file = File::create(self.dir.join(name))?;
        Ok(Box::new(FileWriter(file)))
    }

    fn open(&self, name: &str) -> io::Result<Option<(Box<dyn Read + Send>, u64)>> {
        match File::open(self.dir.join(name)) {
            Ok(f) => {
                let len = f.metadata()?.len();
                Ok(Some((Box::new(BufReader::with_capacity(1 << 20, f)), len)))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        std::fs::rename(self.dir.join(from), self.dir.join(to))?;
        self.sync_dir()
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        crate::durable_fs::remove_file(&self.dir.join(name))
    }

    fn describe(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}
