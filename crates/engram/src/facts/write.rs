//! Fact writes inside a transaction: assert (with functional predicates
//! closing the previous value) and retract.
//!
//! Invariant: rows are never changed except to set `superseded_hlc` once.
//! A change of belief supersedes rows and records replacements stamped with
//! the same transaction time, so "as known at T" reads the rows with
//! `recorded_hlc <= T < superseded_hlc`.

use crate::apply::Writer;
use crate::facts::types::{Fact, FactInput, Term};
use crate::system::{System, key_prefix};
use engram_core::backend::StoredDoc;
use engram_core::hlc::physical_ms;
use engram_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// A fact row as stored in `_facts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FactRow {
    pub subject: Term,
    /// The subject's index key (see [`Term::key`]).
    pub skey: String,
    pub predicate: String,
    pub object: Term,
    pub valid_from: i64,
    pub valid_until: Option<i64>,
    pub recorded_hlc: u64,
    pub superseded_hlc: Option<u64>,
}

impl FactRow {
    pub fn parse(doc: &StoredDoc) -> Result<Self> {
        serde_json::from_str(&doc.body)
            .map_err(|e| Error::corrupted(format!("stored fact {:?} is malformed: {e}", doc.id)))
    }

    pub fn to_fact(&self, id: &str) -> Fact {
        Fact {
            id: id.to_owned(),
            subject: self.subject.clone(),
            predicate: self.predicate.clone(),
            object: self.object.clone(),
            valid_from_ms: self.valid_from,
            valid_until_ms: self.valid_until,
            recorded_at_ms: physical_ms(self.recorded_hlc),
            superseded_at_ms: self.superseded_hlc.map(physical_ms),
        }
    }

    /// Valid at some time in [from, until).
    fn overlaps(&self, from: i64, until: Option<i64>) -> bool {
        until.is_none_or(|u| self.valid_from < u) && self.valid_until.is_none_or(|ru| from < ru)
    }

    /// Valid over all of [from, until).
    fn covers(&self, from: i64, until: Option<i64>) -> bool {
        self.valid_from <= from
            && match (self.valid_until, until) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(ru), Some(u)) => ru >= u,
            }
    }
}

impl Writer<'_> {
    fn check_term(&mut self, term: &Term, what: &str) -> Result<()> {
        match term {
            Term::Node(node) => self.check_endpoint(node, what),
            Term::Value { .. } => Ok(()),
        }
    }

    /// Records a fact; returns it (or the equal current fact it repeats)
    /// with the change-log position of the last entry written.
    pub fn assert_fact(&mut self, input: &FactInput) -> Result<(Fact, u64)> {
        input.validate()?;
        self.check_term(&input.subject, "subject")?;
        self.check_term(&input.object, "object")?;
        let facts = self.system_created(System::Facts)?;
        let skey = input.subject.key()?;
        let from = input.valid_from_ms.unwrap_or(i64::try_from(self.now_ms).unwrap_or(i64::MAX));
        let until = input.valid_until_ms;
        if until.is_some_and(|u| u <= from) {
            return Err(Error::invalid("valid_until_ms must be after valid_from_ms"));
        }
        let hlc = self.tick();
        let mut position = 0;
        if input.functional {
            let rows = self.scan_prefix(&facts, "subject_predicate", key_prefix(&[&skey, &input.predicate]))?;
            let mut current = Vec::new();
            for doc in rows {
                let row = FactRow::parse(&doc)?;
                if row.superseded_hlc.is_none() && row.overlaps(from, until) {
                    current.push((doc.id, row));
                }
            }
            // Repeating the current value changes nothing (a retried agent).
            if let [(id, row)] = current.as_slice()
                && row.object == input.object
                && row.covers(from, until)
            {
                let head = self.tx.change_head(self.space)?.position;
                return Ok((row.to_fact(id), head));
            }
            for (id, row) in current {
                position = self.close(&facts, &id, row, from, until, hlc)?;
            }
        }
        let row = FactRow {
            subject: input.subject.clone(),
            skey,
            predicate: input.predicate.clone(),
            object: input.object.clone(),
            valid_from: from,
            valid_until: until,
            recorded_hlc: hlc,
            superseded_hlc: None,
        };
        let id = uuid::Uuid::now_v7().to_string();
        position = position.max(self.put_fact(&facts, &id, &row)?);
        Ok((row.to_fact(&id), position))
    }

    /// Supersedes `row` and records what remains of it outside [from, until).
    fn close(
        &mut self,
        facts: &crate::catalog::Compiled,
        id: &str,
        mut row: FactRow,
        from: i64,
        until: Option<i64>,
        hlc: u64,
    ) -> Result<u64> {
        let before =
            (row.valid_from < from).then(|| FactRow { valid_until: Some(from), recorded_hlc: hlc, ..row.clone() });
        let after = until.filter(|&u| row.valid_until.is_none_or(|ru| ru > u)).map(|u| FactRow {
            valid_from: u,
            recorded_hlc: hlc,
            ..row.clone()
        });
        row.superseded_hlc = Some(hlc);
        let mut position = self.put_fact(facts, id, &row)?;
        for part in [before, after].into_iter().flatten() {
            position = self.put_fact(facts, &uuid::Uuid::now_v7().to_string(), &part)?;
        }
        Ok(position)
    }

    fn put_fact(&mut self, facts: &crate::catalog::Compiled, id: &str, row: &FactRow) -> Result<u64> {
        let body = serde_json::to_value(row).expect("facts serialize");
        Ok(self.put_system(facts, id, &body, None)?.1)
    }

    /// Withdraws a current fact: with `valid_until`, it stays believed but
    /// valid only until then; without, it is no longer believed at all.
    pub fn retract_fact(&mut self, id: &str, valid_until: Option<i64>) -> Result<(Fact, u64)> {
        let missing = || Error::not_found(format!("fact {id:?} does not exist"));
        let facts = self.system(System::Facts, false)?.ok_or_else(missing)?;
        let doc = self.tx.doc(facts.row.id, id)?.ok_or_else(missing)?;
        let mut row = FactRow::parse(&doc)?;
        if row.superseded_hlc.is_some() {
            return Err(Error::conflict(format!("fact {id:?} was already superseded")));
        }
        if let Some(u) = valid_until
            && u <= row.valid_from
        {
            return Err(Error::invalid(format!("valid_until_ms ({u}) must be after the fact's valid_from_ms")));
        }
        let hlc = self.tick();
        let kept = valid_until.filter(|&u| row.valid_until.is_none_or(|ru| u < ru)).map(|u| FactRow {
            valid_until: Some(u),
            recorded_hlc: hlc,
            ..row.clone()
        });
        row.superseded_hlc = Some(hlc);
        let mut position = self.put_fact(&facts, id, &row)?;
        let mut result = row.to_fact(id);
        if let Some(k) = kept {
            let new_id = uuid::Uuid::now_v7().to_string();
            position = self.put_fact(&facts, &new_id, &k)?;
            result = k.to_fact(&new_id);
        }
        Ok((result, position))
    }
}
