//! The filter language: parsing from JSON, validation, and evaluation.
//!
//! Syntax (MongoDB-like, so it reads familiar):
//! `{"status": "open", "age": {"$gte": 18, "$lt": 65}, "$or": [{...}, {...}]}`.
//! Operators: `$eq $ne $lt $lte $gt $gte $in $nin $contains $exists $prefix`
//! on fields; `$and $or $not` to combine. Errors name the offending part as a
//! location such as `filter.$or[1].age.$gt`.
//!
//! Semantics: comparisons (`$lt`…) hold only between two numbers (by exact
//! value: 64-bit integers against floats without rounding) or two strings
//! (bytewise); `$eq null` matches an explicit null, not a missing
//! field (use `$exists`); `$ne` and `$nin` match missing fields; `$contains`
//! tests array membership or a substring of a string. Arrays are not
//! traversed implicitly.

use crate::limits::{FILTER_DEPTH_MAX, FILTER_IN_VALUES_MAX, FILTER_NODES_MAX};
use crate::number;
use crate::path::JsonPath;
use crate::{Error, Result};
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Matches every document.
    All,
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Cmp {
        path: JsonPath,
        op: CmpOp,
        value: Value,
    },
    In {
        path: JsonPath,
        values: Vec<Value>,
        negated: bool,
    },
    Exists {
        path: JsonPath,
        exists: bool,
    },
    Prefix {
        path: JsonPath,
        prefix: String,
    },
    Contains {
        path: JsonPath,
        value: Value,
    },
}

impl Filter {
    /// Parses and validates a filter given as JSON (`null` or `{}` = all).
    pub fn parse(json: &Value) -> Result<Self> {
        let mut budget = FILTER_NODES_MAX;
        match json {
            Value::Null => Ok(Self::All),
            _ => Parser { budget: &mut budget }.object(json, "filter", 0),
        }
    }

    /// Whether `doc` satisfies the filter.
    pub fn matches(&self, doc: &Value) -> bool {
        match self {
            Self::All => true,
            Self::And(fs) => fs.iter().all(|f| f.matches(doc)),
            Self::Or(fs) => fs.iter().any(|f| f.matches(doc)),
            Self::Not(f) => !f.matches(doc),
            Self::Cmp { path, op, value } => compare(path.lookup(doc), *op, value),
            Self::In { path, values, negated } => {
                let found = path.lookup(doc).is_some_and(|v| values.iter().any(|x| json_eq(v, x)));
                found != *negated
            }
            Self::Exists { path, exists } => path.lookup(doc).is_some() == *exists,
            Self::Prefix { path, prefix } => {
                matches!(path.lookup(doc), Some(Value::String(s)) if s.starts_with(prefix.as_str()))
            }
            Self::Contains { path, value } => contains(path.lookup(doc), value),
        }
    }

    /// Top-level conjuncts (a non-`And` filter is its own single conjunct).
    pub fn conjuncts(&self) -> Vec<&Filter> {
        match self {
            Self::And(fs) => fs.iter().flat_map(Filter::conjuncts).collect(),
            Self::All => Vec::new(),
            other => vec![other],
        }
    }
}

struct Parser<'b> {
    budget: &'b mut usize,
}

impl Parser<'_> {
    fn node(&mut self, at: &str, depth: usize) -> Result<()> {
        if depth > FILTER_DEPTH_MAX {
            return Err(Error::invalid(format!("{at}: filter nests deeper than {FILTER_DEPTH_MAX} levels")));
        }
        if *self.budget == 0 {
            return Err(Error::invalid(format!("{at}: filter has more than {FILTER_NODES_MAX} conditions")));
        }
        *self.budget -= 1;
        Ok(())
    }

    fn object(&mut self, json: &Value, at: &str, depth: usize) -> Result<Filter> {
        self.node(at, depth)?;
        let Value::Object(map) = json else {
            return Err(Error::invalid(format!("{at}: expected an object, got {}", type_name(json))));
        };
        let mut parts = Vec::with_capacity(map.len());
        for (key, value) in map {
            let here = format!("{at}.{key}");
            parts.push(match key.as_str() {
                "$and" | "$or" => self.list(key, value, &here, depth + 1)?,
                "$not" => Filter::Not(Box::new(self.object(value, &here, depth + 1)?)),
                k if k.starts_with('$') => {
                    return Err(Error::invalid(format!(
                        "{here}: unknown operator {k:?} (fields cannot start with '$')"
                    )));
                }
                field => self.field(field, value, &here, depth + 1)?,
            });
        }
        Ok(collapse(parts))
    }

    fn list(&mut self, op: &str, value: &Value, at: &str, depth: usize) -> Result<Filter> {
        let Value::Array(items) = value else {
            return Err(Error::invalid(format!("{at}: {op} expects an array of filters, got {}", type_name(value))));
        };
        if items.is_empty() {
            return Err(Error::invalid(format!("{at}: {op} needs at least one filter")));
        }
        let parsed = items
            .iter()
            .enumerate()
            .map(|(i, f)| self.object(f, &format!("{at}[{i}]"), depth))
            .collect::<Result<Vec<_>>>()?;
        Ok(if op == "$and" { Filter::And(parsed) } else { Filter::Or(parsed) })
    }

    fn field(&mut self, field: &str, value: &Value, at: &str, depth: usize) -> Result<Filter> {
        let path = JsonPath::parse(field).map_err(|e| e.context(at))?;
        match value {
            Value::Object(ops) if !ops.is_empty() && ops.keys().all(|k| k.starts_with('$')) => {
                self.operators(&path, ops, at, depth)
            }
            Value::Object(ops) if ops.keys().any(|k| k.starts_with('$')) => {
                Err(Error::invalid(format!("{at}: cannot mix operators and fields in one object")))
            }
            _ => {
                // An implicit `$eq` is a condition like any other.
                self.node(at, depth)?;
                Ok(Filter::Cmp { path, op: CmpOp::Eq, value: value.clone() })
            }
        }
    }

    fn operators(&mut self, path: &JsonPath, ops: &Map<String, Value>, at: &str, depth: usize) -> Result<Filter> {
        let mut parts = Vec::with_capacity(ops.len());
        for (op, operand) in ops {
            let here = format!("{at}.{op}");
            self.node(&here, depth)?;
            parts.push(operator(path.clone(), op, operand, &here)?);
        }
        Ok(collapse(parts))
    }
}

