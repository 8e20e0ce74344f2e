//! Query planning and execution over a [`Reader`].
//!
//! The planner picks an access path: a declared index whose leading paths
//! have equality conditions (and optionally a range or prefix on the next
//! path, or the requested sort), else a scan in document-id order. Index
//! ranges are supersets: every candidate is rechecked against the whole
//! filter (the residual), so results are exact whatever the key encoding
//! loses. Work per page is bounded by [`PAGE_SCAN_ROWS_MAX`].

use crate::catalog::{Compiled, CompiledIndex};
use crate::query::{Page, Query};
use crate::space::Document;
use engram_core::backend::{IndexScan, Reader, StoredDoc};
use engram_core::cursor::{self, Position};
use engram_core::filter::{CmpOp, Filter};
use engram_core::json::decode_document;
use engram_core::keys::{KeyRange, encode_component, encode_value, prefix_successor, string_prefix};
use engram_core::limits::{PAGE_SCAN_ROWS_MAX, SORT_SCAN_ROWS_MAX};
use engram_core::path::JsonPath;
use engram_core::{Error, Result};
use serde_json::Value;
use std::cmp::Ordering;
use std::ops::Bound;

/// Rows fetched from the backend per step.
const SCAN_CHUNK_ROWS: usize = 256;

/// How stored rows are reached.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Access {
    /// Every document in id order.
    Ids,
    /// A range of one index, in key order.
    Index { index: u32, range: KeyRange, reverse: bool },
}

/// A planned query.
pub(crate) struct Plan {
    pub access: Access,
    /// The access path already yields the requested order.
    pub ordered: bool,
    pub filter: Filter,
    pub sort: Vec<(JsonPath, bool)>,
}

/// Conditions on one path, gathered from the top-level conjuncts.
#[derive(Default)]
struct PathCond<'a> {
    eq: Option<&'a Value>,
    lo: Option<&'a Value>,
    hi: Option<&'a Value>,
    prefix: Option<&'a str>,
}

fn conditions<'f>(filter: &'f Filter, path: &JsonPath) -> PathCond<'f> {
    let mut c = PathCond::default();
    for f in filter.conjuncts() {
        match f {
            Filter::Cmp { path: p, op, value } if p == path => match op {
                CmpOp::Eq if is_scalar(value) => c.eq = Some(value),
                CmpOp::Gt | CmpOp::Gte => c.lo = Some(value),
                CmpOp::Lt | CmpOp::Lte => c.hi = Some(value),
                _ => {}
            },
            Filter::Prefix { path: p, prefix } if p == path => c.prefix = Some(prefix),
            _ => {}
        }
    }
    c
}

fn is_scalar(v: &Value) -> bool {
    !(v.is_array() || v.is_object())
}

/// An index usable for a query, with how well it fits.
struct Candidate {
    index: u32,
    range: KeyRange,
    score: usize,
    /// Paths in the index: on equal scores the narrower index wins.
    width: usize,
    ordered: bool,
}

fn candidate(ix: &CompiledIndex, filter: &Filter, sort: &[(JsonPath, bool)]) -> Candidate {
    let mut prefix = Vec::new();
    let mut eq_len = 0;
    for p in &ix.paths {
        match conditions(filter, p).eq {
            Some(v) => encode_component(&mut prefix, Some(v)),
            None => break,
        }
        eq_len += 1;
    }
    let next = ix.paths.get(eq_len).map(|p| conditions(filter, p));
    let (range, bounded) = match next {
        Some(c) => next_range(prefix, &c),
        None => (KeyRange::prefixed(prefix), false),
    };
    let same_dir = sort.iter().all(|s| s.1 == sort[0].1);
    let rest = &ix.paths[eq_len..];
    let ordered =
        !sort.is_empty() && same_dir && rest.len() == sort.len() && rest.iter().zip(sort).all(|(p, s)| *p == s.0);
    Candidate { index: ix.spec.id, range, score: eq_len * 2 + usize::from(bounded), width: ix.paths.len(), ordered }
}

