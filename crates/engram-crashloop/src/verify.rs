//! Verification after a kill, on the data directory itself (the dead
//! server's lock went with its process): the store agrees with itself
//! (change-log chain, records against their log entries, every declared
//! index against the records), and with the ledger — every document holds
//! its acknowledged state or the result of the one request of unknown
//! outcome that followed, every transaction of unknown outcome is all or
//! nothing, and every acknowledged write's change-log entry is where its
//! response said, with its version and content hash.

use crate::ledger::{
    DOCS, HOT_PAIRS, Key, Ledger, LogAck, OpKind, PAIRS_PER_WRITER, PlannedOp, SPACE, State, TX_A, TX_B, Unknown,
    hot_id, pair_id, show,
};
use engram::{ChangeEntry, ChangeOp, Engine, EngineConfig, Query, Space};
use engram_core::json::{canonical, content_hash};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// What one verification found.
#[derive(Debug, Default, Clone)]
pub struct Verdict {
    /// Documents not in their acknowledged state, acknowledged writes
    /// missing from the change log, documents nobody wrote.
    pub lost: Vec<String>,
    /// Disagreements of the store with itself (chain, records, indexes).
    pub divergences: Vec<String>,
    /// Transactions visible in part.
    pub partial: Vec<String>,
    /// Pairs whose two sides disagree (reported in `partial` the first
    /// time only).
    pub splits: Vec<String>,
    /// The stored state of every document the workload writes.
    pub stored: BTreeMap<Key, State>,
    /// For each request of unknown outcome (ledger order): applied or not.
    pub applied: Vec<Option<bool>>,
    /// Documents stored, change-log entries verified.
    pub documents: usize,
    pub entries: u64,
}

impl Verdict {
    pub fn clean(&self) -> bool {
        self.lost.is_empty() && self.divergences.is_empty() && self.partial.is_empty()
    }
}

/// Opens the data directory, verifies it against `ledger`, and closes it.
pub fn verify_dir(path: &Path, ledger: &Ledger) -> Result<Verdict, String> {
    verify_store(path, None, ledger)
}

/// [`verify_dir`] with the data in the PostgreSQL database `database` when
/// given (the directory then holds the search index files).
pub fn verify_store(path: &Path, database: Option<&str>, ledger: &Ledger) -> Result<Verdict, String> {
    let engine = open_store(path, database)?;
    let verdict = verify(&engine, ledger);
    engine.close();
    Ok(verdict)
}

/// Opens the data directory (or the PostgreSQL database `database`, with
/// the directory's search index files) of a dead or stopped server.
pub fn open_store(path: &Path, database: Option<&str>) -> Result<Engine, String> {
    match database {
        None => Engine::open(EngineConfig::dir(path)),
        Some(url) => engram_postgres::PostgresBackend::open(engram_postgres::PostgresOptions::new(url)).and_then(|b| {
            let config = EngineConfig { search_index_dir: Some(path.join("search")), ..EngineConfig::memory() };
            Engine::with_backend(std::sync::Arc::new(b), std::sync::Arc::new(engram::SystemClock), config)
        }),
    }
    .map_err(|e| format!("the store does not open after the kill: {e}"))
}

/// Verifies an open store against `ledger`.
pub fn verify(engine: &Engine, ledger: &Ledger) -> Verdict {
    let mut v = Verdict::default();
    match engram_testkit::consistency::check(engine) {
        Ok(c) => v.entries = c.entries,
        Err(e) => v.divergences.push(e),
    }
    let stored = match engine.space(SPACE).map_err(|e| format!("space {SPACE}: {e}")).and_then(|s| read_all(&s)) {
        Ok(s) => s,
        Err(e) => {
            v.lost.push(e);
            return v;
        }
    };
    v.documents = stored.len();
    let get = |k: &Key| stored.get(k).cloned().flatten();
    check_strays(&stored, ledger, &mut v);
    check_owned(&get, ledger, &mut v);
    check_hot(&get, ledger, &mut v);
    check_pairs(&get, ledger, &mut v);
    check_unknown(&get, ledger, &mut v);
    if let Ok(space) = engine.space(SPACE) {
        check_compound_index(&space, &stored, &mut v);
        check_log(&space, &ledger.log, &mut v);
        check_search_index(&space, &mut v);
        check_index_file_loaded(engine, &mut v);
    }
    v.stored = ledger.owned.keys().chain(ledger.hot.keys()).map(|k| (k.clone(), get(k))).collect();
    v
}

/// The search index, reloaded from its file and replayed from the log after
/// the kill, must agree with the records.
fn check_search_index(space: &Space, v: &mut Verdict) {
    match space.check_search_index() {
        Ok(c) if c.ok => {}
        Ok(c) => v.divergences.push(format!("search index diverges from the records: {c:?}")),
        Err(e) => v.divergences.push(format!("search index check failed: {e}")),
    }
}

