//! Directory operations that survive power loss: a new or removed file is
//! only durable once the directory holding its entry is synced, and a new
//! directory only once its parent is.
//!
//! Invariant: every directory the engine creates or changes the entries of
//! (the data directory, `search/`, index files renamed or removed) goes
//! through here, so no acknowledged state hangs on an unsynced entry.

use std::fs::File;
use std::io;
use std::path::Path;

/// Syncs a directory's entries.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()?;
    #[cfg(test)]
    tests::SYNCED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(dir.to_owned());
    Ok(())
}

/// Creates `dir` and its missing ancestors; syncs the parent of each one
/// created, outermost first, so the whole chain of entries is durable.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent {
        create_dir_all(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        // Created concurrently: its entry may still be unsynced, so sync below.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
        Err(e) => return Err(e),
    }
    sync_dir(parent.unwrap_or(Path::new(".")))
}

/// Removes a file (missing is fine) and syncs its directory.
pub fn remove_file(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => path.parent().filter(|p| !p.as_os_str().is_empty()).map_or(Ok(()), sync_dir),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Mutex;

    /// Every directory synced by this test binary (tests filter by their
    /// own temporary directory).
    pub(crate) static SYNCED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    fn synced_under(root: &Path) -> Vec<PathBuf> {
        let all = SYNCED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        all.iter().filter(|p| p.starts_with(root)).cloned().collect()
    }

    /// A new data directory, its database files, `search/` and a removed
    /// index file are each made durable by syncing the directory that
    /// holds their entry.
    #[test]
    fn new_entries_are_synced_into_their_directories() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().to_owned();
        let data = root.join("x/y/data");
        let engine = crate::Engine::open(crate::EngineConfig::dir(&data)).expect("open");
        let synced = synced_under(&root);
        for dir in [root.clone(), root.join("x"), root.join("x/y"), data.clone()] {
            assert!(synced.contains(&dir), "{} not synced: {synced:?}", dir.display());
        }
        engine.create_space("s").expect("space");
        let store = crate::DirStore::new(data.join("search"));
        let mut w = crate::IndexStore::create(&store, "f.idx").expect("create");
        crate::IndexWriter::sync(&mut *w).expect("sync");
        drop(w);
        assert!(synced_under(&root).iter().filter(|p| **p == data).count() >= 2, "search/ is synced into data/");
        let before = synced_under(&root).iter().filter(|p| **p == data.join("search")).count();
        crate::IndexStore::remove(&store, "f.idx").expect("remove");
        let after = synced_under(&root).iter().filter(|p| **p == data.join("search")).count();
        assert_eq!(after, before + 1, "removing an index file syncs search/");
        engine.close();
    }

    #[test]
    fn creates_nested_directories_and_removes_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let deep = tmp.path().join("a/b/c");
        create_dir_all(&deep).expect("create");
        assert!(deep.is_dir());
        create_dir_all(&deep).expect("creating an existing directory succeeds");
        let f = deep.join("f");
        std::fs::write(&f, b"x").expect("write");
        remove_file(&f).expect("remove");
        assert!(!f.exists());
        remove_file(&f).expect("removing a missing file succeeds");
        let blocker = tmp.path().join("file");
        std::fs::write(&blocker, b"x").expect("write");
        assert!(create_dir_all(&blocker.join("sub")).is_err(), "a file in the way is an error");
    }
}