/// The key range for a range or prefix condition after an equality prefix.
fn next_range(prefix: Vec<u8>, c: &PathCond<'_>) -> (KeyRange, bool) {
    if let Some(p) = c.prefix {
        let mut key = prefix;
        key.extend(string_prefix(p));
        return (KeyRange::prefixed(key), true);
    }
    let bound = c.lo.or(c.hi);
    let Some(tag) = bound.map(|v| encode_value(Some(v))[0]) else {
        return (KeyRange::prefixed(prefix), false);
    };
    if [c.lo, c.hi].iter().flatten().any(|v| encode_value(Some(v))[0] != tag) {
        return (KeyRange::prefixed(prefix), false); // mixed types: let the residual decide
    }
    let mut class = prefix.clone();
    class.push(tag);
    let start = c.lo.map_or_else(|| class.clone(), |v| with(&prefix, v));
    let end = match c.hi {
        Some(v) => prefix_successor(&with(&prefix, v)),
        None => prefix_successor(&class),
    };
    (KeyRange { start: Bound::Included(start), end: end.map_or(Bound::Unbounded, Bound::Excluded) }, true)
}

fn with(prefix: &[u8], v: &Value) -> Vec<u8> {
    let mut k = prefix.to_vec();
    encode_component(&mut k, Some(v));
    k
}

/// Chooses the access path for a filter and sort.
pub(crate) fn plan(coll: &Compiled, filter: Filter, sort: Vec<(JsonPath, bool)>) -> Plan {
    let cands: Vec<Candidate> = coll.indexes.iter().map(|ix| candidate(ix, &filter, &sort)).collect();
    let rank = |c: &&Candidate| (c.score, std::cmp::Reverse(c.width));
    let best_ordered = cands.iter().filter(|c| c.ordered).max_by_key(rank);
    let best_filter = cands.iter().filter(|c| c.score > 0).max_by_key(rank);
    let reverse = sort.first().is_some_and(|s| s.1);
    let (access, ordered) = match (best_ordered, best_filter) {
        (Some(c), _) => (Access::Index { index: c.index, range: c.range.clone(), reverse }, true),
        (None, Some(c)) => (Access::Index { index: c.index, range: c.range.clone(), reverse: false }, sort.is_empty()),
        (None, None) => (Access::Ids, sort.is_empty()),
    };
    Plan { access, ordered, filter, sort }
}

/// Streams stored rows along an access path, from a resume point.
struct Scanner<'a> {
    reader: &'a dyn Reader,
    coll: &'a Compiled,
    access: &'a Access,
    after: Option<Position>,
    done: bool,
}

impl Scanner<'_> {
    /// The next chunk with each row's resume position; empty at the end.
    fn next_chunk(&mut self) -> Result<Vec<(Position, StoredDoc)>> {
        if self.done {
            return Ok(Vec::new());
        }
        let rows: Vec<(Position, StoredDoc)> = match self.access {
            Access::Ids => {
                let after = match &self.after {
                    Some(Position::Id(id)) => Some(id.as_str()),
                    _ => None,
                };
                let docs = self.reader.scan_docs(self.coll.row.id, after, false, SCAN_CHUNK_ROWS)?;
                docs.into_iter().map(|d| (Position::Id(d.id.clone()), d)).collect()
            }
            Access::Index { index, range, reverse } => {
                let after = match &self.after {
                    Some(Position::Key(k, id)) => Some((k.as_slice(), id.as_str())),
                    _ => None,
                };
                let scan = IndexScan {
                    collection: self.coll.row.id,
                    index: *index,
                    range,
                    after,
                    reverse: *reverse,
                    limit: SCAN_CHUNK_ROWS,
                };
                let rows = self.reader.scan_index(&scan)?;
                rows.into_iter().map(|(k, d)| (Position::Key(k, d.id.clone()), d)).collect()
            }
        };
        self.done = rows.len() < SCAN_CHUNK_ROWS;
        self.after = rows.last().map(|(p, _)| p.clone());
        Ok(rows)
    }
}

/// A live document that matches the filter, parsed.
fn accept(doc: StoredDoc, filter: &Filter, now_ms: u64) -> Result<Option<Document>> {
    if !doc.is_live(now_ms) {
        return Ok(None);
    }
    let body = decode_document(&doc.body)?;
    if !filter.matches(&body) {
        return Ok(None);
    }
    Ok(Some(Document { id: doc.id, version: doc.version, body, expires_at_ms: doc.expires_at_ms }))
}

/// Runs one page of a planned query.
pub(crate) fn run_page(
    reader: &dyn Reader,
    coll: &Compiled,
    plan: &Plan,
    q: &Query,
    fp: [u8; 8],
    now_ms: u64,
) -> Result<Page> {
    let limit = q.page_limit()?;
    let offset = q.page_offset()?;
    let after = q.cursor.as_deref().map(|c| cursor::decode(fp, c)).transpose()?;
    if plan.ordered {
        stream_page(reader, coll, plan, after, limit, offset, fp, now_ms)
    } else {
        sorted_page(reader, coll, plan, after, limit, offset, fp, now_ms)
    }
}

