//! Conformance case for numbers beyond f64's exact integers (issue 12):
//! filters, indexed and non-indexed sorts, index lookups and cursors all
//! order 64-bit integers and floats by exact value.

use engram::{CollectionSpec, IndexSpec, Query, SortField, Space, WriteOptions};
use serde_json::{Value, json};

use crate::conformance::{Make, setup};

const P53: u64 = 1 << 53;

/// (id, value): integers around 2^53 and the 64-bit extremes, and floats
/// equal to or between them.
fn values() -> Vec<(&'static str, Value)> {
    vec![
        ("a", json!(P53 - 1)),
        ("b", json!(P53)),
        ("c", json!(P53 + 1)),
        ("d", json!(P53 + 2)),
        ("e", json!(9_007_199_254_740_992.0)), // 2^53 as a float: equals b
        ("f", json!(u64::MAX)),
        ("g", json!(i64::MIN)),
        ("h", json!(i64::MAX)),
        ("i", json!(9.223_372_036_854_776e18)), // 2^63 as a float: between h and f
    ]
}

/// Every id in ascending order of value (ties by id).
const ASCENDING: [&str; 9] = ["g", "a", "b", "e", "c", "d", "h", "i", "f"];

/// Every page of a query, `limit` documents at a time, following cursors.
fn paged(s: &Space, coll: &str, filter: &Value, sort: &str, limit: usize) -> Vec<String> {
    let sort = if sort.is_empty() { Vec::new() } else { vec![SortField::parse(sort)] };
    let mut q = Query { filter: filter.clone(), sort, limit: Some(limit), ..Query::default() };
    let mut out = Vec::new();
    loop {
        let page = s.query(coll, &q).expect("query page");
        out.extend(page.documents.into_iter().map(|d| d.id));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return out,
        }
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

pub fn numbers_compare_exactly_beyond_2_pow_53(make: &Make) {
    let (_fx, s) = setup(make);
    let index = |name: &str, paths: &[&str]| IndexSpec {
        id: 0,
        name: name.into(),
        paths: paths.iter().map(|p| p.to_string()).collect(),
    };
    let spec = CollectionSpec {
        indexes: vec![index("by_v", &["v"]), index("by_k_v", &["k", "v"])],
        ..CollectionSpec::default()
    };
    s.create_collection("indexed", spec).expect("create indexed");
    for coll in ["indexed", "plain"] {
        for (id, v) in values() {
            s.put(coll, id, json!({"k": "x", "v": v}), WriteOptions::default()).expect("put");
        }
    }
    let f = s.get("plain", "f").expect("f").body["v"].clone();
    assert_eq!((f.as_u64(), s.get("plain", "g").expect("g").body["v"].as_i64()), (Some(u64::MAX), Some(i64::MIN)));
    assert!(s.get("indexed", "e").expect("e").body["v"].is_f64(), "a float stays a float");

    let cases = [
        // The examples: 2^53 + 1 is neither equal to nor below 2^53.
        (json!({"v": 9_007_199_254_740_992.0}), vec!["b", "e"]),
        (json!({"v": {"$gt": 9_007_199_254_740_992.0}}), vec!["c", "d", "f", "h", "i"]),
        (json!({"v": P53 + 1}), vec!["c"]),
        (json!({"k": "x", "v": P53 + 1}), vec!["c"]),
        (json!({"k": "x", "v": P53 + 2}), vec!["d"]),
        (json!({"v": u64::MAX}), vec!["f"]),
        (json!({"v": i64::MIN}), vec!["g"]),
        (json!({"v": -9.223_372_036_854_776e18}), vec!["g"]),
        (json!({"v": {"$gte": P53 + 1, "$lt": u64::MAX}}), vec!["c", "d", "h", "i"]),
        (json!({"v": {"$lte": P53}}), vec!["a", "b", "e", "g"]),
        (json!({"k": "x", "v": {"$gt": i64::MAX, "$lte": 9.223_372_036_854_776e18}}), vec!["i"]),
        (json!({"v": {"$in": [P53 + 1, u64::MAX]}}), vec!["c", "f"]),
    ];
    for (filter, want) in &cases {
        for coll in ["indexed", "plain"] {
            let got = sorted(paged(&s, coll, filter, "", 2));
            assert_eq!(got, *want, "{coll}: filter {filter}");
            assert_eq!(s.count(coll, filter).expect("count"), want.len() as u64, "{coll}: count {filter}");
        }
    }

    // Sorts: by the index on `indexed`, in memory on `plain`; pages of 1
    // and 2 resume from cursors between values that share an f64.
    let descending: Vec<&str> = ASCENDING.iter().rev().copied().collect();
    for coll in ["indexed", "plain"] {
        for limit in [1, 2, 100] {
            assert_eq!(paged(&s, coll, &json!({}), "v", limit), ASCENDING, "{coll}: ascending by {limit}");
            assert_eq!(paged(&s, coll, &json!({}), "-v", limit), descending, "{coll}: descending by {limit}");
            let above = json!({"k": "x", "v": {"$gt": P53 - 1}});
            assert_eq!(paged(&s, coll, &above, "v", limit), ASCENDING[2..], "{coll}: range and sort by {limit}");
        }
    }
}
