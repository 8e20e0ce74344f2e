//! Exact ordering of JSON numbers, whether held as 64-bit integers or f64.
//!
//! serde_json (without `arbitrary_precision`) holds each number as an i64,
//! a u64 or a finite f64. Converting an integer to f64 rounds above 2^53, so
//! 2^53 and 2^53 + 1 would compare equal; instead numbers compare by their
//! exact value (as SQLite compares INTEGER with REAL): two integers in i128,
//! an integer against a float by the float's integer part, then its fraction.
//! [`floor_split`] gives index keys the same order (see `keys.rs`).

use serde_json::Number;
use std::cmp::Ordering;

/// 2^64: no 64-bit integer reaches it, and every f64 of at least this
/// magnitude is an integer beyond every i64 and u64.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// A JSON number's exact value, as serde_json holds it.
#[derive(Debug, Clone, Copy)]
enum Exact {
    /// Any i64 or u64, widened so both fit one type.
    Int(i128),
    /// Finite: JSON has no NaN or infinities, and serde_json refuses them.
    Float(f64),
}

fn exact(n: &Number) -> Exact {
    if let Some(i) = n.as_i64() {
        Exact::Int(i.into())
    } else if let Some(u) = n.as_u64() {
        Exact::Int(u.into())
    } else {
        // Without `arbitrary_precision` every number that is not an integer
        // is an f64, so `as_f64` is always `Some` here.
        Exact::Float(n.as_f64().unwrap_or(0.0))
    }
}

/// Orders two numbers by exact value (1 == 1.0; 2^53 + 1 > 2^53 as a float).
pub fn compare(a: &Number, b: &Number) -> Ordering {
    match (exact(a), exact(b)) {
        (Exact::Int(x), Exact::Int(y)) => x.cmp(&y),
        (Exact::Float(x), Exact::Float(y)) => compare_floats(x, y),
        (Exact::Int(x), Exact::Float(y)) => compare_int_float(x, y),
        (Exact::Float(x), Exact::Int(y)) => compare_int_float(y, x).reverse(),
    }
}

/// Finite floats, with -0.0 equal to 0.0 (adding 0.0 turns -0.0 into 0.0).
fn compare_floats(x: f64, y: f64) -> Ordering {
    (x + 0.0).total_cmp(&(y + 0.0))
}

/// An integer of at most 64 bits against a finite float, exactly.
fn compare_int_float(i: i128, f: f64) -> Ordering {
    if f >= TWO_POW_64 {
        return Ordering::Less;
    }
    if f <= -TWO_POW_64 {
        return Ordering::Greater;
    }
    let whole = f.trunc();
    // |whole| < 2^64, so the conversion is exact; `f - whole` is exact too
    // (the fraction of a float needs no more bits than the float has).
    #[allow(clippy::cast_possible_truncation)]
    let whole_int = whole as i128;
    i.cmp(&whole_int).then_with(|| compare_floats(0.0, f - whole))
}

/// The largest f64 not above `n`, and `n` minus it: an integer below 2^11
/// for 64-bit integers (the spacing of f64 values below 2^64), 0 for floats.
///
/// Invariant (what index keys rely on): `a < b` exactly implies the pair of
/// `a` is lexicographically below the pair of `b`, and equal numbers (1 and
/// 1.0) give equal pairs. The floor is monotone, and numbers with the same
/// floor differ only in the remainder.
pub fn floor_split(n: &Number) -> (f64, u16) {
    match exact(n) {
        Exact::Float(f) => (f + 0.0, 0),
        Exact::Int(i) => {
            let floor = int_floor(i);
            #[allow(clippy::cast_possible_truncation)]
            let rest = i - floor as i128;
            (floor, u16::try_from(rest).expect("a 64-bit integer is within 2^11 of the f64 below it"))
        }
    }
}