#[allow(clippy::too_many_arguments)]
fn stream_page(
    reader: &dyn Reader,
    coll: &Compiled,
    plan: &Plan,
    after: Option<Position>,
    limit: usize,
    mut offset: usize,
    fp: [u8; 8],
    now_ms: u64,
) -> Result<Page> {
    if matches!(
        (&after, &plan.access),
        (Some(Position::Sort(..)), _)
            | (Some(Position::Key(..)), Access::Ids)
            | (Some(Position::Id(_)), Access::Index { .. })
    ) {
        return Err(Error::invalid("cursor does not fit this query; start again without a cursor"));
    }
    let mut scanner = Scanner { reader, coll, access: &plan.access, after, done: false };
    let mut docs: Vec<(Position, Document)> = Vec::new();
    let mut examined = 0;
    loop {
        let chunk = scanner.next_chunk()?;
        if chunk.is_empty() {
            return Ok(Page { documents: docs.into_iter().map(|d| d.1).collect(), next_cursor: None });
        }
        for (pos, stored) in chunk {
            examined += 1;
            if let Some(doc) = accept(stored, &plan.filter, now_ms)? {
                if offset > 0 {
                    offset -= 1;
                } else if docs.len() == limit {
                    let last = &docs[limit - 1].0;
                    let next = cursor::encode(fp, last);
                    return Ok(Page { documents: docs.into_iter().map(|d| d.1).collect(), next_cursor: Some(next) });
                } else {
                    docs.push((pos.clone(), doc));
                }
            }
            if examined >= PAGE_SCAN_ROWS_MAX {
                let next = cursor::encode(fp, &pos);
                return Ok(Page { documents: docs.into_iter().map(|d| d.1).collect(), next_cursor: Some(next) });
            }
        }
    }
}

