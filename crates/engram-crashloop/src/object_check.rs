//! Checks of the object workload, through the restarted server (whose
//! reads verify every chunk against its digest), at the start of every
//! cycle and at the end; and, at the end, of the store's files.
//!
//! What must hold after every kill: each key serves its last acknowledged
//! content, or the content of the request of unknown outcome that followed
//! (a delete: nothing); an acknowledged delete stays deleted unless an
//! unknown put followed. Every listed object serves its bytes in full with
//! its digest (a record whose bytes are gone is a dangling reference), and
//! the listing holds exactly the keys that hold something.
//!
//! At the end, with a server whose grace is short: every file under
//! `objects/s*/blobs/` is the content of a live object (anything else is
//! an orphan the collector left), and `tmp/` holds nothing. Then, on the
//! stopped server's data, offline: each blob record's reference count is
//! the number of objects naming it, none is marked collecting, every blob
//! file has its record, and no unreferenced record is left.

use crate::http::{agent, send_raw};
use crate::ledger::SPACE;
use crate::object_workload::{Content, Held, ObjOp, ObjectLedger, object_path, show};
use engram::{Engine, ListObjects};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Unchanged objects bigger than this are checked by their last byte.
const PARTIAL_FROM: usize = 1 << 20;
/// The prefix every workload key has.
const KEY_PREFIX: &str = "crash/";

/// What one check found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectVerdict {
    /// Acknowledged content (or deletion) not found.
    pub lost: Vec<String>,
    /// Object records whose bytes cannot be served in full.
    pub dangling: Vec<String>,
    /// Anything else that must not happen (refusals, listing mismatches).
    pub anomalies: Vec<String>,
    /// Requests of unknown outcome found applied, and not.
    pub applied: u64,
    pub not_applied: u64,
    /// Objects read in full, and their bytes.
    pub objects: usize,
    pub bytes: u64,
}

/// Reads every key through the server at `base`, resolves the requests of
/// unknown outcome and checks the listing. Keys written since the last
/// check, small objects, and every key when `all`, are read in full; the
/// others (large and unchanged) by their last byte, which makes the server
/// fetch and verify their last chunk.
pub fn check(base: &str, ledger: &mut ObjectLedger, all: bool) -> ObjectVerdict {
    let agent = agent(REQUEST_TIMEOUT);
    let mut v = ObjectVerdict::default();
    let keys: Vec<String> = ledger.keys.keys().cloned().collect();
    for key in keys {
        let state = ledger.keys.get_mut(&key).expect("a listed key");
        if let (false, false, Held::Present { content, digest }) = (all, state.touched, &state.held)
            && content.size > PARTIAL_FROM
        {
            check_tail(base, &agent, &key, *content, digest, &mut v);
            continue;
        }
        state.touched = false;
        let res = send_raw(&agent, base, "GET", &object_path(&key), &[], Vec::new());
        let pending = state.pending.take();
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                // A live server cut the body: the bytes are not all there.
                v.dangling.push(format!("{key}: GET ended early ({e}); holds {}", show(&state.held)));
                continue;
            }
        };
        match res.status {
            404 => {
                let deleted = pending == Some(ObjOp::Delete);
                resolve(&mut v, pending.is_some(), deleted);
                if state.held != Held::Absent && !deleted {
                    v.lost.push(format!("{key}: 404, but {} was acknowledged", show(&state.held)));
                }
                state.held = Held::Absent;
            }
            200 => {
                v.objects += 1;
                v.bytes += res.body.len() as u64;
                let digest = res.etag.clone().unwrap_or_default();
                let held_content = match &state.held {
                    Held::Present { content, digest: d } => Some((*content, d.clone())),
                    Held::Absent => None,
                };
                let matches_held = held_content.as_ref().is_some_and(|(c, _)| same(c.size, &res.body, || c.bytes()));
                let pending_put = match pending {
                    Some(ObjOp::Put(c)) => Some(c),
                    _ => None,
                };
                if let Some(c) = pending_put.filter(|c| same(c.size, &res.body, || c.bytes())) {
                    resolve(&mut v, true, true);
                    if let Some(d) = ledger.digests.get(&c).filter(|d| **d != digest) {
                        v.anomalies.push(format!("{key}: served with ETag {digest}, acknowledged before as {d}"));
                    }
                    ledger.digests.insert(c, digest.clone());
                    state.held = Held::Present { content: c, digest };
                } else if matches_held {
                    resolve(&mut v, pending.is_some(), false);
                    let (_, d) = held_content.expect("it matched");
                    if d != digest {
                        v.anomalies.push(format!("{key}: served with ETag {digest}, acknowledged as {d}"));
                    }
                } else {
                    let want = match pending {
                        Some(op) => format!("{} or then {op:?}", show(&state.held)),
                        None => show(&state.held),
                    };
                    v.lost.push(format!(
                        "{key}: serves {} bytes with ETag {digest}, but the acknowledged state is {want}",
                        res.body.len()
                    ));
                }
            }
            500..=599 if state.held != Held::Absent || pending.is_some() => {
                v.dangling.push(format!("{key}: GET {} (holds {})", res.describe(), show(&state.held)));
            }
            _ => v.anomalies.push(format!("{key}: GET {}", res.describe())),
        }
    }
    check_listing(base, &agent, ledger, &mut v);
    v
}

