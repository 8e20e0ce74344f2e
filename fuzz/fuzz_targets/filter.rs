//! The filter language: JSON → `Filter::parse` → `matches`; never panics, and every accepted filter is within FILTER_NODES_MAX conditions and FILTER_DEPTH_MAX levels.
//!
//! An input that is valid JSON is used as the filter as it is (the committed
//! seeds are readable filters). Any other input drives a structural generator
//! (`arbitrary::Unstructured`) that builds filter-shaped JSON: operators,
//! dotted paths, deep `$not`/`$and`/`$or` chains and wide lists, so that the
//! depth and size limits are reached, not only byte-level JSON.

#![no_main]

use arbitrary::{Result as ArbResult, Unstructured};
use engram_core::filter::Filter;
use engram_core::limits::{FILTER_DEPTH_MAX, FILTER_IN_VALUES_MAX, FILTER_NODES_MAX};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Number, Value, json};
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    let filter = match serde_json::from_slice::<Value>(data) {
        Ok(v) => v,
        Err(_) => match generate::filter(&mut Unstructured::new(data), 0) {
            Ok(v) => v,
            Err(_) => return,
        },
    };
    check(&filter);
});

/// Documents every accepted filter is evaluated against.
fn documents() -> &'static [Value] {
    static DOCS: OnceLock<Vec<Value>> = OnceLock::new();
    DOCS.get_or_init(|| {
        vec![
            json!({}),
            json!({"a": 5, "s": "hello", "t": ["x", "y", 1, null], "n": null, "o": {"p": 1.0, "q": [1, {"r": "z"}]}}),
            json!({"a": -1.5e300, "b": true, "s": "", "t": [], "group": "red", "score": 40, "name": "n100"}),
            json!({"a": {"b": [10, {"c": "x"}]}, "status": "open", "age": 18, "tags": ["x"], "0": 0}),
            json!({"a": u64::MAX, "s": "\u{0}\u{ffff}", "t": "x", "o": [], "x": [[1], {"y": 2}]}),
        ]
    })
}

fn check(json: &Value) {
    let parsed = Filter::parse(json);
    // Parsing is a function of its input.
    let again = Filter::parse(json);
    match (&parsed, &again) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "parse is not deterministic"),
        (Err(a), Err(b)) => assert_eq!(a.message(), b.message(), "parse is not deterministic"),
        _ => panic!("parse is not deterministic"),
    }
    match parsed {
        Err(e) => {
            // Errors name the offending part: `filter`, `filter.$or[1].age.$gt`, …
            assert!(e.message().starts_with("filter"), "error without a location: {}", e.message());
        }
        Ok(f) => {
            let conditions = conditions(&f);
            assert!(
                conditions <= FILTER_NODES_MAX,
                "accepted a filter with {conditions} conditions; the limit is {FILTER_NODES_MAX}"
            );
            let levels = levels(json);
            assert!(
                levels <= FILTER_DEPTH_MAX,
                "accepted a filter nested {levels} levels; the limit is {FILTER_DEPTH_MAX}"
            );
            for doc in documents() {
                let _ = f.matches(doc);
            }
            let _ = f.matches(json);
            let _ = f.conjuncts();
            if matches!(json, Value::Null) || json.as_object().is_some_and(Map::is_empty) {
                assert_eq!(f, Filter::All);
            }
        }
    }
}

/// Conditions (leaves) of a parsed filter.
fn conditions(f: &Filter) -> usize {
    match f {
        Filter::All => 0,
        Filter::And(fs) | Filter::Or(fs) => fs.iter().map(conditions).sum(),
        Filter::Not(f) => conditions(f),
        Filter::Cmp { .. }
        | Filter::In { .. }
        | Filter::Exists { .. }
        | Filter::Prefix { .. }
        | Filter::Contains { .. } => 1,
    }
}

