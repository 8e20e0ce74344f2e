//! Before a commit: computes the vectors of embedded fields for every put
//! and patch of a transaction, in one batch per embedder, and writes them
//! into the operations. Entries still valid for the text being written
//! (a read-modify-write that left the text alone) are kept, not recomputed.

use super::fields::{Generation, embedder_for, entry, entry_matches, source_text};
use crate::catalog::Compiled;
use crate::engine::Inner;
use crate::ops::Op;
use engram_core::backend::SpaceId;
use engram_core::json::{decode_document, merge_patch};
use engram_core::limits::EMBED_BATCH_TEXTS_MAX;
use engram_core::path::JsonPath;
use engram_core::{Error, ErrorKind, Result};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// One vector to compute: for operation `op`, field `field`, generation `generation`.
struct Want {
    op: usize,
    field: usize,
    generation: usize,
    text: String,
}

/// A field's new value, assembled per operation.
struct Planned {
    op: usize,
    field: usize,
    /// Generation key to entry; empty when the field ends up empty.
    entries: Map<String, Value>,
    /// Keys of the value before (a patch removes the ones not kept).
    old_keys: Vec<String>,
}

/// Embeds what `ops` need. Returns whether any operation touched an
/// embedded field (a `Conflict` from the commit is then worth a retry).
///
/// Entries are reused only from the stored document (never from what a
/// caller sent, which could name any vector), and only when no earlier
/// operation of this transaction wrote the same document; a later
/// operation on a document sees the body the earlier ones left.
pub(crate) fn embed_ops(inner: &Inner, space: SpaceId, ops: &mut [Op]) -> Result<bool> {
    // Without embedders nothing can be embedded here. On shared storage
    // finding out whether a collection is embedded costs a read per
    // operation, which every write would pay: skipped, and the writer's
    // check refuses a write to an embedded collection (a 409; with local
    // storage the lookup is a cache hit and the answer the 503 naming the
    // missing embedder).
    if inner.config.embedders.is_empty() && inner.shared {
        return Ok(false);
    }
    let mut wants = Vec::new();
    let mut planned = Vec::new();
    let mut colls: Vec<(usize, Arc<Compiled>)> = Vec::new();
    // Bodies as this transaction's earlier operations left them.
    let mut written: HashMap<(String, String), Option<Value>> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        let Some(coll) = embedded_collection(inner, space, op)? else { continue };
        let key = (op.collection().to_owned(), doc_id(op).to_owned());
        let earlier = written.remove(&key);
        let touched = earlier.is_some();
        let state = final_body(inner, space, op, earlier)?;
        written.insert(key, state.as_ref().map(|(b, _)| b.clone()));
        let Some((body, stored)) = state else { continue };
        let trusted = if touched { None } else { stored };
        plan_op(i, &coll, &body, trusted.as_ref(), &mut wants, &mut planned)?;
        if let Op::Patch { patch, .. } = op {
            check_patch_parents(&coll, patch)?;
        }
        colls.push((i, coll));
    }
    if colls.is_empty() {
        return Ok(false);
    }
    let vectors = compute(inner, &colls, &wants)?;
    for (want, vector) in wants.iter().zip(vectors) {
        let g = generation_of(&colls, want);
        let p = planned.iter_mut().find(|p| p.op == want.op && p.field == want.field).expect("planned field");
        p.entries.insert(g.key.clone(), entry(g, &want.text, vector));
    }
    for p in planned {
        let coll = &colls.iter().find(|(i, _)| *i == p.op).expect("planned op").1;
        let path = &coll.search.as_ref().expect("embedded").vectors[p.field].path;
        write_field(&mut ops[p.op], path, p.entries, &p.old_keys)?;
    }
    Ok(true)
}

fn doc_id(op: &Op) -> &str {
    match op {
        Op::Put { id, .. } | Op::Patch { id, .. } | Op::Delete { id, .. } => id,
        _ => "",
    }
}

fn generation_of<'a>(colls: &'a [(usize, Arc<Compiled>)], w: &Want) -> &'a Generation {
    let coll = &colls.iter().find(|(i, _)| *i == w.op).expect("planned op").1;
    let field = &coll.search.as_ref().expect("embedded").vectors[w.field];
    &field.embed.as_ref().expect("embedded").generations[w.generation]
}