/// Every live match, for counting or sorting in memory.
pub(crate) fn for_each_match(
    reader: &dyn Reader,
    coll: &Compiled,
    plan: &Plan,
    now_ms: u64,
    mut f: impl FnMut(Document) -> Result<()>,
) -> Result<()> {
    let mut scanner = Scanner { reader, coll, access: &plan.access, after: None, done: false };
    loop {
        let chunk = scanner.next_chunk()?;
        if chunk.is_empty() {
            return Ok(());
        }
        for (_, stored) in chunk {
            if let Some(doc) = accept(stored, &plan.filter, now_ms)? {
                f(doc)?;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn sorted_page(
    reader: &dyn Reader,
    coll: &Compiled,
    plan: &Plan,
    after: Option<Position>,
    limit: usize,
    offset: usize,
    fp: [u8; 8],
    now_ms: u64,
) -> Result<Page> {
    let after = match after {
        None => None,
        Some(Position::Sort(parts, id)) if parts.len() == plan.sort.len() => Some((parts, id)),
        Some(_) => return Err(Error::invalid("cursor does not fit this query; start again without a cursor")),
    };
    let mut rows: Vec<(Vec<Vec<u8>>, Document)> = Vec::new();
    for_each_match(reader, coll, plan, now_ms, |doc| {
        if rows.len() >= SORT_SCAN_ROWS_MAX {
            let fields: Vec<&str> = plan.sort.iter().map(|s| s.0.as_str()).collect();
            return Err(Error::invalid(format!(
                "sorting by {fields:?} without an index is limited to {SORT_SCAN_ROWS_MAX} matching documents; declare an index on these fields or narrow the filter"
            )));
        }
        let parts = plan.sort.iter().map(|(p, _)| encode_value(p.lookup(&doc.body))).collect();
        rows.push((parts, doc));
        Ok(())
    })?;
    let id_desc = plan.sort.iter().all(|s| s.1);
    let cmp = |a: (&[Vec<u8>], &str), b: (&[Vec<u8>], &str)| compare_sorted(&plan.sort, id_desc, a, b);
    rows.sort_by(|a, b| cmp((&a.0, &a.1.id), (&b.0, &b.1.id)));
    let start = match &after {
        Some((parts, id)) => rows.partition_point(|r| cmp((&r.0, &r.1.id), (parts, id)) != Ordering::Greater),
        None => 0,
    };
    let mut page: Vec<(Vec<Vec<u8>>, Document)> = rows.into_iter().skip(start + offset).take(limit + 1).collect();
    let next_cursor = if page.len() > limit {
        page.truncate(limit);
        page.last().map(|(parts, d)| cursor::encode(fp, &Position::Sort(parts.clone(), d.id.clone())))
    } else {
        None
    };
    Ok(Page { documents: page.into_iter().map(|r| r.1).collect(), next_cursor })
}

fn compare_sorted(sort: &[(JsonPath, bool)], id_desc: bool, a: (&[Vec<u8>], &str), b: (&[Vec<u8>], &str)) -> Ordering {
    for (i, (_, desc)) in sort.iter().enumerate() {
        let o = a.0[i].cmp(&b.0[i]);
        if o != Ordering::Equal {
            return if *desc { o.reverse() } else { o };
        }
    }
    let o = a.1.as_bytes().cmp(b.1.as_bytes());
    if id_desc { o.reverse() } else { o }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engram_core::backend::{CollectionId, CollectionRow, CollectionSpec, IndexSpec, SpaceId};
    use engram_core::names::CollectionName;
    use serde_json::json;

    fn coll(indexes: &[(u32, &[&str])]) -> Compiled {
        let indexes = indexes
            .iter()
            .map(|(id, paths)| IndexSpec {
                id: *id,
                name: format!("i{id}"),
                paths: paths.iter().map(|p| p.to_string()).collect(),
            })
            .collect();
        let row = CollectionRow {
            id: CollectionId(1),
            space: SpaceId(1),
            name: CollectionName::new("c").expect("name"),
            spec: CollectionSpec { indexes, ..CollectionSpec::default() },
            generation: 1,
        };
        Compiled::compile(row).expect("compiles")
    }

    fn planned(c: &Compiled, filter: Value, sort: &[&str]) -> Plan {
        let sort = sort
            .iter()
            .map(|s| (JsonPath::parse(s.trim_start_matches('-')).expect("path"), s.starts_with('-')))
            .collect();
        plan(c, Filter::parse(&filter).expect("filter"), sort)
    }

    fn index_of(p: &Plan) -> Option<u32> {
        match &p.access {
            Access::Index { index, .. } => Some(*index),
            Access::Ids => None,
        }
    }

    #[test]
    fn picks_the_index_with_the_longest_equality_prefix() {
        let c = coll(&[(1, &["a"]), (2, &["a", "b"])]);
        assert_eq!(index_of(&planned(&c, json!({"a": 1, "b": 2}), &[])), Some(2));
        assert_eq!(index_of(&planned(&c, json!({"a": 1}), &[])), Some(1));
        assert_eq!(index_of(&planned(&c, json!({"b": 2}), &[])), None, "no leading equality");
        assert_eq!(index_of(&planned(&c, json!({"a": {"$gt": 1}}), &[])), Some(1), "range on the first path");
        assert_eq!(index_of(&planned(&c, json!({"$or": [{"a": 1}, {"a": 2}]}), &[])), None, "disjunctions scan");
    }

    #[test]
    fn a_matching_index_provides_the_sort() {
        let c = coll(&[(1, &["status", "created"]), (2, &["score"])]);
        let p = planned(&c, json!({"status": "open"}), &["-created"]);
        assert_eq!(index_of(&p), Some(1));
        assert!(p.ordered);
        assert!(matches!(p.access, Access::Index { reverse: true, .. }));
        let p = planned(&c, json!({}), &["score"]);
        assert!(p.ordered && index_of(&p) == Some(2));
        let p = planned(&c, json!({"status": "open"}), &["score", "-created"]);
        assert!(!p.ordered, "mixed directions sort in memory");
        let p = planned(&c, json!({}), &["name"]);
        assert!(!p.ordered && index_of(&p).is_none());
    }

    #[test]
    fn ranges_stay_within_the_type_class() {
        let c = coll(&[(1, &["n"])]);
        let Access::Index { range, .. } = planned(&c, json!({"n": {"$gte": 5}}), &[]).access else {
            panic!("index expected")
        };
        assert!(range.contains(&encode_value(Some(&json!(5)))));
        assert!(range.contains(&encode_value(Some(&json!(1e9)))));
        assert!(!range.contains(&encode_value(Some(&json!("zzz")))), "strings are outside a numeric range");
        assert!(!range.contains(&encode_value(Some(&json!(4)))));
    }
}