/// The largest f64 not above a 64-bit integer.
fn int_floor(i: i128) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let nearest = i as f64; // rounds to nearest: at most one step above `i`
    #[allow(clippy::cast_possible_truncation)]
    let above = nearest as i128 > i; // exact: |nearest| <= 2^64
    if above { step_down(nearest) } else { nearest }
}

/// The next f64 below a non-zero finite `x` (`f64::next_down` needs Rust 1.86).
fn step_down(x: f64) -> f64 {
    let bits = x.to_bits();
    // Positive floats order like their bits, negative ones in reverse.
    f64::from_bits(if x > 0.0 { bits - 1 } else { bits + 1 })
}

/// Number generators shared by the tests of this module and of `keys.rs`.
#[cfg(test)]
pub(crate) mod strategies {
    use proptest::prelude::*;
    use serde_json::Number;

    /// Integers near the places where f64 loses precision, and anywhere.
    pub(crate) fn int() -> impl Strategy<Value = Number> {
        let near = prop_oneof![Just(0_i128), Just(1 << 53), Just(1 << 63), Just(-(1 << 63)), Just(u64::MAX.into())];
        prop_oneof![
            any::<i64>().prop_map(Number::from),
            any::<u64>().prop_map(Number::from),
            (near, -3000_i128..3000).prop_filter_map("64-bit", |(c, d)| wide(c + d)),
        ]
    }

    fn wide(i: i128) -> Option<Number> {
        i64::try_from(i).map(Number::from).ok().or_else(|| u64::try_from(i).map(Number::from).ok())
    }

    pub(crate) fn float() -> impl Strategy<Value = Number> {
        prop_oneof![
            any::<f64>().prop_filter_map("finite", Number::from_f64),
            int().prop_map(|i| Number::from_f64(i.as_f64().unwrap_or(0.0)).expect("finite")),
            (-100.0_f64..100.0).prop_filter_map("finite", Number::from_f64),
        ]
    }

    /// A number and a close neighbour: the integer a few steps away, or
    /// the float nearest it (where rounding through f64 would collide).
    pub(crate) fn neighbours() -> impl Strategy<Value = (Number, Number)> {
        (int(), -4_i128..=4, any::<bool>()).prop_filter_map("64-bit", |(a, d, as_float)| {
            let i = a.as_i64().map(i128::from).or(a.as_u64().map(i128::from))?;
            #[allow(clippy::cast_precision_loss)]
            let b = if as_float { Number::from_f64((i + d) as f64) } else { wide(i + d) }?;
            Some((a, b))
        })
    }

    /// Integers and floats mixed.
    pub(crate) fn any_number() -> impl Strategy<Value = Number> {
        prop_oneof![int(), float()]
    }
}

#[cfg(test)]
mod tests {
    use super::strategies::{any_number, int, neighbours};
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn n(v: serde_json::Value) -> Number {
        match v {
            serde_json::Value::Number(n) => n,
            other => panic!("{other} is not a number"),
        }
    }

    const P53: i64 = 1 << 53;

    #[test]
    fn integers_above_2_pow_53_are_told_apart_from_floats() {
        let float = n(json!(9_007_199_254_740_992.0));
        assert_eq!(compare(&n(json!(P53 + 1)), &float), Ordering::Greater);
        assert_eq!(compare(&n(json!(P53)), &float), Ordering::Equal);
        assert_eq!(compare(&n(json!(P53 - 1)), &float), Ordering::Less);
        assert_eq!(compare(&float, &n(json!(P53 + 1))), Ordering::Less);
    }