/// A patch may not set a parent of an embedded field's path to null or to
/// a non-object: the engine's value there would bring the parent back
/// with its other fields (a merge patch cannot both keep one member and
/// drop the rest). Setting the members one by one works.
fn check_patch_parents(coll: &Compiled, patch: &Value) -> Result<()> {
    for v in coll.search.as_ref().expect("embedded").vectors.iter().filter(|v| v.embed.is_some()) {
        let segs: Vec<&str> = v.path.as_str().split('.').collect();
        let mut cur = patch;
        for (depth, seg) in segs[..segs.len() - 1].iter().enumerate() {
            match cur.get(*seg) {
                None => break,
                Some(Value::Object(_)) => cur = &cur[*seg],
                Some(_) => {
                    return Err(Error::invalid(format!(
                        "the patch replaces {:?}, which holds the embedded field {:?}; patch its members one by one",
                        segs[..=depth].join("."),
                        v.spec.name
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The collection of a put or patch when it declares an embedded field.
fn embedded_collection(inner: &Inner, space: SpaceId, op: &Op) -> Result<Option<Arc<Compiled>>> {
    if !matches!(op, Op::Put { .. } | Op::Patch { .. }) {
        return Ok(None);
    }
    let coll = match inner.collection(space, op.collection()) {
        Ok(c) => c,
        // A put creates a missing collection (with no embedded field); a
        // bad name or a patch of a missing one fails in the writer.
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidInput) => return Ok(None),
        Err(e) => return Err(e),
    };
    let embedded = coll.search.as_ref().is_some_and(|s| s.vectors.iter().any(|v| v.embed.is_some()));
    Ok(embedded.then_some(coll))
}

/// The body a put or patch will commit, with the stored field values
/// entries may be reused from: a put's own body, or a patch applied to the
/// document as this transaction's earlier operations left it (else as
/// stored). `None` when a patch finds no document (the writer reports it).
fn final_body(
    inner: &Inner,
    space: SpaceId,
    op: &Op,
    earlier: Option<Option<Value>>,
) -> Result<Option<(Value, Option<Value>)>> {
    let stored = || -> Result<Option<Value>> {
        match inner.read_doc(space, op.collection(), doc_id(op), false)? {
            Some(d) => Ok(Some(decode_document(&d.body)?)),
            None => Ok(None),
        }
    };
    let before = match earlier {
        Some(b) => b,
        None => stored()?,
    };
    Ok(after_op(op, before.as_ref()).map(|b| (b, before)))
}

/// The body after a put or patch, given the body before it (`None`:
/// absent, so a patch has nothing to apply to).
fn after_op(op: &Op, before: Option<&Value>) -> Option<Value> {
    match op {
        Op::Put { body, .. } => Some(body.clone()),
        Op::Patch { patch, .. } => before.map(|b| {
            let mut b = b.clone();
            merge_patch(&mut b, patch);
            b
        }),
        _ => None,
    }
}

/// Lists the vectors operation `op` needs; entries of the stored
/// document (`stored`) still valid for the new text are kept.
fn plan_op(
    op: usize,
    coll: &Compiled,
    body: &Value,
    stored: Option<&Value>,
    wants: &mut Vec<Want>,
    planned: &mut Vec<Planned>,
) -> Result<()> {
    let search = coll.search.as_ref().expect("embedded");
    for (field, v) in search.vectors.iter().enumerate() {
        let Some(embed) = &v.embed else { continue };
        let old = stored.and_then(|s| v.path.lookup(s));
        let mut entries = Map::new();
        for (generation, g) in embed.generations.iter().enumerate() {
            let text = source_text(body, &g.from).map_err(|e| e.context(&format!("vector field {:?}", v.spec.name)))?;
            if text.is_empty() {
                continue;
            }
            match old.and_then(|o| o.get(&g.key)).filter(|e| entry_matches(g, &text, Some(e))) {
                Some(kept) => {
                    entries.insert(g.key.clone(), kept.clone());
                }
                None => wants.push(Want { op, field, generation, text }),
            }
        }
        // A patch removes what the merged body would keep but no
        // generation needs (older generations, anything a caller put there).
        let merged = v.path.lookup(body);
        let old_keys = merged.and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
        planned.push(Planned { op, field, entries, old_keys });
    }
    Ok(())
}

/// Computes the wanted vectors, one batched call per embedder, each
/// generation's model checked against the embedder's.
fn compute(inner: &Inner, colls: &[(usize, Arc<Compiled>)], wants: &[Want]) -> Result<Vec<Vec<f32>>> {
    let mut by_embedder: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, w) in wants.iter().enumerate() {
        by_embedder.entry(generation_of(colls, w).embedder.as_str()).or_default().push(i);
    }
    let mut out = vec![Vec::new(); wants.len()];
    for (name, idxs) in by_embedder {
        // Every text's generation checked, not one per batch: two
        // collections may record different models under one name.
        let mut embedder = None;
        for &i in &idxs {
            embedder = Some(embedder_for(&inner.config.embedders, generation_of(colls, &wants[i]))?);
        }
        let Some(embedder) = embedder else { continue };
        for chunk in idxs.chunks(EMBED_BATCH_TEXTS_MAX) {
            let texts = chunk.iter().map(|&i| wants[i].text.clone()).collect();
            let vectors = embedder.embed(texts).map_err(|e| e.context(&format!("embedder {name:?}")))?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
    }
    Ok(out)
}

/// Puts the field's value into the operation: into a put's body, or into
/// a patch as a merge-patch member (`null` removes the field, or the
/// generations no longer kept).
fn write_field(op: &mut Op, path: &JsonPath, entries: Map<String, Value>, old_keys: &[String]) -> Result<()> {
    match op {
        Op::Put { body, .. } if entries.is_empty() => {
            remove_at(body, path);
            Ok(())
        }
        Op::Put { body, .. } => set_at(body, path, Value::Object(entries)),
        Op::Patch { patch, .. } if entries.is_empty() => set_at(patch, path, Value::Null),
        Op::Patch { patch, .. } => {
            let mut value = entries;
            for k in old_keys {
                value.entry(k.clone()).or_insert(Value::Null);
            }
            set_at(patch, path, Value::Object(value))
        }
        _ => Ok(()),
    }
}

fn segments(path: &JsonPath) -> Vec<&str> {
    path.as_str().split('.').collect()
}

/// Sets `value` at `path`, creating missing objects on the way.
fn set_at(doc: &mut Value, path: &JsonPath, value: Value) -> Result<()> {
    let segs = segments(path);
    let (last, parents) = segs.split_last().expect("paths have a segment");
    let mut cur = doc;
    for s in parents {
        let Value::Object(m) = cur else { return Err(not_object(path)) };
        cur = m.entry((*s).to_owned()).or_insert_with(|| Value::Object(Map::new()));
        if cur.is_null() {
            *cur = Value::Object(Map::new());
        }
    }
    let Value::Object(m) = cur else { return Err(not_object(path)) };
    m.insert((*last).to_owned(), value);
    Ok(())
}

fn remove_at(doc: &mut Value, path: &JsonPath) {
    let segs = segments(path);
    let (last, parents) = segs.split_last().expect("paths have a segment");
    let mut cur = doc;
    for s in parents {
        match cur {
            Value::Object(m) => match m.get_mut(*s) {
                Some(v) => cur = v,
                None => return,
            },
            _ => return,
        }
    }
    if let Value::Object(m) = cur {
        m.remove(*last);
    }
}

fn not_object(path: &JsonPath) -> Error {
    Error::invalid(format!(
        "the document cannot hold the embedding at {:?}: a parent of it is not an object",
        path.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_and_remove_nested_paths() {
        let p = JsonPath::parse("a.b").expect("path");
        let mut doc = json!({"x": 1});
        set_at(&mut doc, &p, json!({"g0": 1})).expect("set");
        assert_eq!(doc, json!({"x": 1, "a": {"b": {"g0": 1}}}));
        remove_at(&mut doc, &p);
        assert_eq!(doc, json!({"x": 1, "a": {}}));
        let mut bad = json!({"a": 3});
        assert!(set_at(&mut bad, &p, json!(1)).is_err());
    }
}