fn operator(path: JsonPath, op: &str, v: &Value, at: &str) -> Result<Filter> {
    let cmp = |op| Filter::Cmp { path: path.clone(), op, value: v.clone() };
    Ok(match op {
        "$eq" => cmp(CmpOp::Eq),
        "$ne" => cmp(CmpOp::Ne),
        "$lt" | "$lte" | "$gt" | "$gte" => {
            if !(v.is_number() || v.is_string()) {
                return Err(Error::invalid(format!("{at}: expects a number or a string, got {}", type_name(v))));
            }
            cmp(match op {
                "$lt" => CmpOp::Lt,
                "$lte" => CmpOp::Lte,
                "$gt" => CmpOp::Gt,
                _ => CmpOp::Gte,
            })
        }
        "$in" | "$nin" => Filter::In { path, values: in_values(v, at)?, negated: op == "$nin" },
        "$exists" => match v {
            Value::Bool(b) => Filter::Exists { path, exists: *b },
            _ => return Err(Error::invalid(format!("{at}: expects true or false, got {}", type_name(v)))),
        },
        "$prefix" => match v {
            Value::String(s) => Filter::Prefix { path, prefix: s.clone() },
            _ => return Err(Error::invalid(format!("{at}: expects a string, got {}", type_name(v)))),
        },
        "$contains" => Filter::Contains { path, value: v.clone() },
        other => return Err(Error::invalid(format!("{at}: unknown operator {other:?}"))),
    })
}

fn in_values(v: &Value, at: &str) -> Result<Vec<Value>> {
    match v {
        Value::Array(a) if a.len() <= FILTER_IN_VALUES_MAX => Ok(a.clone()),
        Value::Array(a) => {
            Err(Error::invalid(format!("{at}: list has {} values; the limit is {FILTER_IN_VALUES_MAX}", a.len())))
        }
        _ => Err(Error::invalid(format!("{at}: expects an array, got {}", type_name(v)))),
    }
}

fn collapse(mut parts: Vec<Filter>) -> Filter {
    match parts.len() {
        0 => Filter::All,
        1 => parts.pop().expect("one element"),
        _ => Filter::And(parts),
    }
}

/// JSON type name for error messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Orders two numbers (by exact value, see [`number::compare`]) or two
/// strings (bytewise); `None` across types.
pub fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Some(number::compare(x, y)),
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

/// JSON equality where numbers compare by value (1 == 1.0).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => order(a, b) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn compare(field: Option<&Value>, op: CmpOp, value: &Value) -> bool {
    match op {
        CmpOp::Eq => field.is_some_and(|f| json_eq(f, value)),
        CmpOp::Ne => !field.is_some_and(|f| json_eq(f, value)),
        _ => {
            let Some(ord) = field.and_then(|f| order(f, value)) else { return false };
            match op {
                CmpOp::Lt => ord.is_lt(),
                CmpOp::Lte => ord.is_le(),
                CmpOp::Gt => ord.is_gt(),
                _ => ord.is_ge(),
            }
        }
    }
}