    #[test]
    fn the_64_bit_extremes() {
        let (umax, imin) = (n(json!(u64::MAX)), n(json!(i64::MIN)));
        assert_eq!(compare(&umax, &n(json!(u64::MAX - 1))), Ordering::Greater);
        assert_eq!(compare(&umax, &n(json!(i64::MAX))), Ordering::Greater);
        assert_eq!(compare(&umax, &n(json!(1.844_674_407_370_955_2e19))), Ordering::Less, "2^64 as a float");
        assert_eq!(compare(&umax, &n(json!(1.844_674_407_370_955e19))), Ordering::Greater, "2^64 - 2048");
        assert_eq!(compare(&imin, &n(json!(-9.223_372_036_854_776e18))), Ordering::Equal, "-2^63");
        assert_eq!(compare(&n(json!(i64::MIN + 1)), &n(json!(-9.223_372_036_854_776e18))), Ordering::Greater);
        assert_eq!(compare(&imin, &n(json!(-1e300))), Ordering::Greater);
        assert_eq!(compare(&imin, &n(json!(1e300))), Ordering::Less);
        assert_eq!(compare(&imin, &umax), Ordering::Less);
    }

    #[test]
    fn fractions_and_zeros() {
        assert_eq!(compare(&n(json!(1)), &n(json!(1.0))), Ordering::Equal);
        assert_eq!(compare(&n(json!(2)), &n(json!(1.5))), Ordering::Greater);
        assert_eq!(compare(&n(json!(1)), &n(json!(1.5))), Ordering::Less);
        assert_eq!(compare(&n(json!(-1)), &n(json!(-1.5))), Ordering::Greater);
        assert_eq!(compare(&n(json!(-2)), &n(json!(-1.5))), Ordering::Less);
        assert_eq!(compare(&n(json!(0)), &n(json!(-0.0))), Ordering::Equal);
        assert_eq!(compare(&n(json!(0.0)), &n(json!(-0.0))), Ordering::Equal);
        assert_eq!(compare(&n(json!(0)), &n(json!(-1e-300))), Ordering::Greater);
    }

    #[test]
    fn floors_of_extreme_integers() {
        assert_eq!(floor_split(&n(json!(u64::MAX))), (1.844_674_407_370_955e19, 2047));
        assert_eq!(floor_split(&n(json!(i64::MIN))), (-9.223_372_036_854_776e18, 0));
        assert_eq!(floor_split(&n(json!(i64::MIN + 1))), (-9.223_372_036_854_776e18, 1));
        assert_eq!(floor_split(&n(json!(P53 + 1))), (9_007_199_254_740_992.0, 1));
        assert_eq!(floor_split(&n(json!(-P53 - 1))), (-9_007_199_254_740_994.0, 1));
        assert_eq!(floor_split(&n(json!(-0.0))), (0.0, 0));
    }

    proptest! {
        /// The split is exact: floor + rest equals the number, floor <= it.
        #[test]
        fn split_is_exact(a in int()) {
            let (floor, rest) = floor_split(&a);
            let whole = floor as i128 + i128::from(rest);
            prop_assert_eq!(Some(whole), a.as_i64().map(i128::from).or(a.as_u64().map(i128::from)));
            prop_assert!(compare(&Number::from_f64(floor).expect("finite"), &a).is_le());
        }

        /// Comparing with the float nearest an integer agrees with i128
        /// arithmetic on the float's (integral) value.
        #[test]
        fn int_against_float_is_exact(a in int(), b in int()) {
            let fb = b.as_f64().expect("f64");
            let fb_num = Number::from_f64(fb).expect("finite");
            let want = a.as_i64().map(i128::from).or(a.as_u64().map(i128::from)).expect("int").cmp(&(fb as i128));
            prop_assert_eq!(compare(&a, &fb_num), want);
        }

        /// Neighbours compare as their exact values do.
        #[test]
        fn neighbours_compare_exactly((a, b) in neighbours()) {
            let exact = |n: &Number| n.as_i64().map(i128::from).or(n.as_u64().map(i128::from))
                .unwrap_or_else(|| n.as_f64().expect("f64") as i128);
            prop_assert_eq!(compare(&a, &b), exact(&a).cmp(&exact(&b)));
        }

        /// Antisymmetry across every kind of number.
        #[test]
        fn antisymmetric(a in any_number(), b in any_number()) {
            prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
        }
    }
}
