//! Checks that a store agrees with itself: the change-log chain verifies,
//! every visible document matches its newest log entry, and every declared
//! index finds every document it should. Used after crashes and injected
//! failures.

use engram::{ChangeEntry, ChangeOp, Document, Engine, Query, Space};
use engram_core::json::{canonical, content_hash};
use serde_json::json;
use std::collections::HashMap;

/// What a check looked at.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub spaces: usize,
    pub documents: usize,
    pub entries: u64,
    pub index_probes: usize,
}

/// Checks every space of `engine`; the error says what disagreed.
pub fn check(engine: &Engine) -> Result<Checked, String> {
    let mut total = Checked::default();
    for info in engine.spaces().map_err(|e| format!("listing spaces: {e}"))? {
        let space = engine.space(&info.name).map_err(|e| format!("space {}: {e}", info.name))?;
        let c = check_space(&space).map_err(|e| format!("space {}: {e}", info.name))?;
        total.spaces += 1;
        total.documents += c.documents;
        total.entries += c.entries;
        total.index_probes += c.index_probes;
    }
    Ok(total)
}

fn check_space(space: &Space) -> Result<Checked, String> {
    let report = space.verify_changes().map_err(|e| format!("change log: {e}"))?;
    let newest = newest_entries(space)?;
    let mut checked = Checked { entries: report.entries, ..Checked::default() };
    for coll in space.collections().map_err(|e| e.to_string())? {
        let docs = all_documents(space, &coll.name)?;
        for d in &docs {
            matches_log(&newest, &coll.name, d)?;
        }
        checked.documents += docs.len();
        for ix in &coll.spec.indexes {
            checked.index_probes += probe_index(space, &coll.name, &ix.paths, &docs)?;
        }
    }
    Ok(checked)
}

/// The newest entry of each (collection, document) since its collection was
/// last created.
fn newest_entries(space: &Space) -> Result<HashMap<(String, String), ChangeEntry>, String> {
    let mut newest = HashMap::new();
    let mut after = 0;
    loop {
        let run = space.changes(after, engram::limits::CHANGES_LIMIT_MAX).map_err(|e| e.to_string())?;
        let Some(last) = run.last() else { return Ok(newest) };
        after = last.position;
        for e in run {
            if matches!(e.op, ChangeOp::CollectionDrop) {
                newest.retain(|(c, _), _| *c != e.collection);
            } else if !e.doc_id.is_empty() {
                newest.insert((e.collection.clone(), e.doc_id.clone()), e);
            }
        }
    }
}

fn all_documents(space: &Space, coll: &str) -> Result<Vec<Document>, String> {
    let mut q = Query { limit: Some(engram::limits::PAGE_LIMIT_MAX), ..Query::default() };
    let mut out = Vec::new();
    loop {
        let page = space.query(coll, &q).map_err(|e| format!("collection {coll}: {e}"))?;
        out.extend(page.documents);
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return Ok(out),
        }
    }
}

fn matches_log(newest: &HashMap<(String, String), ChangeEntry>, coll: &str, d: &Document) -> Result<(), String> {
    let e = newest
        .get(&(coll.to_owned(), d.id.clone()))
        .ok_or_else(|| format!("{coll}/{}: stored but never logged", d.id))?;
    if !matches!(e.op, ChangeOp::Put | ChangeOp::Patch) {
        return Err(format!("{coll}/{}: visible, but its newest entry is {:?}", d.id, e.op));
    }
    if e.version != d.version || e.content_hash != content_hash(canonical(&d.body).as_bytes()) {
        return Err(format!(
            "{coll}/{}: version {} / content differ from entry {} (version {})",
            d.id, d.version, e.position, e.version
        ));
    }
    Ok(())
}

/// Each document must be found through each index by equality on the
/// index's first path (when that value is a scalar).
fn probe_index(space: &Space, coll: &str, paths: &[String], docs: &[Document]) -> Result<usize, String> {
    let Some(first) = paths.first() else { return Ok(0) };
    let path = engram_core::path::JsonPath::parse(first).map_err(|e| e.to_string())?;
    let mut probes = 0;
    for d in docs {
        let Some(v) = path.lookup(&d.body).filter(|v| !v.is_array() && !v.is_object()) else { continue };
        let filter = json!({ first.as_str(): { "$eq": v } });
        let want =
            docs.iter().filter(|o| path.lookup(&o.body).is_some_and(|x| engram_core::filter::json_eq(x, v))).count();
        let found = space.count(coll, &filter).map_err(|e| e.to_string())?;
        if found != want as u64 {
            return Err(format!("{coll}: index on {first} finds {found} documents for {v}, the records hold {want}"));
        }
        probes += 1;
    }
    Ok(probes)
}
