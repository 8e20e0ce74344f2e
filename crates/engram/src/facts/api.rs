//! The fact operations of a [`Space`]: assert, retract and bitemporal
//! queries about a subject.

use crate::facts::types::{Fact, FactInput, FactQuery, Facts};
use crate::facts::write::FactRow;
use crate::space::Space;
use crate::system::{System, key_prefix, scan_prefix};
use engram_core::{Error, Result};

/// Fact rows read per query at most before filtering by time; a subject
/// with more history than this needs a predicate.
const FACT_ROWS_SCANNED_MAX: usize = 100_000;

impl Space {
    /// Records a fact (see [`FactInput::functional`]).
    pub fn assert_fact(&self, fact: FactInput) -> Result<Fact> {
        self.write(move |w| w.assert_fact(&fact)).map(|(f, _)| f)
    }

    /// Withdraws a current fact, or ends its validity at `valid_until_ms`.
    pub fn retract_fact(&self, id: &str, valid_until_ms: Option<i64>) -> Result<Fact> {
        uuid::Uuid::parse_str(id).map_err(|_| Error::invalid(format!("invalid fact id {id:?}: expected a UUID")))?;
        let id = id.to_owned();
        self.write(move |w| w.retract_fact(&id, valid_until_ms)).map(|(f, _)| f)
    }

    /// Facts about a subject: by default those valid now as currently known;
    /// `valid_at_ms` moves valid time, `known_at_ms` moves transaction time.
    pub fn facts(&self, q: &FactQuery) -> Result<Facts> {
        let (subject, limit) = q.validate()?;
        let now = i64::try_from(self.inner.hlc.wall_ms()).unwrap_or(i64::MAX);
        let reader = self.inner.backend.reader()?;
        let Some(coll) = self.inner.reserved_collection(self.id, System::Facts)? else {
            return Ok(Facts { facts: Vec::new(), truncated: false });
        };
        let skey = subject.key()?;
        let prefix = match &q.predicate {
            Some(p) => key_prefix(&[&skey, p]),
            None => key_prefix(&[&skey]),
        };
        let docs = scan_prefix(&*reader, &coll.row, "subject_predicate", prefix, FACT_ROWS_SCANNED_MAX + 1)?;
        if docs.len() > FACT_ROWS_SCANNED_MAX {
            return Err(Error::too_large(format!(
                "the subject has more than {FACT_ROWS_SCANNED_MAX} fact rows; query one predicate"
            )));
        }
        // The last HLC value within the millisecond `known_at_ms`.
        let known = q.known_at_ms.map(|ms| ((ms.saturating_add(1)) << 16).saturating_sub(1));
        let valid_at = (!q.all_valid_times).then(|| q.valid_at_ms.unwrap_or(now));
        let mut rows = Vec::new();
        for doc in &docs {
            let row = FactRow::parse(doc)?;
            let believed = match known {
                None => row.superseded_hlc.is_none(),
                Some(t) => row.recorded_hlc <= t && row.superseded_hlc.is_none_or(|s| s > t),
            };
            let valid = valid_at.is_none_or(|t| row.valid_from <= t && row.valid_until.is_none_or(|u| t < u));
            if believed && valid {
                rows.push((doc.id.as_str(), row));
            }
        }
        rows.sort_by(|(ai, a), (bi, b)| {
            (&a.predicate, a.valid_from, a.recorded_hlc, ai).cmp(&(&b.predicate, b.valid_from, b.recorded_hlc, bi))
        });
        let truncated = rows.len() > limit;
        let facts = rows.into_iter().take(limit).map(|(id, r)| r.to_fact(id)).collect();
        Ok(Facts { facts, truncated })
    }
}
