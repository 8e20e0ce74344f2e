//! Graph request and result types, shared by the engine API, HTTP and CLI.

use engram_core::limits::{EDGE_PROPS_BYTES_MAX, EDGE_WEIGHT_MAX, GRAPH_DEPTH_MAX, GRAPH_RESULT_MAX};
use engram_core::names::{CollectionName, DocId, check_label};
use engram_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A document as a graph node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeRef {
    pub collection: String,
    pub id: String,
}

impl NodeRef {
    pub fn new(collection: &str, id: &str) -> Self {
        Self { collection: collection.to_owned(), id: id.to_owned() }
    }

    /// Checks that the reference names a caller's collection and a valid id.
    pub fn validate(&self, what: &str) -> Result<()> {
        CollectionName::new(self.collection.as_str()).map_err(|e| e.context(what))?;
        DocId::new(self.id.as_str()).map_err(|e| e.context(what))?;
        Ok(())
    }

    /// The node's key in the in-memory graph: collection names cannot hold
    /// `/`, so the first `/` separates the two parts.
    pub(crate) fn key(&self) -> String {
        format!("{}/{}", self.collection, self.id)
    }

    pub(crate) fn from_key(key: &str) -> Self {
        let (c, id) = key.split_once('/').unwrap_or((key, ""));
        Self::new(c, id)
    }
}

/// An edge to create or replace (one edge per from, type and to).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EdgeInput {
    pub from: NodeRef,
    pub to: NodeRef,
    /// Edge type: a label such as `part_of`.
    #[serde(rename = "type")]
    pub edge_type: String,
    /// Non-negative weight; 1 when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// Properties: an object whose keys are labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub props: Option<Value>,
}

impl EdgeInput {
    pub fn new(from: NodeRef, edge_type: &str, to: NodeRef) -> Self {
        Self { from, to, edge_type: edge_type.to_owned(), weight: None, props: None }
    }

    pub fn weight(mut self, w: f64) -> Self {
        self.weight = Some(w);
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        self.from.validate("from")?;
        self.to.validate("to")?;
        check_label("edge type", &self.edge_type)?;
        if let Some(w) = self.weight {
            check_weight(w)?;
        }
        if let Some(p) = &self.props {
            check_props(p)?;
        }
        Ok(())
    }
}

pub(crate) fn check_weight(w: f64) -> Result<()> {
    if w.is_finite() && (0.0..=EDGE_WEIGHT_MAX).contains(&w) {
        return Ok(());
    }
    Err(Error::invalid(format!("edge weight must be a number from 0 to {EDGE_WEIGHT_MAX}, got {w}")))
}

fn check_props(p: &Value) -> Result<()> {
    let Value::Object(map) = p else { return Err(Error::invalid("edge props must be a JSON object")) };
    for k in map.keys() {
        check_label("property name", k)?;
    }
    let bytes = serde_json::to_string(p).map_or(usize::MAX, |s| s.len());
    if bytes > EDGE_PROPS_BYTES_MAX {
        return Err(Error::too_large(format!("edge props are {bytes} bytes; the limit is {EDGE_PROPS_BYTES_MAX}")));
    }
    Ok(())
}

/// A stored edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Edge {
    /// Stable id derived from from, type and to.
    pub id: String,
    pub from: NodeRef,
    pub to: NodeRef,
    #[serde(rename = "type")]
    pub edge_type: String,
    pub weight: f64,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub props: Value,
    /// Version of the edge record (1 at creation, +1 per change).
    pub version: u64,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// Which way a traversal follows edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Direction {
    /// From `from` to `to`.
    #[default]
    Out,
    /// From `to` back to `from`.
    In,
    /// Either way.
    Both,
}

/// A neighbourhood query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NeighborsRequest {
    pub from: NodeRef,
    /// Hops, 1 to 32 (default 1).
    #[serde(default = "one")]
    pub depth: u32,
    #[serde(default)]
    pub direction: Direction,
    /// Edge types to follow; all when empty.
    #[serde(default)]
    pub types: Vec<String>,
    /// Collections of the nodes returned; all when empty (traversal still
    /// passes through other collections).
    #[serde(default)]
    pub collections: Vec<String>,
    /// A filter the returned nodes' documents must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub filter: Option<Value>,
    /// Nodes returned at most (default 100, at most 10,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Return each node's document.
    #[serde(default)]
    pub include_documents: bool,
}

fn one() -> u32 {
    1
}

