//! Idempotent forms of the graph, fact and stream writes: with a key, a
//! retried request returns the first result without writing again (the
//! HTTP `Idempotency-Key` header on every write route).

use crate::facts::types::{Fact, FactInput};
use crate::graph::types::{Edge, EdgeInput};
use crate::space::Space;
use crate::streams::types::{AppendRequest, AppendResult};
use crate::streams::write::encode_events;
use engram_core::Result;

/// A write's result and whether it was replayed from an earlier request.
pub type Replayed<T> = (T, bool);

impl Space {
    /// [`Space::link`], once per idempotency key.
    pub fn link_once(&self, edge: EdgeInput, key: Option<&str>) -> Result<Replayed<Edge>> {
        let req = edge.clone();
        self.write_once(key, "link", &req, move |w| w.link(&edge).map(|(e, _)| e))
    }

    /// [`Space::assert_fact`], once per idempotency key.
    pub fn assert_fact_once(&self, fact: FactInput, key: Option<&str>) -> Result<Replayed<Fact>> {
        let req = fact.clone();
        self.write_once(key, "assert", &req, move |w| w.assert_fact(&fact).map(|(f, _)| f))
    }

    /// [`Space::append`], once per idempotency key.
    pub fn append_once(&self, stream: &str, req: AppendRequest, key: Option<&str>) -> Result<Replayed<AppendResult>> {
        req.validate(stream)?;
        let request = (stream.to_owned(), req.clone());
        let stream = stream.to_owned();
        // Serialized here, on the caller's thread, not on the writer's.
        let encoded = encode_events(&req.events);
        self.write_once(key, "append", &request, move |w| w.append_encoded(&stream, &req, &encoded).map(|(r, _)| r))
    }
}
