//! Before a commit: computes the vectors of embedded fields for every put
//! and patch of a transaction, in one batch per embedder, and writes them
//! into the operations. Entries still valid for the text being written
//! (a read-modify-write that left the text alone) are kept, not recomputed.

use super::fields::{Generation, entry, entry_matches, source_text};
use crate::catalog::Compiled;
use crate::engine::Inner;
use crate::ops::Op;
use engram_core::backend::SpaceId;
use engram_core::json::{decode_document, merge_patch};
use engram_core::limits::EMBED_BATCH_TEXTS_MAX;
use engram_core::path::JsonPath;
use engram_core::{Error, ErrorKind, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
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
pub(crate) fn embed_ops(inner: &Inner, space: SpaceId, ops: &mut [Op]) -> Result<bool> {
    let mut wants = Vec::new();
    let mut planned = Vec::new();
    let mut colls: Vec<(usize, Arc<Compiled>, Value)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let Some(coll) = embedded_collection(inner, space, op)? else { continue };
        let Some(body) = final_body(inner, space, op)? else { continue };
        plan_op(i, &coll, &body, &mut wants, &mut planned)?;
        colls.push((i, coll, body));
    }
    if colls.is_empty() {
        return Ok(false);
    }
    let vectors = compute(inner, &colls, &wants)?;
    for (want, vector) in wants.iter().zip(vectors) {
        let coll = &colls.iter().find(|(i, ..)| *i == want.op).expect("planned op").1;
        let field = &coll.search.as_ref().expect("embedded").vectors[want.field];
        let g = &field.embed.as_ref().expect("embedded").generations[want.generation];
        let p = planned.iter_mut().find(|p| p.op == want.op && p.field == want.field).expect("planned field");
        p.entries.insert(g.key.clone(), entry(g, &want.text, vector));
    }
    for p in planned {
        let coll = &colls.iter().find(|(i, ..)| *i == p.op).expect("planned op").1;
        let path = &coll.search.as_ref().expect("embedded").vectors[p.field].path;
        write_field(&mut ops[p.op], path, p.entries, &p.old_keys)?;
    }
    Ok(true)
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

/// The body the operation will commit: a put's own, or a patch applied
/// to the stored document (`None` when it does not exist: the writer
/// reports that).
fn final_body(inner: &Inner, space: SpaceId, op: &Op) -> Result<Option<Value>> {
    match op {
        Op::Put { body, .. } => Ok(Some(body.clone())),
        Op::Patch { collection, id, patch, .. } => {
            let Some(stored) = inner.read_doc(space, collection, id, false)? else { return Ok(None) };
            let mut body = decode_document(&stored.body)?;
            merge_patch(&mut body, patch);
            Ok(Some(body))
        }
        _ => Ok(None),
    }
}

/// Lists the vectors operation `op` needs; entries of `body` still valid
/// for its text are kept.
fn plan_op(op: usize, coll: &Compiled, body: &Value, wants: &mut Vec<Want>, planned: &mut Vec<Planned>) -> Result<()> {
    let search = coll.search.as_ref().expect("embedded");
    for (field, v) in search.vectors.iter().enumerate() {
        let Some(embed) = &v.embed else { continue };
        let old = v.path.lookup(body);
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
        let old_keys = old.and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
        planned.push(Planned { op, field, entries, old_keys });
    }
    Ok(())
}

/// Computes the wanted vectors, one batched call per embedder.
fn compute(inner: &Inner, colls: &[(usize, Arc<Compiled>, Value)], wants: &[Want]) -> Result<Vec<Vec<f32>>> {
    let generation = |w: &Want| -> &Generation {
        let coll = &colls.iter().find(|(i, ..)| *i == w.op).expect("planned op").1;
        let field = &coll.search.as_ref().expect("embedded").vectors[w.field];
        &field.embed.as_ref().expect("embedded").generations[w.generation]
    };
    let mut by_embedder: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, w) in wants.iter().enumerate() {
        by_embedder.entry(generation(w).embedder.as_str()).or_default().push(i);
    }
    let mut out = vec![Vec::new(); wants.len()];
    for (name, idxs) in by_embedder {
        let embedder = inner.config.embedders.get(name)?;
        for chunk in idxs.chunks(EMBED_BATCH_TEXTS_MAX) {
            let g = generation(&wants[chunk[0]]);
            if embedder.info().model != g.model || embedder.info().dims != g.dims {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "embedder {name:?} here is {} {} ({} dimensions); the collection's spec records {} {} ({}): \
                         configure the same model, or switch the field's model",
                        embedder.info().model.name,
                        embedder.info().model.version,
                        embedder.info().dims,
                        g.model.name,
                        g.model.version,
                        g.dims
                    ),
                ));
            }
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
