//! A fault-injecting, power-loss-simulating [`IndexStore`] for the search
//! index files: an in-memory file system that fails every operation from
//! the N-th on (as a full disk or a dead device would), and whose
//! `power_loss` keeps only what was synced (a renamed file counts as synced
//! once `rename` returned, per the store's contract).

use engram::{IndexStore, IndexWriter};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default, Clone)]
struct MemFile {
    /// What a reader sees now.
    current: Vec<u8>,
    /// What survives a power loss (`None`: the file would vanish).
    durable: Option<Vec<u8>>,
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<String, MemFile>,
}

/// The in-memory store; clones share one file system.
#[derive(Debug, Clone, Default)]
pub struct FaultyStore {
    state: Arc<Mutex<State>>,
    /// Operations so far (create, each write call, sync, open, rename, remove).
    ops: Arc<AtomicUsize>,
    /// Operations from this number on fail (0: never).
    fail_from: Arc<AtomicUsize>,
}

fn injected() -> io::Error {
    io::Error::other("injected I/O failure")
}

impl FaultyStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the `n`-th operation from now and every later one fail.
    pub fn fail_from(&self, n: usize) {
        self.fail_from.store(self.ops.load(Ordering::SeqCst) + n, Ordering::SeqCst);
    }

    /// Stops injecting failures.
    pub fn heal(&self) {
        self.fail_from.store(0, Ordering::SeqCst);
    }

    /// Operations counted so far.
    pub fn ops(&self) -> usize {
        self.ops.load(Ordering::SeqCst)
    }

    /// Drops everything not synced: unsynced bytes and never-synced files.
    pub fn power_loss(&self) {
        let mut st = self.lock();
        st.files.retain(|_, f| f.durable.is_some());
        for f in st.files.values_mut() {
            f.current = f.durable.clone().unwrap_or_default();
        }
    }

    /// Names of the files that exist now.
    pub fn files(&self) -> Vec<String> {
        self.lock().files.keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one operation; fails it when its turn has come.
    fn op(&self) -> io::Result<()> {
        let n = self.ops.fetch_add(1, Ordering::SeqCst) + 1;
        let from = self.fail_from.load(Ordering::SeqCst);
        if from != 0 && n >= from { Err(injected()) } else { Ok(()) }
    }
}

struct MemWriter {
    store: FaultyStore,
    name: String,
}

impl Write for MemWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.store.op()?;
        let mut st = self.store.lock();
        let f = st.files.get_mut(&self.name).ok_or_else(|| io::Error::other("file vanished while written"))?;
        f.current.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl IndexWriter for MemWriter {
    fn sync(&mut self) -> io::Result<()> {
        self.store.op()?;
        let mut st = self.store.lock();
        let f = st.files.get_mut(&self.name).ok_or_else(|| io::Error::other("file vanished while written"))?;
        f.durable = Some(f.current.clone());
        Ok(())
    }
}

impl IndexStore for FaultyStore {
    fn create(&self, name: &str) -> io::Result<Box<dyn IndexWriter>> {
        self.op()?;
        let mut st = self.lock();
        let f = st.files.entry(name.to_owned()).or_default();
        f.current.clear();
        Ok(Box::new(MemWriter { store: self.clone(), name: name.to_owned() }))
    }

    fn open(&self, name: &str) -> io::Result<Option<(Box<dyn Read + Send>, u64)>> {
        self.op()?;
        let st = self.lock();
        Ok(st.files.get(name).map(|f| {
            let bytes = f.current.clone();
            let len = bytes.len() as u64;
            (Box::new(io::Cursor::new(bytes)) as Box<dyn Read + Send>, len)
        }))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.op()?;
        let mut st = self.lock();
        let mut f = st.files.remove(from).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        // Durable on return: the new name holds what the file holds now
        // only if that was synced; otherwise what was synced of it.
        f.durable = f.durable.clone().or_else(|| Some(Vec::new()));
        st.files.insert(to.to_owned(), f);
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.op()?;
        self.lock().files.remove(name);
        Ok(())
    }

    fn describe(&self, name: &str) -> String {
        format!("mem:{name}")
    }
}