/// A saved index file is written aside and renamed, so a kill leaves a
/// whole file that matches the log: it must load, never be discarded and
/// rebuilt (a rebuild would hide a file format that does not read back).
fn check_index_file_loaded(engine: &Engine, v: &mut Verdict) {
    let files = engine.stats().search_files;
    if files.discarded > 0 {
        v.divergences.push(format!("the saved search index file was discarded and rebuilt, not loaded: {files:?}"));
    }
}

/// After a clean stop (the server saved its index files as it closed), the
/// next open must load the workload space's search index file, not rebuild
/// it: a rebuild would hide a file that does not read back, or a save that
/// never happened. Returns the problems found.
pub fn check_clean_restart(engine: &Engine) -> Vec<String> {
    let Ok(space) = engine.space(SPACE) else { return vec![format!("space {SPACE} is missing after a clean stop")] };
    // The first use of the index loads its file.
    if let Err(e) = space.check_search_index() {
        return vec![format!("the search index check failed after a clean stop: {e}")];
    }
    let files = engine.stats().search_files;
    if files.loaded == 0 || files.discarded > 0 {
        return vec![format!("after a clean stop the search index was rebuilt instead of loaded: {files:?}")];
    }
    Vec::new()
}

/// Every live document of the workload's collections.
fn read_all(space: &Space) -> Result<BTreeMap<Key, State>, String> {
    let mut out = BTreeMap::new();
    for coll in [DOCS, TX_A, TX_B] {
        let mut q = Query { limit: Some(engram::limits::PAGE_LIMIT_MAX), ..Query::default() };
        loop {
            let page = space.query(coll, &q).map_err(|e| format!("reading {coll}: {e}"))?;
            for d in page.documents {
                out.insert((coll.to_owned(), d.id), Some(crate::ledger::Doc { version: d.version, body: d.body }));
            }
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
    }
    Ok(out)
}

/// Documents that no writer ever wrote.
fn check_strays(stored: &BTreeMap<Key, State>, ledger: &Ledger, v: &mut Verdict) {
    for (k, s) in stored.iter().filter(|(k, _)| !ledger.knows(k)) {
        v.lost.push(format!("{}/{}: stored ({}) but never written", k.0, k.1, show(s)));
    }
}

/// The states a request of unknown outcome may have left, by document
/// (requests that must be refused leave none).
fn unknown_afters(ledger: &Ledger) -> HashMap<&Key, Vec<&State>> {
    let mut m: HashMap<&Key, Vec<&State>> = HashMap::new();
    let ops = ledger.unknown.iter().filter(|u| !u.planned.refusal).flat_map(|u| &u.planned.ops);
    for op in ops.filter(|o| o.effective) {
        m.entry(&op.key).or_default().push(&op.after);
    }
    m
}

/// Each owned document: its acknowledged state, or what the request of
/// unknown outcome after it would leave.
fn check_owned(get: &impl Fn(&Key) -> State, ledger: &Ledger, v: &mut Verdict) {
    let afters = unknown_afters(ledger);
    for (k, acked) in &ledger.owned {
        let s = get(k);
        if s == *acked || afters.get(k).is_some_and(|a| a.contains(&&s)) {
            continue;
        }
        v.lost.push(format!("{}/{}: acknowledged {}, stored {}", k.0, k.1, show(acked), show(&s)));
    }
}

/// Each hot document: at its highest acknowledged state, or past it by a
/// request of unknown outcome.
fn check_hot(get: &impl Fn(&Key) -> State, ledger: &Ledger, v: &mut Verdict) {
    let afters = unknown_afters(ledger);
    for (k, acked) in &ledger.hot {
        let s = get(k);
        let floor = acked.as_ref().map_or(0, |d| d.version);
        let past = s.as_ref().is_some_and(|d| d.version > floor) && afters.get(k).is_some_and(|a| a.contains(&&s));
        if s != *acked && !past {
            v.lost.push(format!("{}/{}: acknowledged {}, stored {}", k.0, k.1, show(acked), show(&s)));
        }
    }
}

/// Both sides of every pair were written by the same transaction: both
/// absent, or both at the same version with the same tag. A split found by
/// an earlier cycle is not counted again.
fn check_pairs(get: &impl Fn(&Key) -> State, ledger: &Ledger, v: &mut Verdict) {
    let owned = (0..ledger.writers).flat_map(|w| (0..PAIRS_PER_WRITER).map(move |i| pair_id(w, i)));
    for id in owned.chain((0..HOT_PAIRS).map(hot_id)) {
        let (a, b) = (get(&(TX_A.to_owned(), id.clone())), get(&(TX_B.to_owned(), id.clone())));
        let same = match (&a, &b) {
            (None, None) => true,
            (Some(x), Some(y)) => x.version == y.version && x.body["tx"] == y.body["tx"],
            _ => false,
        };
        if same {
            continue;
        }
        if !ledger.splits.contains(&id) {
            v.partial.push(format!("pair {id} split: {TX_A} {}, {TX_B} {}", show(&a), show(&b)));
        }
        v.splits.push(id);
    }
}

/// Whether an operation of a request of unknown outcome shows in `s`
/// (None: cannot tell, or the document is in neither state).
fn shows(op: &PlannedOp, s: &State) -> Option<bool> {
    if *s == op.after {
        return Some(true);
    }
    if op.hot {
        let target = op.after.as_ref().map_or(0, |d| d.version);
        return (s.as_ref().map_or(0, |d| d.version) <= target).then_some(false);
    }
    (*s == op.before).then_some(false)
}

/// Each request of unknown outcome is all or nothing (nothing, when it
/// must be refused).
fn check_unknown(get: &impl Fn(&Key) -> State, ledger: &Ledger, v: &mut Verdict) {
    for u in &ledger.unknown {
        let ops: Vec<&PlannedOp> = u.planned.ops.iter().filter(|o| o.effective).collect();
        let seen: Vec<Option<bool>> = ops.iter().map(|o| shows(o, &get(&o.key))).collect();
        let yes = seen.iter().filter(|s| **s == Some(true)).count();
        let no = seen.iter().filter(|s| **s == Some(false)).count();
        if yes > 0 && (no > 0 || u.planned.refusal) {
            v.partial.push(describe_partial(u, &ops, &seen));
        }
        let all = ops.len();
        v.applied.push(if yes == all && !u.planned.refusal {
            Some(true)
        } else if no == all {
            Some(false)
        } else {
            None
        });
    }
}

fn describe_partial(u: &Unknown, ops: &[&PlannedOp], seen: &[Option<bool>]) -> String {
    let parts: Vec<String> = ops.iter().zip(seen).map(|(o, s)| format!("{}/{}: {s:?}", o.key.0, o.key.1)).collect();
    let what = if u.planned.refusal { "must be refused, yet shows" } else { "applied in part" };
    format!("request {} of unknown outcome {what}: {}", u.planned.label, parts.join(", "))
}

/// The compound index on (`k`, `w`) finds, for every pair of values the
/// records hold, exactly the records holding them (the consistency check
/// probes the first path of each index only; the planner picks the index
/// with the longest equality prefix).
fn check_compound_index(space: &Space, stored: &BTreeMap<Key, State>, v: &mut Verdict) {
    let mut want: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    for d in stored.iter().filter(|(k, _)| k.0 == DOCS).filter_map(|(_, s)| s.as_ref()) {
        if let (Some(k), Some(w)) = (d.body["k"].as_u64(), d.body["w"].as_u64()) {
            *want.entry((k, w)).or_default() += 1;
        }
    }
    for ((k, w), n) in want {
        match space.count(DOCS, &json!({"k": k, "w": w})) {
            Ok(found) if found == n => {}
            Ok(found) => v
                .divergences
                .push(format!("{DOCS}: index on k, w finds {found} documents for ({k}, {w}), the records hold {n}")),
            Err(e) => v.divergences.push(format!("{DOCS}: counting k = {k}, w = {w}: {e}")),
        }
    }
}

/// Each acknowledged operation's change-log entry is at the position its
/// response gave, for its document, with its version and content.
fn check_log(space: &Space, log: &[LogAck], v: &mut Verdict) {
    let (Some(lo), Some(hi)) = (log.iter().map(|a| a.position).min(), log.iter().map(|a| a.position).max()) else {
        return;
    };
    let entries = match read_changes(space, lo - 1, hi) {
        Ok(e) => e,
        Err(e) => return v.lost.push(format!("reading the change log: {e}")),
    };
    for ack in log {
        let found = entries.get(&ack.position);
        if !found.is_some_and(|e| logs(e, ack)) {
            let got = found.map_or("nothing".to_owned(), |e| {
                format!("{:?} {}/{} version {}", e.op, e.collection, e.doc_id, e.version)
            });
            v.lost.push(format!(
                "{}: acknowledged {:?} of {}/{} at change-log position {}, which holds {got}",
                ack.label, ack.kind, ack.key.0, ack.key.1, ack.position
            ));
        }
    }
}

/// Entries at positions `after + 1 ..= until`.
fn read_changes(space: &Space, after: u64, until: u64) -> Result<HashMap<u64, ChangeEntry>, String> {
    let mut out = HashMap::new();
    let mut from = after;
    while from < until {
        let run = space.changes(from, engram::limits::CHANGES_LIMIT_MAX).map_err(|e| e.to_string())?;
        let Some(last) = run.last().map(|e| e.position) else { break };
        out.extend(run.into_iter().map(|e| (e.position, e)));
        from = last;
    }
    Ok(out)
}

/// Whether `e` is the entry of `ack`.
fn logs(e: &ChangeEntry, ack: &LogAck) -> bool {
    let op = matches!(
        (e.op, ack.kind),
        (ChangeOp::Put, OpKind::Put) | (ChangeOp::Patch, OpKind::Patch) | (ChangeOp::Delete, OpKind::Delete)
    );
    let (version, hash) = match &ack.after {
        Some(d) => (d.version, content_hash(canonical(&d.body).as_bytes())),
        None => (0, [0; 32]),
    };
    op && e.collection == ack.key.0 && e.doc_id == ack.key.1 && e.version == version && e.content_hash == hash
}
