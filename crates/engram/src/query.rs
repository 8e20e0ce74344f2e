//! Query requests and result pages.

use crate::space::Document;
use engram_core::limits::{OFFSET_MAX, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, SORT_FIELDS_MAX};
use engram_core::path::JsonPath;
use engram_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SortOrder {
    #[default]
    Asc,
    Desc,
}

/// One sort key: a JSON path and a direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SortField {
    pub field: String,
    #[serde(default)]
    pub order: SortOrder,
}

impl SortField {
    /// Parses `age` (ascending) or `-age` (descending).
    pub fn parse(s: &str) -> Self {
        match s.strip_prefix('-') {
            Some(f) => Self { field: f.to_owned(), order: SortOrder::Desc },
            None => Self { field: s.to_owned(), order: SortOrder::Asc },
        }
    }
}

/// A query over one collection.
///
/// Results are ordered by `sort` then by document id (descending ids when
/// every sort field is descending). Without `sort` the order is that of the
/// access path chosen (document ids, or an index's keys) and stable across
/// pages. Use `cursor` (keyset, stable under concurrent inserts) or `offset`
/// (for UIs, at most [`OFFSET_MAX`]), not both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Query {
    /// Filter expression; null or {} matches everything.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub filter: Value,
    #[serde(default)]
    pub sort: Vec<SortField>,
    /// Page size, 1 to 1000 (default 100).
    #[serde(default)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub offset: Option<usize>,
}

impl Query {
    pub fn filter(filter: Value) -> Self {
        Self { filter, ..Self::default() }
    }
    pub(crate) fn page_limit(&self) -> Result<usize> {
        match self.limit {
            None => Ok(PAGE_LIMIT_DEFAULT),
            Some(l) if (1..=PAGE_LIMIT_MAX).contains(&l) => Ok(l),
            Some(l) => Err(Error::invalid(format!("limit must be 1 to {PAGE_LIMIT_MAX}, got {l}"))),
        }
    }
    pub(crate) fn page_offset(&self) -> Result<usize> {
        match self.offset {
            Some(_) if self.cursor.is_some() => Err(Error::invalid("give either cursor or offset, not both")),
            Some(o) if o > OFFSET_MAX => {
                Err(Error::invalid(format!("offset must be at most {OFFSET_MAX}; use cursors to go further")))
            }
            o => Ok(o.unwrap_or(0)),
        }
    }
    pub(crate) fn sort_paths(&self) -> Result<Vec<(JsonPath, bool)>> {
        if self.sort.len() > SORT_FIELDS_MAX {
            return Err(Error::invalid(format!("sort: at most {SORT_FIELDS_MAX} fields")));
        }
        self.sort
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let p = JsonPath::parse(&s.field).map_err(|e| e.context(&format!("sort[{i}]")))?;
                Ok((p, s.order == SortOrder::Desc))
            })
            .collect()
    }
}

/// One page of query results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page {
    pub documents: Vec<Document>,
    /// Pass back as `cursor` for the next page; null at the end. A page may
    /// hold fewer than `limit` documents and still have a cursor when the
    /// per-request scan budget ran out.
    pub next_cursor: Option<String>,
}