/// Reads the last byte of an unchanged object: 206, its digest, its byte.
fn check_tail(base: &str, agent: &ureq::Agent, key: &str, content: Content, digest: &str, v: &mut ObjectVerdict) {
    let held = Held::Present { content, digest: digest.to_owned() };
    match send_raw(agent, base, "GET", &object_path(key), &[("range", "bytes=-1")], Vec::new()) {
        Ok(r) if r.status == 206 && r.etag.as_deref() == Some(digest) => {
            if r.body.last() != content.bytes().last() || r.body.len() != 1 {
                v.lost.push(format!("{key}: its last byte is not {}'s", show(&held)));
            }
            v.objects += 1;
        }
        Ok(r) if r.status == 404 => v.lost.push(format!("{key}: 404, but {} was acknowledged", show(&held))),
        Ok(r) if r.status == 206 => {
            v.lost.push(format!("{key}: ETag {:?}, but {} was acknowledged", r.etag, show(&held)))
        }
        Ok(r) if r.status >= 500 => v.dangling.push(format!("{key}: GET of its last byte {}", r.describe())),
        Ok(r) => v.anomalies.push(format!("{key}: GET of its last byte {}", r.describe())),
        Err(e) => v.dangling.push(format!("{key}: GET of its last byte ended early ({e})")),
    }
}

/// Counts a request of unknown outcome as applied or not.
fn resolve(v: &mut ObjectVerdict, was_pending: bool, applied: bool) {
    match (was_pending, applied) {
        (false, _) => {}
        (true, true) => v.applied += 1,
        (true, false) => v.not_applied += 1,
    }
}

/// Whether `body` is the content of size `size` that `bytes` makes.
fn same(size: usize, body: &[u8], bytes: impl FnOnce() -> Vec<u8>) -> bool {
    body.len() == size && body == bytes().as_slice()
}

/// The listing must hold exactly the keys holding something, with their
/// digests.
fn check_listing(base: &str, agent: &ureq::Agent, ledger: &ObjectLedger, v: &mut ObjectVerdict) {
    let path = format!("/v1/spaces/{SPACE}/objects?prefix={KEY_PREFIX}&limit=1000");
    let listed = match send_raw(agent, base, "GET", &path, &[], Vec::new()) {
        Ok(r) if r.status == 200 => r.json().unwrap_or_default(),
        Ok(r) => return v.anomalies.push(format!("listing: {}", r.describe())),
        Err(e) => return v.anomalies.push(format!("listing: {e}")),
    };
    let mut seen = BTreeMap::new();
    for o in listed["objects"].as_array().into_iter().flatten() {
        let (k, d) = (o["key"].as_str().unwrap_or_default(), o["digest"].as_str().unwrap_or_default());
        seen.insert(k.to_owned(), d.to_owned());
    }
    for (key, state) in &ledger.keys {
        match (&state.held, seen.remove(key)) {
            (Held::Absent, None) => {}
            (Held::Present { digest, .. }, Some(d)) if *digest == d => {}
            (held, listed) => {
                v.anomalies.push(format!("listing: {key} listed as {listed:?}, but it holds {}", show(held)))
            }
        }
    }
    for (key, d) in seen {
        v.anomalies.push(format!("listing: {key} ({d}) was never written"));
    }
}

/// What the end found in the store's files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Leftovers {
    /// Blob files no live object refers to (after the collector's time).
    pub orphans: Vec<String>,
    /// Files left under `tmp/`.
    pub temporaries: Vec<String>,
    /// Blob files found, live objects' blobs, and how long it took to be clean.
    pub blob_files: usize,
    pub waited: Duration,
}

