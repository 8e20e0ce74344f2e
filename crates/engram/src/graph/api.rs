//! The graph operations of a [`Space`]: link, unlink, read edges, weight
//! changes, neighbourhoods and shortest paths.

use crate::graph::traverse::{Found, Step, TypeSet, bfs, hop, shortest_hops, shortest_weighted};
use crate::graph::types::{
    DecayReport, DecayRequest, Direction, Edge, EdgeInput, Neighbor, Neighbors, NeighborsRequest, NodeRef, PathRequest,
    PathResult,
};
use crate::graph::write::parse_edge;
use crate::space::Space;
use crate::system::System;
use engram_core::backend::{CollectionId, Reader};
use engram_core::filter::Filter;
use engram_core::json::decode_document;
use engram_core::names::{CollectionName, DocId};
use engram_core::{Error, Result};
use serde_json::Value;
use std::collections::HashMap;

impl Space {
    /// Creates or replaces the edge (from, type, to). Both endpoints must be
    /// live documents.
    pub fn link(&self, edge: EdgeInput) -> Result<Edge> {
        self.write(move |w| w.link(&edge)).map(|(e, _)| e)
    }

    /// Deletes the edge (from, type, to); returns the change-log position.
    pub fn unlink(&self, from: &NodeRef, edge_type: &str, to: &NodeRef) -> Result<u64> {
        let (from, edge_type, to) = (from.clone(), edge_type.to_owned(), to.clone());
        self.write(move |w| w.unlink(&from, &edge_type, &to)).map(|(_, p)| p)
    }

    /// Deletes an edge by id; returns the change-log position.
    pub fn unlink_edge(&self, id: &str) -> Result<u64> {
        check_edge_id(id)?;
        let id = id.to_owned();
        self.write(move |w| w.unlink_id(&id)).map(|(_, p)| p)
    }

    /// An edge by id.
    pub fn edge(&self, id: &str) -> Result<Edge> {
        check_edge_id(id)?;
        let missing = || Error::not_found(format!("edge {id:?} does not exist"));
        let coll = self.inner.reserved_collection(self.id, System::Edges)?.ok_or_else(missing)?;
        parse_edge(&self.inner.backend.read_doc(coll.row.id, id)?.ok_or_else(missing)?)
    }

    /// Adds `delta` to an edge's weight (clamped at 0).
    pub fn strengthen(&self, id: &str, delta: f64) -> Result<Edge> {
        check_edge_id(id)?;
        let id = id.to_owned();
        self.write(move |w| w.strengthen(&id, delta)).map(|(e, _)| e)
    }

    /// Multiplies matching weights by a factor, not below a floor, in one
    /// transaction.
    pub fn decay(&self, req: DecayRequest) -> Result<DecayReport> {
        let (edges, position) = self.write(move |w| w.decay(&req))?;
        Ok(DecayReport { edges, position })
    }

    /// Nodes within `depth` hops, nearest first.
    pub fn neighbors(&self, req: &NeighborsRequest) -> Result<Neighbors> {
        let limit = req.validate()?;
        let filter = req.filter.as_ref().map(Filter::parse).transpose()?;
        let now = self.inner.hlc.wall_ms();
        self.inner.graph.with(&*self.inner.backend, self.id, |g, reader| {
            let Some(start) = g.node(&req.from.key()) else {
                self.check_node(reader.get()?, &req.from)?;
                return Ok(Neighbors { nodes: Vec::new(), truncated: false, position: g.position });
            };
            let types = TypeSet::of(g, &req.types);
            let mut docs = None;
            let need_doc = filter.is_some() || req.include_documents;
            let mut nodes = Vec::new();
            let truncated = bfs(g, start, req.depth, req.direction, &types, limit, |n, depth, step: Step| {
                let node = NodeRef::from_key(g.node_key(n));
                if !req.collections.is_empty() && !req.collections.contains(&node.collection) {
                    return Ok(false);
                }
                let document = if need_doc {
                    let docs = match &mut docs {
                        Some(d) => d,
                        None => docs.insert(NodeDocs::new(self, reader.get()?, now)),
                    };
                    match docs.get(&node)? {
                        Some(d) if filter.as_ref().is_none_or(|f| f.matches(&d)) => Some(d),
                        _ => return Ok(false),
                    }
                } else {
                    None
                };
                if nodes.len() < limit {
                    let document = document.filter(|_| req.include_documents);
                    nodes.push(Neighbor { node, depth, via: hop(g, step), document });
                }
                Ok(true)
            })?;
            Ok(Neighbors { nodes, truncated, position: g.position })
        })
    }

