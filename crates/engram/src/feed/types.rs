//! Change-feed filters, entries, pages and durable consumers.

use engram_core::changelog::ChangeOp;
use engram_core::limits::FEED_FILTER_NAMES_MAX;
use engram_core::names::{CollectionName, check_label};
use engram_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a feed follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FeedSource {
    /// Changes to the space's collections (puts, patches, deletes, expiries).
    #[default]
    Documents,
    /// Outbox messages published in transactions (`Op::Publish`).
    Outbox,
    /// Object puts, deletes and expiries: `id` is the object's key; with
    /// `include_documents`, `document` is the object's metadata (digest,
    /// size, content type, user metadata) when still current.
    Objects,
}

/// A document change a feed can select.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FeedOp {
    Put,
    Patch,
    Delete,
    Expire,
}

impl FeedOp {
    pub(crate) fn of(op: ChangeOp) -> Option<Self> {
        Some(match op {
            ChangeOp::Put => Self::Put,
            ChangeOp::Patch => Self::Patch,
            ChangeOp::Delete => Self::Delete,
            ChangeOp::Expire => Self::Expire,
            _ => return None,
        })
    }
}

/// Which entries of the log a feed returns. Entries the filter leaves out
/// are skipped, never returned; a page's `next_after` moves past them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedFilter {
    pub source: FeedSource,
    /// Documents: only these collections (all when empty).
    pub collections: Vec<String>,
    /// Documents and objects: only these operations (all when empty).
    pub ops: Vec<FeedOp>,
    /// Outbox: only these topics (all when empty).
    pub topics: Vec<String>,
    /// Documents and objects: attach each document (an object's metadata)
    /// as it was written, when the entry is still its current version
    /// (otherwise `document` is absent and `superseded` is true).
    pub include_documents: bool,
}

impl FeedFilter {
    /// Checks the filter: names, sizes, and fields that match its source.
    pub fn check(&self) -> Result<()> {
        let n = self.collections.len() + self.topics.len() + self.ops.len();
        if n > FEED_FILTER_NAMES_MAX {
            return Err(Error::invalid(format!("a feed filter names at most {FEED_FILTER_NAMES_MAX} items")));
        }
        for c in &self.collections {
            CollectionName::new(c).map_err(|e| e.context("collections"))?;
        }
        for t in &self.topics {
            check_topic(t)?;
        }
        match self.source {
            FeedSource::Documents if !self.topics.is_empty() => {
                Err(Error::invalid("topics select outbox messages: set source to \"outbox\""))
            }
            FeedSource::Outbox if !self.collections.is_empty() || !self.ops.is_empty() => {
                Err(Error::invalid("collections and ops select document changes: set source to \"documents\""))
            }
            FeedSource::Objects if !self.collections.is_empty() || !self.topics.is_empty() => Err(Error::invalid(
                "an objects feed selects by ops only (collections and topics are for documents and outbox)",
            )),
            _ => Ok(()),
        }
    }
}

/// Checks an outbox topic: a label (`order.created`).
pub fn check_topic(topic: &str) -> Result<()> {
    check_label("topic", topic)
}

/// One entry of a feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedEntry {
    /// The entry's change-log position.
    pub position: u64,
    /// When it was written (ms since the Unix epoch).
    pub at_ms: u64,
    pub op: FeedOp,
    /// Documents: the collection; outbox: absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// The document's (or outbox message's) id.
    pub id: String,
    /// The document's version after the change (0 after a delete).
    pub version: u64,
    /// Documents with `include_documents`: the body at this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub document: Option<Value>,
    /// True when `include_documents` was asked but the document has changed
    /// since (or is gone): a later entry carries the newer state. For an
    /// outbox message: its payload is past its retention (7 days).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub superseded: bool,
    /// Outbox: the message's topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Outbox: the message's payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Value>))]
    pub payload: Option<Value>,
}

/// A page of a feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedPage {
    pub entries: Vec<FeedEntry>,
    /// Pass as `after` to continue: the last position read, matched or not.
    pub next_after: u64,
    /// The log's head when the page was read.
    pub head: u64,
}

/// A durable consumer as stored and described.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsumerInfo {
    pub name: String,
    pub filter: FeedFilter,
    /// The last position acknowledged: polling resumes after it.
    pub position: u64,
    /// The log's head when read.
    pub head: u64,
    /// Entries (of any kind) between the position and the head.
    pub lag: u64,
}

/// Where a new consumer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ConsumerStart {
    /// The start of the log (default).
    #[default]
    Beginning,
    /// The head at creation: only later entries.
    End,
}

/// Creates a durable consumer. (Defaults per field, not for the whole
/// struct: a schema default on a field holding an object is refused by
/// client generators.)
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewConsumer {
    /// What the consumer follows (all document changes when absent).
    #[serde(default)]
    pub filter: FeedFilter,
    #[serde(default)]
    pub start: ConsumerStart,
}
