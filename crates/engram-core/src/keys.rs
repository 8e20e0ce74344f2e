//! Order-preserving binary encoding of JSON values for index keys and sorts.
//!
//! Invariant: for scalars of one type class, `a <= b` implies
//! `encode(a) <= encode(b)` bytewise (non-strictly: long strings are truncated
//! to [`KEY_STRING_BYTES_MAX`] bytes, so distinct long values may share a key).
//! Every backend compares keys as raw bytes, so the memory, SQLite and any
//! other backend order documents identically. Type order:
//! missing < null < false < true < numbers < strings < arrays < objects.
//! Each component is self-delimiting, so compound keys concatenate.
//!
//! Numbers are strictly ordered and injective on their exact value (1 and
//! 1.0 share a key; 2^53 and 2^53 + 1 do not): the largest f64 not above
//! the number (8 order-preserving bytes), then the integer remainder (2
//! bytes, below 2^11 for 64-bit integers; 0 for floats). Format v1 (before
//! Engram data format 2) wrote only the nearest f64, so stored v1 keys are
//! rebuilt at open and v1 cursors are refused.

use crate::json::canonical;
use crate::limits::KEY_STRING_BYTES_MAX;
use crate::number::floor_split;
use serde_json::Value;
use std::ops::Bound;

const TAG_MISSING: u8 = 0x01;
const TAG_NULL: u8 = 0x02;
const TAG_FALSE: u8 = 0x03;
const TAG_TRUE: u8 = 0x04;
const TAG_NUMBER: u8 = 0x05;
const TAG_STRING: u8 = 0x06;
const TAG_ARRAY: u8 = 0x07;
const TAG_OBJECT: u8 = 0x08;

/// Appends the key component for `value` (`None` = field missing).
pub fn encode_component(out: &mut Vec<u8>, value: Option<&Value>) {
    match value {
        None => out.push(TAG_MISSING),
        Some(Value::Null) => out.push(TAG_NULL),
        Some(Value::Bool(false)) => out.push(TAG_FALSE),
        Some(Value::Bool(true)) => out.push(TAG_TRUE),
        Some(Value::Number(n)) => {
            let (floor, rest) = floor_split(n);
            out.push(TAG_NUMBER);
            out.extend_from_slice(&encode_f64(floor));
            out.extend_from_slice(&rest.to_be_bytes());
        }
        Some(Value::String(s)) => encode_bytes(out, TAG_STRING, s.as_bytes()),
        Some(v @ Value::Array(_)) => encode_bytes(out, TAG_ARRAY, canonical(v).as_bytes()),
        Some(v @ Value::Object(_)) => encode_bytes(out, TAG_OBJECT, canonical(v).as_bytes()),
    }
}

/// The encoded component of one value, as its own key.
pub fn encode_value(value: Option<&Value>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_component(&mut out, value);
    out
}

/// Order-preserving f64 bytes: flip the sign bit of positives, all bits of negatives.
fn encode_f64(x: f64) -> [u8; 8] {
    let x = if x == 0.0 { 0.0 } else { x }; // -0.0 and 0.0 are equal
    let bits = x.to_bits();
    let ordered = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
    ordered.to_be_bytes()
}