/// Waits (up to `within`) for the collector of a short-grace server to
/// remove every blob file no live object holds and every temporary file
/// under `objects`; returns what is left.
pub fn wait_collected(objects: &Path, live: &BTreeSet<String>, within: Duration) -> Leftovers {
    let started = Instant::now();
    loop {
        let mut left = leftovers(objects, live);
        left.waited = started.elapsed();
        let clean = left.orphans.is_empty() && left.temporaries.is_empty();
        if clean || started.elapsed() >= within {
            return left;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The orphans and temporaries under `objects` now.
pub fn leftovers(objects: &Path, live: &BTreeSet<String>) -> Leftovers {
    let mut left = Leftovers::default();
    for space in dir_entries(objects).into_iter().filter(|p| p.is_dir()) {
        for blob in files_under(&space.join("blobs")) {
            left.blob_files += 1;
            let name = blob.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if !live.contains(&name) {
                left.orphans.push(describe_file(&blob));
            }
        }
        left.temporaries.extend(files_under(&space.join("tmp")).iter().map(|p| describe_file(p)));
    }
    left
}

/// Checks the objects' metadata on an open store (at the end, after the
/// collector's time): counted references, marks, records of the files
/// under `objects`. Returns the problems found.
pub fn check_metadata(engine: &Engine, objects: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let space = match engine.space(SPACE) {
        Ok(s) => s,
        Err(e) => return vec![format!("space {SPACE}: {e}")],
    };
    let mut named: BTreeMap<String, u64> = BTreeMap::new();
    let mut after = None;
    loop {
        let req = ListObjects { prefix: String::new(), delimiter: None, after: after.take(), limit: 1000 };
        let page = match space.list_objects(&req) {
            Ok(p) => p,
            Err(e) => return vec![format!("listing objects offline: {e}")],
        };
        page.objects.iter().for_each(|o| *named.entry(o.digest.clone()).or_default() += 1);
        match page.next_after {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    for (digest, n) in &named {
        match space.blob(digest) {
            Ok(Some(b)) if b.refs == *n && !b.collecting => {}
            Ok(Some(b)) => problems.push(format!(
                "blob {digest}: {n} objects name it, its record counts {} references (collecting: {})",
                b.refs, b.collecting
            )),
            Ok(None) => problems.push(format!("blob {digest}: {n} objects name it, it has no record")),
            Err(e) => problems.push(format!("blob {digest}: {e}")),
        }
    }
    let blobs_dir = objects.join(format!("s{}", space.id())).join("blobs");
    for file in files_under(&blobs_dir) {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.contains('#') {
            continue; // a staging file: counted as an orphan already
        }
        if !matches!(space.blob(&name), Ok(Some(_))) {
            problems.push(format!("{}: bytes without a blob record (never collected)", file.display()));
        }
    }
    let day_ahead = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
        .saturating_add(86_400_000);
    match space.collectable_blobs(day_ahead, 1000) {
        Ok(left) => problems.extend(left.iter().map(|b| {
            format!("blob {}: unreferenced record left after the collector's time (refs {})", b.digest, b.refs)
        })),
        Err(e) => problems.push(format!("unreferenced blobs: {e}")),
    }
    problems
}

/// A leftover file's path; the filesystem store's staging files (`…#1`,
/// where a write goes before its rename; listings skip them) are named so.
fn describe_file(p: &Path) -> String {
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match name.split_once('#') {
        Some((_, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{} (the staging file of an interrupted write, which store listings skip)", p.display())
        }
        _ => p.display().to_string(),
    }
}

fn dir_entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default()
}

/// Every file under `dir`, at any depth.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in dir_entries(dir) {
        if p.is_dir() { out.extend(files_under(&p)) } else { out.push(p) }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_are_unreferenced_blobs_and_temporaries() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let s = tmp.path().join("s1");
        std::fs::create_dir_all(s.join("blobs")).expect("mkdir");
        std::fs::create_dir_all(s.join("tmp")).expect("mkdir");
        std::fs::write(s.join("blobs/aaa"), b"x").expect("write");
        std::fs::write(s.join("blobs/bbb"), b"x").expect("write");
        std::fs::write(s.join("tmp/u1#1"), b"x").expect("write");
        let live = BTreeSet::from(["aaa".to_owned()]);
        let left = leftovers(tmp.path(), &live);
        assert_eq!(left.blob_files, 2);
        assert_eq!(left.orphans.len(), 1);
        assert!(left.orphans[0].ends_with("bbb"));
        assert_eq!(left.temporaries.len(), 1);
    }
}
