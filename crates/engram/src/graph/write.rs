//! Graph writes inside a transaction: link, unlink, strengthen, decay, and
//! removing a document's edges when the document goes.
//!
//! Invariant: an edge exists only while both its endpoint documents do. A
//! link checks both are live; deleting, expiring or dropping a document (or
//! its collection) deletes its edges in the same transaction.

use crate::apply::Writer;
use crate::graph::types::{DecayRequest, Edge, EdgeInput, NodeRef, check_weight};
use crate::system::{SCAN_CHUNK_ROWS, System, key_prefix};
use engram_core::backend::StoredDoc;
use engram_core::json::hex;
use engram_core::limits::{EDGE_WEIGHT_MAX, GRAPH_DECAY_EDGES_MAX};
use engram_core::names::{CollectionName, check_label};
use engram_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// An edge as stored in `_edges`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EdgeBody {
    pub from: NodeRef,
    pub to: NodeRef,
    #[serde(rename = "type")]
    pub edge_type: String,
    pub weight: f64,
    pub props: Value,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

impl EdgeBody {
    pub fn parse(doc: &StoredDoc) -> Result<Self> {
        serde_json::from_str(&doc.body)
            .map_err(|e| Error::corrupted(format!("stored edge {:?} is malformed: {e}", doc.id)))
    }

    pub fn into_edge(self, id: String, version: u64) -> Edge {
        Edge {
            id,
            from: self.from,
            to: self.to,
            edge_type: self.edge_type,
            weight: self.weight,
            props: self.props,
            version,
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
        }
    }

    fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("edges serialize")
    }
}

