//! Regression tests for bugs found by the fuzz targets in `fuzz/` (one test
//! per bug, named after what broke; the inputs are in `fuzz/corpus/`).

use engram_core::filter::Filter;
use engram_core::limits::FILTER_NODES_MAX;
use serde_json::{Map, Value, json};

/// Found by the `filter` fuzz target (fuzz/corpus/filter/regression-*):
/// conditions written as plain field values (`{"a": 1}`, an implicit `$eq`)
/// are not counted against `FILTER_NODES_MAX`, so one object can carry any
/// number of conditions, while the same conditions written `{"a": {"$eq": 1}}`
/// are refused past the limit ("filters ≤ 256 conditions", README).
#[test]
fn filter_with_more_implicit_equalities_than_the_node_limit_is_rejected() {
    let n = FILTER_NODES_MAX + 1;
    let implicit: Map<String, Value> = (0..n).map(|i| (format!("f{i}"), json!(i))).collect();
    let explicit: Map<String, Value> = (0..n).map(|i| (format!("f{i}"), json!({"$eq": i}))).collect();
    assert!(Filter::parse(&Value::Object(explicit)).is_err(), "{n} explicit conditions are refused");
    for filter in [Value::Object(implicit.clone()), json!({"$and": [Value::Object(implicit)]})] {
        match Filter::parse(&filter) {
            Ok(_) => panic!("a filter with {n} implicit equalities was accepted; the limit is {FILTER_NODES_MAX}"),
            Err(e) => assert!(e.message().contains("conditions"), "unexpected error: {}", e.message()),
        }
    }
}