fn contains(field: Option<&Value>, value: &Value) -> bool {
    match (field, value) {
        (Some(Value::Array(items)), _) => items.iter().any(|i| json_eq(i, value)),
        (Some(Value::String(s)), Value::String(sub)) => s.contains(sub.as_str()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(filter: Value, doc: Value) -> bool {
        Filter::parse(&filter).expect("valid filter").matches(&doc)
    }

    #[test]
    fn operators() {
        let d = json!({"a": 5, "s": "hello", "t": ["x", "y"], "n": null, "o": {"p": 1.0}});
        assert!(m(json!({"a": 5}), d.clone()));
        assert!(m(json!({"a": 5.0}), d.clone()));
        assert!(m(json!({"o.p": 1}), d.clone()));
        assert!(m(json!({"a": {"$gt": 4, "$lte": 5}}), d.clone()));
        assert!(!m(json!({"a": {"$gt": "4"}}), d.clone()));
        assert!(m(json!({"s": {"$prefix": "he"}}), d.clone()));
        assert!(m(json!({"s": {"$contains": "ell"}}), d.clone()));
        assert!(m(json!({"t": {"$contains": "y"}}), d.clone()));
        assert!(m(json!({"a": {"$in": [1, 5]}}), d.clone()));
        assert!(m(json!({"zz": {"$nin": [1]}}), d.clone()));
        assert!(m(json!({"zz": {"$ne": 1}}), d.clone()));
        assert!(m(json!({"n": null}), d.clone()));
        assert!(!m(json!({"zz": null}), d.clone()));
        assert!(m(json!({"n": {"$exists": true}, "zz": {"$exists": false}}), d.clone()));
        assert!(m(json!({"$or": [{"a": 1}, {"s": "hello"}]}), d.clone()));
        assert!(m(json!({"$not": {"a": 1}}), d.clone()));
        assert!(m(json!({}), d.clone()));
        assert!(m(json!({"t": ["x", "y"]}), d));
    }

    /// Issue 12: above 2^53 integers and floats compared through f64.
    #[test]
    fn numbers_compare_exactly_above_2_pow_53() {
        let (a, b) = (json!({"v": 9_007_199_254_740_993_u64}), json!({"v": 9_007_199_254_740_992_u64}));
        let eq = json!({"v": 9_007_199_254_740_992.0});
        assert!(!m(eq.clone(), a.clone()), "2^53 + 1 is not 2^53");
        assert!(m(eq, b.clone()));
        let gt = json!({"v": {"$gt": 9_007_199_254_740_992.0}});
        assert!(m(gt.clone(), a.clone()), "2^53 + 1 > 2^53");
        assert!(!m(gt, b.clone()));
        assert!(m(json!({"v": {"$lt": 9_007_199_254_740_993_u64}}), b.clone()));
        assert!(m(json!({"v": {"$in": [1, 9_007_199_254_740_993_u64]}}), a.clone()));
        assert!(!m(json!({"v": {"$in": [1, 9_007_199_254_740_993_u64]}}), b));
        assert!(m(json!({"t": {"$contains": 9_007_199_254_740_993_u64}}), json!({"t": [a["v"].clone()]})));
    }

    #[test]
    fn numbers_at_the_64_bit_extremes() {
        let umax = json!({"v": u64::MAX});
        assert!(m(json!({"v": {"$gt": i64::MAX}}), umax.clone()), "u64 above i64::MAX");
        assert!(m(json!({"v": {"$gt": u64::MAX - 1}}), umax.clone()));
        assert!(m(json!({"v": {"$lt": 1.844_674_407_370_955_2e19}}), umax.clone()), "below 2^64 as a float");
        assert!(!m(json!({"v": 1.844_674_407_370_955_2e19}), umax.clone()));
        let imin = json!({"v": i64::MIN});
        assert!(m(json!({"v": -9.223_372_036_854_776e18}), imin.clone()), "-2^63 is exact in f64");
        assert!(m(json!({"v": {"$lt": i64::MIN + 1}}), imin.clone()));
        assert!(m(json!({"v": {"$lt": u64::MAX}}), imin.clone()));
        assert!(!m(json!({"v": {"$gt": -9.223_372_036_854_776e18}}), imin));
        assert!(m(json!({"v": 1}), json!({"v": 1.0})), "1 == 1.0");
        assert!(m(json!({"v": {"$gt": 1}}), json!({"v": 1.5})));
        assert!(m(json!({"v": {"$lt": 2}}), json!({"v": 1.5})));
    }

    #[test]
    fn errors_name_the_part() {
        let cases = [
            (json!({"age": {"$gt": {}}}), "filter.age.$gt"),
            (json!({"$or": [{"a": 1}, {"b": {"$in": 3}}]}), "filter.$or[1].b.$in"),
            (json!({"a": {"$regex": "x"}}), "filter.a.$regex"),
            (json!({"$foo": 1}), "filter.$foo"),
            (json!([1]), "filter"),
            (json!({"a": {"$exists": 1}}), "filter.a.$exists"),
            (json!({"$and": []}), "filter.$and"),
        ];
        for (f, at) in cases {
            let err = Filter::parse(&f).expect_err("must be rejected");
            assert!(err.message().starts_with(at), "{} does not start with {at}", err.message());
        }
    }

    #[test]
    fn limits() {
        let mut f = json!({"a": 1});
        for _ in 0..FILTER_DEPTH_MAX + 1 {
            f = json!({"$not": f});
        }
        assert!(Filter::parse(&f).is_err());
        let wide: Vec<Value> = (0..FILTER_NODES_MAX + 1).map(|i| json!({"a": i})).collect();
        assert!(Filter::parse(&json!({"$or": wide})).is_err());
    }
}