/// The stable id of the edge (from, type, to): 128 bits of a BLAKE3 hash,
/// so relinking the same pair with the same type replaces the edge.
pub fn edge_id(from: &NodeRef, edge_type: &str, to: &NodeRef) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"engram.edge.v1");
    for part in [&from.collection, &from.id, &edge_type.to_owned(), &to.collection, &to.id] {
        h.update(&(part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize().as_bytes()[..16])
}

impl Writer<'_> {
    /// Whether `node` is a live document.
    fn node_is_live(&mut self, node: &NodeRef, what: &str) -> Result<bool> {
        let cname = CollectionName::new(node.collection.as_str()).map_err(|e| e.context(what))?;
        Ok(match self.reserved_collection(&cname, None)? {
            Some(coll) => self.tx.doc(coll.row.id, &node.id)?.is_some_and(|d| d.is_live(self.now_ms)),
            None => false,
        })
    }

    /// Fails unless `node` is a live document (an edge endpoint, a fact's
    /// subject or object).
    pub(crate) fn check_endpoint(&mut self, node: &NodeRef, what: &str) -> Result<()> {
        if self.node_is_live(node, what)? {
            return Ok(());
        }
        Err(Error::not_found(format!(
            "{what}: document {:?} does not exist in collection {:?}",
            node.id, node.collection
        )))
    }

    /// Creates or replaces an edge; returns it with its change-log position.
    pub fn link(&mut self, input: &EdgeInput) -> Result<(Edge, u64)> {
        input.validate()?;
        self.check_endpoint(&input.from, "from")?;
        self.check_endpoint(&input.to, "to")?;
        let edges = self.system_created(System::Edges)?;
        let id = edge_id(&input.from, &input.edge_type, &input.to);
        let created = match self.tx.doc(edges.row.id, &id)? {
            Some(old) => EdgeBody::parse(&old)?.created_at_ms,
            None => self.now_ms,
        };
        let body = EdgeBody {
            from: input.from.clone(),
            to: input.to.clone(),
            edge_type: input.edge_type.clone(),
            weight: input.weight.unwrap_or(1.0),
            props: input.props.clone().unwrap_or_else(|| json!({})),
            created_at_ms: created,
            updated_at_ms: self.now_ms,
        };
        let (version, position) = self.put_system(&edges, &id, &body.to_value(), None)?;
        Ok((body.into_edge(id, version), position))
    }

    /// Deletes the edge (from, type, to); not found if there is none.
    pub fn unlink(&mut self, from: &NodeRef, edge_type: &str, to: &NodeRef) -> Result<(String, u64)> {
        from.validate("from")?;
        to.validate("to")?;
        check_label("edge type", edge_type)?;
        let id = edge_id(from, edge_type, to);
        self.unlink_id(&id)
    }

    /// Deletes an edge by id; not found if there is none.
    pub fn unlink_id(&mut self, id: &str) -> Result<(String, u64)> {
        let missing = || Error::not_found(format!("edge {id:?} does not exist"));
        let edges = self.system(System::Edges, false)?.ok_or_else(missing)?;
        let position = self.delete_system(&edges, id)?.ok_or_else(missing)?;
        Ok((id.to_owned(), position))
    }

    /// Deletes every edge from or to the document.
    pub fn unlink_node(&mut self, collection: &str, id: &str) -> Result<()> {
        self.unlink_prefix(&[collection, id])
    }

    /// Deletes every edge from or to a document of the collection.
    pub fn unlink_collection(&mut self, collection: &str) -> Result<()> {
        self.unlink_prefix(&[collection])
    }

    fn unlink_prefix(&mut self, parts: &[&str]) -> Result<()> {
        let Some(edges) = self.system(System::Edges, false)? else { return Ok(()) };
        for index in ["from", "to"] {
            for doc in self.scan_prefix(&edges, index, key_prefix(parts))? {
                // A self-loop shows up under both indexes; the second
                // delete finds nothing.
                self.delete_system(&edges, &doc.id)?;
            }
        }
        Ok(())
    }

    /// Adds `delta` (may be negative) to an edge's weight, clamped to
    /// [0, EDGE_WEIGHT_MAX].
    pub fn strengthen(&mut self, id: &str, delta: f64) -> Result<(Edge, u64)> {
        if !delta.is_finite() {
            return Err(Error::invalid("delta must be a finite number"));
        }
        let missing = || Error::not_found(format!("edge {id:?} does not exist"));
        let edges = self.system(System::Edges, false)?.ok_or_else(missing)?;
        let old = self.tx.doc(edges.row.id, id)?.ok_or_else(missing)?;
        let mut body = EdgeBody::parse(&old)?;
        body.weight = (body.weight + delta).clamp(0.0, EDGE_WEIGHT_MAX);
        check_weight(body.weight)?;
        body.updated_at_ms = self.now_ms;
        let (version, position) = self.put_system(&edges, id, &body.to_value(), None)?;
        Ok((body.into_edge(id.to_owned(), version), position))
    }

    /// Multiplies the weights of matching edges by `factor`, not going
    /// below `floor`. Fails (writing nothing) past GRAPH_DECAY_EDGES_MAX.
    pub fn decay(&mut self, req: &DecayRequest) -> Result<(u64, u64)> {
        req.validate()?;
        let Some(edges) = self.system(System::Edges, false)? else { return Ok((0, 0)) };
        let (mut changed, mut position, mut after) = (0u64, 0u64, None::<String>);
        loop {
            let docs = self.tx.scan_docs(edges.row.id, after.as_deref(), false, SCAN_CHUNK_ROWS)?;
            for doc in &docs {
                let mut body = EdgeBody::parse(doc)?;
                if !req.types.is_empty() && !req.types.contains(&body.edge_type) {
                    continue;
                }
                let decayed = (body.weight * req.factor).max(req.floor.min(body.weight));
                if decayed == body.weight {
                    continue;
                }
                changed += 1;
                if changed as usize > GRAPH_DECAY_EDGES_MAX {
                    return Err(Error::too_large(format!(
                        "a decay changes at most {GRAPH_DECAY_EDGES_MAX} edges; narrow it by edge type"
                    )));
                }
                body.weight = decayed;
                body.updated_at_ms = self.now_ms;
                position = self.put_system(&edges, &doc.id, &body.to_value(), None)?.1;
            }
            match docs.last() {
                Some(last) if docs.len() == SCAN_CHUNK_ROWS => after = Some(last.id.clone()),
                _ => return Ok((changed, position)),
            }
        }
    }
}

/// Reads an edge document's body as an edge.
pub(crate) fn parse_edge(doc: &StoredDoc) -> Result<Edge> {
    Ok(EdgeBody::parse(doc)?.into_edge(doc.id.clone(), doc.version))
}
