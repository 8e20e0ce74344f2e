//! Write operations, their preconditions and results.

use crate::facts::types::FactInput;
use crate::graph::types::{EdgeInput, NodeRef};
use crate::objects::types::ObjectPut;
use crate::queues::types::MessageInput;
use crate::streams::types::AppendRequest;
use crate::system::System;
use engram_core::limits::TTL_SECONDS_MAX;
use engram_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A precondition on the document's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Expect {
    /// No condition.
    #[default]
    Any,
    /// The document must not exist (create only).
    Absent,
    /// The document must exist.
    Exists,
    /// The document must exist at exactly this version.
    Version(u64),
}

/// One operation of a transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Op {
    /// Create or replace a document.
    Put {
        collection: String,
        id: String,
        #[cfg_attr(feature = "openapi", schema(value_type = crate::JsonObject))]
        body: Value,
        #[serde(default)]
        expect: Expect,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl_seconds: Option<u64>,
    },
    /// Apply an RFC 7386 merge patch to an existing document.
    Patch {
        collection: String,
        id: String,
        #[cfg_attr(feature = "openapi", schema(value_type = crate::JsonObject))]
        patch: Value,
        #[serde(default)]
        expect: Expect,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl_seconds: Option<u64>,
    },
    /// Delete an existing document.
    Delete {
        collection: String,
        id: String,
        #[serde(default)]
        expect: Expect,
    },
    /// Create or replace a graph edge between two live documents.
    Link { edge: EdgeInput },
    /// Delete the graph edge (from, type, to).
    Unlink {
        from: NodeRef,
        to: NodeRef,
        #[serde(rename = "type")]
        edge_type: String,
    },
    /// Record a fact.
    Assert { fact: FactInput },
    /// Withdraw a current fact, or end its validity.
    Retract {
        fact_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        valid_until_ms: Option<i64>,
    },
    /// Append events to a stream.
    Append { stream: String, request: AppendRequest },
    /// Enqueue a message: delivered only if the transaction commits.
    Enqueue { queue: String, message: MessageInput },
    /// Publish an outbox message to a topic: delivered (to feed consumers
    /// and webhooks) only if the transaction commits.
    Publish {
        topic: String,
        #[cfg_attr(feature = "openapi", schema(value_type = Value))]
        payload: Value,
    },
    /// Put an object whose bytes were uploaded (staged) first.
    PutObject { key: String, object: ObjectPut },
    /// Delete an object.
    DeleteObject {
        key: String,
        #[serde(default)]
        expect: Expect,
    },
    /// Put `to` with the content and metadata of `from` (no bytes copied).
    CopyObject {
        from: String,
        to: String,
        #[serde(default)]
        expect: Expect,
    },
}

impl Op {
    /// The collection written: a caller's, or the reserved collection that
    /// holds edges, facts or events.
    pub fn collection(&self) -> &str {
        match self {
            Self::Put { collection, .. } | Self::Patch { collection, .. } | Self::Delete { collection, .. } => {
                collection
            }
            Self::Link { .. } | Self::Unlink { .. } => System::Edges.name(),
            Self::Assert { .. } | Self::Retract { .. } => System::Facts.name(),
            Self::Append { .. } => System::Events.name(),
            Self::Enqueue { .. } => System::Messages.name(),
            Self::Publish { .. } => System::Outbox.name(),
            Self::PutObject { .. } | Self::DeleteObject { .. } | Self::CopyObject { .. } => System::Objects.name(),
        }
    }
    /// The document id of a document operation; empty for the others.
    pub fn id(&self) -> &str {
        match self {
            Self::Put { id, .. } | Self::Patch { id, .. } | Self::Delete { id, .. } => id,
            _ => "",
        }
    }
    /// Whether this writes a caller's document (put, patch, delete).
    pub fn is_document_op(&self) -> bool {
        matches!(self, Self::Put { .. } | Self::Patch { .. } | Self::Delete { .. })
    }
    pub(crate) fn ttl_seconds(&self) -> Option<u64> {
        match self {
            Self::Put { ttl_seconds, .. } | Self::Patch { ttl_seconds, .. } => *ttl_seconds,
            _ => None,
        }
    }
}