/// Bytes escaped so that the terminator sorts first: 0x00 becomes 0x00 0xFF,
/// the component ends with 0x00.
fn encode_bytes(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    for &b in &bytes[..bytes.len().min(KEY_STRING_BYTES_MAX)] {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.push(0x00);
}

/// The string prefix bytes (escaped, no terminator) matching every string
/// that starts with `prefix`.
pub fn string_prefix(prefix: &str) -> Vec<u8> {
    let mut out = Vec::new();
    encode_bytes(&mut out, TAG_STRING, prefix.as_bytes());
    out.pop(); // the terminator
    out
}

/// The smallest byte string greater than every string starting with `key`,
/// or `None` when `key` is all 0xFF (no upper bound).
pub fn prefix_successor(key: &[u8]) -> Option<Vec<u8>> {
    let mut out = key.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xFF {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

/// A range of index keys: inclusive start, exclusive end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub start: Bound<Vec<u8>>,
    pub end: Bound<Vec<u8>>,
}

impl KeyRange {
    pub fn all() -> Self {
        Self { start: Bound::Unbounded, end: Bound::Unbounded }
    }

    /// Every key that begins with `prefix`.
    pub fn prefixed(prefix: Vec<u8>) -> Self {
        let end = prefix_successor(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
        Self { start: Bound::Included(prefix), end }
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        let after_start = match &self.start {
            Bound::Included(s) => key >= s.as_slice(),
            Bound::Excluded(s) => key > s.as_slice(),
            Bound::Unbounded => true,
        };
        let before_end = match &self.end {
            Bound::Included(e) => key <= e.as_slice(),
            Bound::Excluded(e) => key < e.as_slice(),
            Bound::Unbounded => true,
        };
        after_start && before_end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::number::compare;
    use crate::number::strategies::{any_number, neighbours};
    use proptest::prelude::*;
    use serde_json::json;

    fn k(v: Value) -> Vec<u8> {
        encode_value(Some(&v))
    }

    #[test]
    fn type_order() {
        let order = [
            encode_value(None),
            k(json!(null)),
            k(json!(false)),
            k(json!(true)),
            k(json!(-5)),
            k(json!(3.5)),
            k(json!("")),
            k(json!("a")),
            k(json!([])),
            k(json!({})),
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    }

    #[test]
    fn strings_with_nul_and_prefixes() {
        assert!(k(json!("a")) < k(json!("a\u{0}")));
        assert!(k(json!("a\u{0}")) < k(json!("ab")));
        let r = KeyRange::prefixed(string_prefix("ab"));
        assert!(r.contains(&k(json!("ab"))) && r.contains(&k(json!("abz"))));
        assert!(!r.contains(&k(json!("ac"))) && !r.contains(&k(json!("aa"))));
    }

    #[test]
    fn numbers_above_2_pow_53_get_distinct_keys_in_order() {
        let p53 = 1_i64 << 53;
        let order = [
            k(json!(i64::MIN)),
            k(json!(-1.5)),
            k(json!(p53 - 1)),
            k(json!(p53)),
            k(json!(p53 + 1)),
            k(json!(p53 + 2)),
            k(json!(i64::MAX)),
            k(json!(9.223_372_036_854_776e18)),
            k(json!(u64::MAX)),
            k(json!(1.844_674_407_370_955_2e19)),
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert_eq!(k(json!(p53)), k(json!(9_007_199_254_740_992.0)), "equal values, equal keys");
        assert_eq!(k(json!(1)), k(json!(1.0)));
        assert_eq!(k(json!(0)), k(json!(-0.0)));
        assert_eq!(k(json!(1)).len(), 11, "tag, 8 bytes of floor, 2 of remainder: fixed width");
    }

    proptest! {
        /// Key order is the exact numeric order, across integers and floats.
        #[test]
        fn number_keys_follow_exact_order(a in any_number(), b in any_number()) {
            let (ka, kb) = (k(Value::Number(a.clone())), k(Value::Number(b.clone())));
            prop_assert_eq!(ka.cmp(&kb), compare(&a, &b));
        }

        /// The same for numbers close enough to share an f64.
        #[test]
        fn neighbour_keys_follow_exact_order((a, b) in neighbours()) {
            let (ka, kb) = (k(Value::Number(a.clone())), k(Value::Number(b.clone())));
            prop_assert_eq!(ka.cmp(&kb), compare(&a, &b));
        }

        #[test]
        fn numbers_keep_order(a in proptest::num::f64::NORMAL | proptest::num::f64::ZERO, b in proptest::num::f64::NORMAL) {
            let (ka, kb) = (k(json!(a)), k(json!(b)));
            prop_assert_eq!(a.partial_cmp(&b), Some(ka.cmp(&kb)));
        }

        #[test]
        fn strings_keep_order(a in ".{0,40}", b in ".{0,40}") {
            prop_assert_eq!(a.as_bytes().cmp(b.as_bytes()), k(json!(a)).cmp(&k(json!(b))));
        }
    }
}
