//! Refuses JSON integers outside the 64-bit range before they lose precision.
//!
//! serde_json (without `arbitrary_precision`) turns an integer literal that
//! fits neither i64 nor u64 into the nearest f64, silently. Engram keeps
//! integers exact (see `number.rs`), so such literals are rejected at the
//! boundary (HTTP bodies, CLI arguments) with where they are, and the caller
//! chooses: a string keeps every digit, a float states that rounding is fine.

use crate::{Error, Result};

/// Digits of an offending literal quoted in the error, at most.
const QUOTED_DIGITS_MAX: usize = 40;

/// Checks every integer literal of `text`, which must be valid JSON (call
/// after parsing: the scan relies on it). Linear time, no allocation unless
/// it fails.
pub fn check_integer_range(text: &[u8]) -> Result<()> {
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => i = string_end(text, i + 1),
            b'-' | b'0'..=b'9' => {
                let end = number_end(text, i);
                if !fits_64_bits(&text[i..end]) {
                    return Err(out_of_range(&text[i..end], i));
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// The index after the closing quote of a string whose body starts at `i`.
fn string_end(text: &[u8], mut i: usize) -> usize {
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2, // the escaped byte cannot end the string
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// The index after the number token starting at `i`.
fn number_end(text: &[u8], i: usize) -> usize {
    let len = text[i..].iter().take_while(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')).count();
    i + len
}

/// Whether a number token is a float, or an integer within i64 or u64.
fn fits_64_bits(token: &[u8]) -> bool {
    if token.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        return true; // a float: its rounding is the sender's choice
    }
    let (negative, digits) = match token.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, token),
    };
    // Magnitude limits: 2^63 for negatives (i64::MIN), 2^64 - 1 otherwise.
    let limit = if negative { 1_u128 << 63 } else { u128::from(u64::MAX) };
    let mut value: u128 = 0;
    for d in digits {
        if !d.is_ascii_digit() {
            return true; // not JSON: the parser, not this scan, reports that
        }
        value = value * 10 + u128::from(d - b'0');
        if value > limit {
            return false; // stops before u128 could overflow
        }
    }
    true
}

fn out_of_range(token: &[u8], at: usize) -> Error {
    let shown = String::from_utf8_lossy(&token[..token.len().min(QUOTED_DIGITS_MAX)]);
    let more =
        if token.len() > QUOTED_DIGITS_MAX { format!("… ({} characters)", token.len()) } else { String::new() };
    Error::invalid(format!(
        "integer {shown}{more} at byte {at} is outside the 64-bit range; send it as a string or as a float"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<()> {
        serde_json::from_str::<serde_json::Value>(text).expect("the scan takes valid JSON");
        check_integer_range(text.as_bytes())
    }

    #[test]
    fn accepts_the_64_bit_range_and_floats() {
        for ok in [
            r#"{"a": 18446744073709551615}"#,
            r#"{"a": -9223372036854775808}"#,
            r#"{"a": 1.8446744073709551616e19, "b": 1e-400, "c": 18446744073709551616.0, "d": 2E+3}"#,
            r#"{"a": "18446744073709551616", "b\"18446744073709551616": 0}"#,
            r#"["\\", 123456789012345678, -0, 0, true, null]"#,
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_integers_beyond_it_with_their_place() {
        let e = check(r#"{"big": 18446744073709551616}"#).expect_err("2^64");
        assert_eq!(
            e.message(),
            "integer 18446744073709551616 at byte 8 is outside the 64-bit range; send it as a string or as a float"
        );
        let e = check(r#"{"a": [1, -9223372036854775809]}"#).expect_err("below i64::MIN");
        assert!(e.message().starts_with("integer -9223372036854775809 at byte 10 "), "{e}");
        let long = format!(r#"{{"a": {}}}"#, "9".repeat(300));
        let e = check(&long).expect_err("300 digits");
        assert!(e.message().contains("… (300 characters) at byte 6"), "{e}");
        assert!(check(r#"{"s": "\"", "n": 99999999999999999999}"#).is_err(), "escaped quotes do not end strings");
        assert!(check_integer_range(b"[1-+-2, \"").is_ok(), "malformed text never panics");
    }
}
