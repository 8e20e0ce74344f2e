//! Fact request and result types.

use crate::graph::types::NodeRef;
use engram_core::json::canonical;
use engram_core::limits::{DOC_ID_BYTES_MAX, FACTS_LIMIT_MAX};
use engram_core::names::check_label;
use engram_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A fact's subject or object: a document or a JSON value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Term {
    Node(NodeRef),
    Value {
        /// Any JSON value (a string, number, boolean, null, array or object).
        #[cfg_attr(feature = "openapi", schema(value_type = Value))]
        value: Value,
    },
}

impl Term {
    pub fn node(collection: &str, id: &str) -> Self {
        Self::Node(NodeRef::new(collection, id))
    }

    pub fn value(v: impl Into<Value>) -> Self {
        Self::Value { value: v.into() }
    }

    /// The term as an index key: documents and values never collide.
    pub(crate) fn key(&self) -> Result<String> {
        let key = match self {
            Self::Node(n) => format!("d:{}", n.key()),
            Self::Value { value } => format!("v:{}", canonical(value)),
        };
        if key.len() > DOC_ID_BYTES_MAX {
            return Err(Error::invalid(format!("a fact's subject is at most {DOC_ID_BYTES_MAX} bytes as a key")));
        }
        Ok(key)
    }

    pub(crate) fn validate(&self, what: &str) -> Result<()> {
        match self {
            Self::Node(n) => n.validate(what),
            Self::Value { .. } => Ok(()),
        }
    }
}

/// A statement to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FactInput {
    pub subject: Term,
    /// A label such as `works_at`.
    pub predicate: String,
    pub object: Term,
    /// Start of validity, ms since the Unix epoch (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from_ms: Option<i64>,
    /// End of validity, exclusive (default: open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until_ms: Option<i64>,
    /// The predicate has one value per subject at a time: asserting a new
    /// value closes the previous one's validity where they overlap.
    #[serde(default)]
    pub functional: bool,
}

impl FactInput {
    pub fn new(subject: Term, predicate: &str, object: Term) -> Self {
        Self {
            subject,
            predicate: predicate.to_owned(),
            object,
            valid_from_ms: None,
            valid_until_ms: None,
            functional: false,
        }
    }

    pub fn functional(mut self) -> Self {
        self.functional = true;
        self
    }

    pub fn valid_from(mut self, ms: i64) -> Self {
        self.valid_from_ms = Some(ms);
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        self.subject.validate("subject")?;
        self.object.validate("object")?;
        self.subject.key()?;
        check_label("predicate", &self.predicate)?;
        if let (Some(f), Some(u)) = (self.valid_from_ms, self.valid_until_ms)
            && u <= f
        {
            return Err(Error::invalid(format!("valid_until_ms ({u}) must be after valid_from_ms ({f})")));
        }
        Ok(())
    }
}

/// A recorded fact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Fact {
    pub id: String,
    pub subject: Term,
    pub predicate: String,
    pub object: Term,
    pub valid_from_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until_ms: Option<i64>,
    /// When the store recorded this row (transaction time).
    pub recorded_at_ms: u64,
    /// When a later write superseded this row, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_at_ms: Option<u64>,
}

/// A fact query about one subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FactQuery {
    pub subject: Option<Term>,
    /// Only this predicate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<String>,
    /// Facts valid at this time (default: now). Ignored with `all_valid_times`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_at_ms: Option<i64>,
    /// Every validity period instead of one point in valid time.
    #[serde(default)]
    pub all_valid_times: bool,
    /// As the store knew them at this past time (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_at_ms: Option<u64>,
    /// Facts returned at most (default and maximum 1,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl FactQuery {
    pub fn about(subject: Term) -> Self {
        Self { subject: Some(subject), ..Self::default() }
    }

    pub(crate) fn validate(&self) -> Result<(&Term, usize)> {
        let subject = self.subject.as_ref().ok_or_else(|| Error::invalid("a fact query needs a subject"))?;
        subject.validate("subject")?;
        subject.key()?;
        if let Some(p) = &self.predicate {
            check_label("predicate", p)?;
        }
        let limit = match self.limit {
            None => FACTS_LIMIT_MAX,
            Some(n) if n == 0 || n > FACTS_LIMIT_MAX => {
                return Err(Error::invalid(format!("limit must be 1 to {FACTS_LIMIT_MAX}, got {n}")));
            }
            Some(n) => n,
        };
        Ok((subject, limit))
    }
}

/// Facts found, oldest valid time first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Facts {
    pub facts: Vec<Fact>,
    /// True when more facts matched than the limit.
    pub truncated: bool,
}