/// Checks a time-to-live given by a caller.
pub(crate) fn check_ttl(ttl: Option<u64>) -> Result<()> {
    match ttl {
        Some(0) => Err(Error::invalid("ttl_seconds must be at least 1")),
        Some(t) if t > TTL_SECONDS_MAX => Err(Error::invalid(format!("ttl_seconds must be at most {TTL_SECONDS_MAX}"))),
        _ => Ok(()),
    }
}

/// Options of a single-document write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    pub expect: Expect,
    pub ttl_seconds: Option<u64>,
    /// Repeats with the same key and request return the first result.
    pub idempotency_key: Option<String>,
}

impl WriteOptions {
    pub fn expect(expect: Expect) -> Self {
        Self { expect, ..Self::default() }
    }
    pub fn idempotent(key: impl Into<String>) -> Self {
        Self { idempotency_key: Some(key.into()), ..Self::default() }
    }
}

/// The outcome of one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpResult {
    pub collection: String,
    pub id: String,
    /// Version after the operation (0 after a delete).
    pub version: u64,
    /// Change-log position of the operation's entry.
    pub position: u64,
}

/// The outcome of a committed transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommitResult {
    pub results: Vec<OpResult>,
    /// Position of the transaction's last change-log entry.
    pub position: u64,
    /// True when this is the remembered result of an earlier request with
    /// the same idempotency key; nothing was written this time.
    #[serde(default)]
    pub replayed: bool,
}

/// The outcome of a single-document write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WriteResult {
    pub collection: String,
    pub id: String,
    pub version: u64,
    pub position: u64,
    #[serde(default)]
    pub replayed: bool,
}

impl CommitResult {
    pub(crate) fn single(self) -> Result<WriteResult> {
        let replayed = self.replayed;
        let r = self.results.into_iter().next().ok_or_else(|| Error::internal("commit returned no result"))?;
        Ok(WriteResult { collection: r.collection, id: r.id, version: r.version, position: r.position, replayed })
    }
}

/// Operations collected by [`crate::Space::transaction`].
#[derive(Debug, Default)]
pub struct Batch {
    pub(crate) ops: Vec<Op>,
}

impl Batch {
    pub fn put(&mut self, collection: &str, id: &str, body: Value) -> &mut Self {
        self.push(Op::Put {
            collection: collection.into(),
            id: id.into(),
            body,
            expect: Expect::Any,
            ttl_seconds: None,
        })
    }
    pub fn put_if(&mut self, collection: &str, id: &str, body: Value, expect: Expect) -> &mut Self {
        self.push(Op::Put { collection: collection.into(), id: id.into(), body, expect, ttl_seconds: None })
    }
    pub fn patch(&mut self, collection: &str, id: &str, patch: Value) -> &mut Self {
        self.push(Op::Patch {
            collection: collection.into(),
            id: id.into(),
            patch,
            expect: Expect::Any,
            ttl_seconds: None,
        })
    }
    pub fn delete(&mut self, collection: &str, id: &str) -> &mut Self {
        self.push(Op::Delete { collection: collection.into(), id: id.into(), expect: Expect::Any })
    }
    pub fn link(&mut self, edge: EdgeInput) -> &mut Self {
        self.push(Op::Link { edge })
    }
    pub fn assert_fact(&mut self, fact: FactInput) -> &mut Self {
        self.push(Op::Assert { fact })
    }
    pub fn append(&mut self, stream: &str, request: AppendRequest) -> &mut Self {
        self.push(Op::Append { stream: stream.into(), request })
    }
    pub fn publish(&mut self, topic: &str, payload: Value) -> &mut Self {
        self.push(Op::Publish { topic: topic.into(), payload })
    }
    pub fn enqueue(&mut self, queue: &str, message: MessageInput) -> &mut Self {
        self.push(Op::Enqueue { queue: queue.into(), message })
    }
    pub fn push(&mut self, op: Op) -> &mut Self {
        self.ops.push(op);
        self
    }
}