/// Nesting of `$and` / `$or` / `$not` in a filter given as JSON.
fn levels(json: &Value) -> usize {
    let Value::Object(map) = json else { return 0 };
    map.iter()
        .map(|(k, v)| match (k.as_str(), v) {
            ("$and" | "$or", Value::Array(items)) => 1 + items.iter().map(levels).max().unwrap_or(0),
            ("$not", v) => 1 + levels(v),
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

mod generate {
    use super::*;

    const FIELDS: &[&str] = &[
        "a",
        "b",
        "s",
        "t",
        "n",
        "o",
        "o.p",
        "o.q.1.r",
        "a.b.0.c",
        "t.0",
        "x",
        "group",
        "score",
        "name",
        "status",
        "0",
        "a..b",
        "",
        ".a",
        "a.",
        "$a",
        "é.ü",
        "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q",
    ];
    const OPS: &[&str] = &[
        "$eq",
        "$ne",
        "$lt",
        "$lte",
        "$gt",
        "$gte",
        "$in",
        "$nin",
        "$contains",
        "$exists",
        "$prefix",
        "$regex",
        "$",
        "$and",
        "$not",
    ];
    const STRINGS: &[&str] = &["", "x", "he", "hello", "n1", "n100", "red", "open", "\u{0}", "é", "\u{10ffff}"];
    /// Deepest generated JSON value (serde_json refuses to parse past 128).
    const VALUE_DEPTH_MAX: usize = 100;
    /// Largest filter (in JSON nodes) a list repeats hundreds of times.
    const REPEATED_NODES_MAX: usize = 16;
    /// Deepest generated filter nesting (well past FILTER_DEPTH_MAX).
    const FILTER_GEN_DEPTH_MAX: usize = FILTER_DEPTH_MAX + 8;

    /// A filter object.
    pub fn filter(u: &mut Unstructured<'_>, depth: usize) -> ArbResult<Value> {
        if depth > FILTER_GEN_DEPTH_MAX || u.is_empty() {
            return Ok(json!({}));
        }
        // Sometimes not an object at all (or any JSON value).
        if u.ratio(1, 32)? {
            return value(u, 0);
        }
        let mut map = Map::new();
        let keys = u.int_in_range(0..=4)?;
        for _ in 0..keys {
            let (k, v) = entry(u, depth)?;
            map.insert(k, v);
        }
        Ok(Value::Object(map))
    }

    fn entry(u: &mut Unstructured<'_>, depth: usize) -> ArbResult<(String, Value)> {
        Ok(match u.int_in_range(0..=9)? {
            0 => (pick(u, &["$and", "$or"])?.to_owned(), Value::Array(list(u, depth)?)),
            1 => ("$not".to_owned(), filter(u, depth + 1)?),
            // A chain of combinators, possibly past the depth limit.
            2 => {
                let n = u.int_in_range(1..=FILTER_DEPTH_MAX as u32 + 4)?;
                let mut inner = filter(u, FILTER_GEN_DEPTH_MAX)?;
                for _ in 1..n {
                    inner = match u.int_in_range(0..=2)? {
                        0 => obj("$not", inner),
                        1 => obj("$and", Value::Array(vec![inner])),
                        _ => obj("$or", Value::Array(vec![obj("zz", json!(1)), inner])),
                    };
                }
                ("$not".to_owned(), inner)
            }
            // Many conditions in one object, possibly past the size limit.
            3 => {
                let n = count(u, FILTER_NODES_MAX)?;
                let explicit = u.arbitrary::<bool>()?;
                let map: Map<String, Value> =
                    (0..n).map(|i| (format!("f{i}"), if explicit { obj("$eq", json!(i)) } else { json!(i) })).collect();
                ("$and".to_owned(), Value::Array(vec![Value::Object(map)]))
            }
            4 => (key(u)?, value(u, 0)?),
            5 => (pick(u, OPS)?.to_owned(), value(u, 0)?),
            _ => (field(u)?, operand_object(u)?),
        })
    }

    /// Items of an `$and` / `$or` list: a few filters, or one small filter
    /// repeated many times (small, so that nested repeats cannot multiply).
    fn list(u: &mut Unstructured<'_>, depth: usize) -> ArbResult<Vec<Value>> {
        if u.ratio(1, 8)? {
            let item = filter(u, depth + 1)?;
            let n =
                if size(&item, REPEATED_NODES_MAX + 1) <= REPEATED_NODES_MAX { count(u, FILTER_NODES_MAX)? } else { 2 };
            return Ok(vec![item; n]);
        }
        let n = u.int_in_range(0..=4)?;
        (0..n).map(|_| filter(u, depth + 1)).collect()
    }

    /// The value of a field: usually operators, sometimes a plain value or a mix.
    fn operand_object(u: &mut Unstructured<'_>) -> ArbResult<Value> {
        match u.int_in_range(0..=5)? {
            0 => value(u, 0),
            1 => {
                let mut mixed = Map::new();
                mixed.insert("$eq".to_owned(), value(u, 0)?);
                mixed.insert("x".to_owned(), json!(1));
                Ok(Value::Object(mixed))
            }
            _ => {
                let mut ops = Map::new();
                for _ in 0..u.int_in_range(1..=3)? {
                    let op = pick(u, OPS)?;
                    ops.insert(op.to_owned(), operand(u, op)?);
                }
                Ok(Value::Object(ops))
            }
        }
    }

    /// An operand, usually of the type the operator expects.
    fn operand(u: &mut Unstructured<'_>, op: &str) -> ArbResult<Value> {
        if u.ratio(1, 6)? {
            return value(u, 0);
        }
        Ok(match op {
            "$lt" | "$lte" | "$gt" | "$gte" => {
                if u.arbitrary()? {
                    number(u)?
                } else {
                    Value::String(string(u)?)
                }
            }
            "$in" | "$nin" => {
                if u.ratio(1, 8)? {
                    let v = scalar(u)?;
                    let n = count(u, FILTER_IN_VALUES_MAX)?;
                    Value::Array(vec![v; n])
                } else {
                    Value::Array((0..u.int_in_range(0..=5)?).map(|_| scalar(u)).collect::<ArbResult<_>>()?)
                }
            }
            "$exists" => Value::Bool(u.arbitrary()?),
            "$prefix" => Value::String(string(u)?),
            _ => value(u, 0)?,
        })
    }

    fn field(u: &mut Unstructured<'_>) -> ArbResult<String> {
        if u.ratio(1, 4)? { key(u) } else { Ok(pick(u, FIELDS)?.to_owned()) }
    }

    fn key(u: &mut Unstructured<'_>) -> ArbResult<String> {
        if u.ratio(1, 16)? {
            // Around the path length limit.
            let n = u.int_in_range(250..=260)?;
            return Ok("a".repeat(n));
        }
        u.arbitrary()
    }

    fn string(u: &mut Unstructured<'_>) -> ArbResult<String> {
        if u.arbitrary()? { Ok(pick(u, STRINGS)?.to_owned()) } else { u.arbitrary() }
    }

    fn number(u: &mut Unstructured<'_>) -> ArbResult<Value> {
        Ok(match u.int_in_range(0..=4)? {
            0 => json!(u.int_in_range(-3i64..=100)?),
            1 => json!(u.arbitrary::<i64>()?),
            2 => json!(u.arbitrary::<u64>()?),
            3 => Number::from_f64(u.arbitrary::<f64>()?).map_or(Value::Null, Value::Number),
            _ => json!(f64::from(u.int_in_range(-4i32..=4)?) / 2.0),
        })
    }

    fn scalar(u: &mut Unstructured<'_>) -> ArbResult<Value> {
        Ok(match u.int_in_range(0..=3)? {
            0 => Value::Null,
            1 => Value::Bool(u.arbitrary()?),
            2 => number(u)?,
            _ => Value::String(string(u)?),
        })
    }

    /// Any JSON value, bounded in depth.
    pub fn value(u: &mut Unstructured<'_>, depth: usize) -> ArbResult<Value> {
        if depth >= VALUE_DEPTH_MAX || u.is_empty() {
            return scalar(u);
        }
        Ok(match u.int_in_range(0..=5)? {
            0 => Value::Array((0..u.int_in_range(0..=4)?).map(|_| value(u, depth + 1)).collect::<ArbResult<_>>()?),
            1 => {
                let mut m = Map::new();
                for _ in 0..u.int_in_range(0..=4)? {
                    m.insert(field(u)?, value(u, depth + 1)?);
                }
                Value::Object(m)
            }
            2 if u.ratio(1, 16)? => {
                // A deep value (nested arrays), as deep as JSON text may be.
                let n = u.int_in_range(1..=VALUE_DEPTH_MAX as u32)?;
                (0..n).fold(scalar(u)?, |v, _| Value::Array(vec![v]))
            }
            _ => scalar(u)?,
        })
    }

    /// `{key: value}` (without `json!`, which copies its operands).
    fn obj(key: &str, value: Value) -> Value {
        let mut m = Map::new();
        m.insert(key.to_owned(), value);
        Value::Object(m)
    }

    /// How many of something: usually a few, sometimes just around `limit`.
    fn count(u: &mut Unstructured<'_>, limit: usize) -> ArbResult<usize> {
        if u.ratio(1, 4)? { u.int_in_range(limit - 3..=limit + 3) } else { u.int_in_range(0..=8) }
    }

    /// JSON nodes in `v`, counting no further than `cap`.
    fn size(v: &Value, cap: usize) -> usize {
        let mut n = 1;
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(a) => Box::new(a.iter()),
            Value::Object(m) => Box::new(m.values()),
            _ => return n,
        };
        for c in children {
            if n >= cap {
                break;
            }
            n += size(c, cap - n);
        }
        n
    }

    fn pick<'a>(u: &mut Unstructured<'_>, from: &[&'a str]) -> ArbResult<&'a str> {
        u.choose(from).copied()
    }
}