    /// A shortest path from `from` to `to` (fewest hops, or least summed
    /// weight when `weighted`), at most `max_depth` hops.
    pub fn shortest_path(&self, req: &PathRequest) -> Result<PathResult> {
        req.validate()?;
        self.inner.graph.with(&*self.inner.backend, self.id, |g, reader| {
            let not_found =
                PathResult { found: false, nodes: Vec::new(), hops: Vec::new(), cost: 0.0, truncated: false };
            let (Some(start), Some(goal)) = (g.node(&req.from.key()), g.node(&req.to.key())) else {
                self.check_node(reader.get()?, &req.from)?;
                self.check_node(reader.get()?, &req.to)?;
                let same = req.from == req.to;
                return Ok(PathResult {
                    found: same,
                    nodes: if same { vec![req.from.clone()] } else { Vec::new() },
                    ..not_found
                });
            };
            if start == goal {
                return Ok(PathResult { found: true, nodes: vec![req.from.clone()], ..not_found });
            }
            let types = TypeSet::of(g, &req.types);
            let dir: Direction = req.direction;
            let found: Found = if req.weighted {
                shortest_weighted(g, start, goal, req.max_depth, dir, &types)
            } else {
                shortest_hops(g, start, goal, req.max_depth, dir, &types)
            };
            let Some(steps) = found.steps else { return Ok(PathResult { truncated: found.truncated, ..not_found }) };
            let mut nodes = vec![req.from.clone()];
            nodes.extend(steps.iter().map(|s| NodeRef::from_key(g.node_key(s.other))));
            let hops = steps.iter().map(|s| hop(g, *s)).collect();
            Ok(PathResult { found: true, nodes, hops, cost: found.cost, truncated: false })
        })
    }

    /// Fails unless `node` is a live document (a node without edges).
    fn check_node(&self, reader: &dyn Reader, node: &NodeRef) -> Result<()> {
        let mut docs = NodeDocs::new(self, reader, self.inner.hlc.wall_ms());
        match docs.get(node)? {
            Some(_) => Ok(()),
            None => Err(Error::not_found(format!(
                "node: document {:?} does not exist in collection {:?}",
                node.id, node.collection
            ))),
        }
    }
}

fn check_edge_id(id: &str) -> Result<()> {
    let hex = id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex {
        return Ok(());
    }
    Err(Error::invalid(format!("invalid edge id {id:?}: expected 32 lower-case hex digits")))
}

/// Live node documents read through one reader, collections looked up once.
struct NodeDocs<'a> {
    space: &'a Space,
    reader: &'a dyn Reader,
    now_ms: u64,
    colls: HashMap<String, Option<CollectionId>>,
}

impl<'a> NodeDocs<'a> {
    fn new(space: &'a Space, reader: &'a dyn Reader, now_ms: u64) -> Self {
        Self { space, reader, now_ms, colls: HashMap::new() }
    }

    fn get(&mut self, node: &NodeRef) -> Result<Option<Value>> {
        node.validate("node")?;
        let coll = match self.colls.get(&node.collection) {
            Some(c) => *c,
            None => {
                let name = CollectionName::new(node.collection.as_str())?;
                let c = self.reader.collection(self.space.id, &name)?.map(|r| r.id);
                self.colls.insert(node.collection.clone(), c);
                c
            }
        };
        let Some(coll) = coll else { return Ok(None) };
        DocId::new(node.id.as_str())?;
        match self.reader.doc(coll, &node.id)?.filter(|d| d.is_live(self.now_ms)) {
            Some(d) => decode_document(&d.body).map(Some),
            None => Ok(None),
        }
    }
}