impl NeighborsRequest {
    pub fn new(from: NodeRef, depth: u32) -> Self {
        Self {
            from,
            depth,
            direction: Direction::Out,
            types: Vec::new(),
            collections: Vec::new(),
            filter: None,
            limit: None,
            include_documents: false,
        }
    }

    pub(crate) fn validate(&self) -> Result<usize> {
        self.from.validate("from")?;
        check_depth("depth", self.depth)?;
        for t in &self.types {
            check_label("edge type", t)?;
        }
        for c in &self.collections {
            CollectionName::new(c.as_str()).map_err(|e| e.context("collections"))?;
        }
        check_limit(self.limit)
    }
}

pub(crate) fn check_depth(what: &str, depth: u32) -> Result<()> {
    if depth == 0 || depth > GRAPH_DEPTH_MAX {
        return Err(Error::invalid(format!("{what} must be 1 to {GRAPH_DEPTH_MAX}, got {depth}")));
    }
    Ok(())
}

pub(crate) fn check_limit(limit: Option<usize>) -> Result<usize> {
    match limit {
        None => Ok(engram_core::limits::GRAPH_RESULT_DEFAULT),
        Some(n) if n == 0 || n > GRAPH_RESULT_MAX => {
            Err(Error::invalid(format!("limit must be 1 to {GRAPH_RESULT_MAX}, got {n}")))
        }
        Some(n) => Ok(n),
    }
}

/// The edge a traversal first reached a node by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hop {
    pub from: NodeRef,
    pub to: NodeRef,
    #[serde(rename = "type")]
    pub edge_type: String,
    pub weight: f64,
}

/// One node reached by a traversal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Neighbor {
    pub node: NodeRef,
    /// Hops from the start (breadth-first, so the fewest).
    pub depth: u32,
    /// The edge it was first reached by.
    pub via: Hop,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub document: Option<Value>,
}

/// The result of a neighbourhood query, nearest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Neighbors {
    pub nodes: Vec<Neighbor>,
    /// True when the limit or the work bound stopped the traversal early.
    pub truncated: bool,
    /// Change-log position the graph reflected.
    pub position: u64,
}

/// A shortest-path query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PathRequest {
    pub from: NodeRef,
    pub to: NodeRef,
    /// Most hops a path may have, 1 to 32 (default 6).
    #[serde(default = "six")]
    pub max_depth: u32,
    #[serde(default)]
    pub direction: Direction,
    /// Edge types to follow; all when empty.
    #[serde(default)]
    pub types: Vec<String>,
    /// Minimize the sum of edge weights instead of the number of hops.
    #[serde(default)]
    pub weighted: bool,
}

fn six() -> u32 {
    6
}

impl PathRequest {
    pub fn new(from: NodeRef, to: NodeRef) -> Self {
        Self { from, to, max_depth: 6, direction: Direction::Out, types: Vec::new(), weighted: false }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        self.from.validate("from")?;
        self.to.validate("to")?;
        check_depth("max_depth", self.max_depth)?;
        for t in &self.types {
            check_label("edge type", t)?;
        }
        Ok(())
    }
}

/// A path found, or `found: false`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PathResult {
    pub found: bool,
    /// Nodes from `from` to `to` inclusive.
    pub nodes: Vec<NodeRef>,
    /// The edges between them, in order.
    pub hops: Vec<Hop>,
    /// Sum of weights (weighted) or number of hops.
    pub cost: f64,
    /// True when the work bound stopped the search before it was complete.
    pub truncated: bool,
}

/// A bulk weight decay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecayRequest {
    /// Each weight is multiplied by this, in (0, 1].
    pub factor: f64,
    /// No weight decays below this (weights already below it stay).
    #[serde(default)]
    pub floor: f64,
    /// Edge types to decay; all when empty.
    #[serde(default)]
    pub types: Vec<String>,
}

impl DecayRequest {
    pub(crate) fn validate(&self) -> Result<()> {
        if !(self.factor > 0.0 && self.factor <= 1.0) {
            return Err(Error::invalid(format!("factor must be in (0, 1], got {}", self.factor)));
        }
        check_weight(self.floor).map_err(|e| e.context("floor"))?;
        for t in &self.types {
            check_label("edge type", t)?;
        }
        Ok(())
    }
}

/// What a decay changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecayReport {
    /// Edges whose weight changed.
    pub edges: u64,
    /// Change-log position after the decay (0 when nothing changed).
    pub position: u64,
}
