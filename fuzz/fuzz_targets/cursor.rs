//! Pagination cursors: `cursor::decode` never panics, accepts exactly what `encode` produces, and `decode(fp, &encode(fp, &pos)) == Ok(pos)`.
//!
//! Each input is used three ways:
//! 1. as cursor text (the committed seeds are valid cursors for [`SEED_FP`]);
//! 2. as the cursor's binary layout, base64url-encoded, with the fingerprint
//!    taken from the bytes themselves so that decoding gets past it;
//! 3. as `arbitrary` parts of a `Position` to encode and decode back.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use engram_core::cursor::{Position, decode, encode};
use engram_core::limits::CURSOR_BYTES_MAX;
use libfuzzer_sys::fuzz_target;

/// The fingerprint the committed seed cursors were made with.
const SEED_FP: [u8; 8] = *b"engram-f";
/// Sort components a cursor may carry (`CURSOR_PARTS_MAX` in engram-core).
const CURSOR_PARTS_MAX: usize = 8;

#[derive(Debug, Arbitrary)]
enum Parts {
    Id(String),
    Key(Vec<u8>, String),
    Sort(Vec<Vec<u8>>, String),
}

fuzz_target!(|data: &[u8]| {
    // 1. Cursor text.
    if let Ok(text) = std::str::from_utf8(data) {
        for fp in [SEED_FP, [0; 8]] {
            if let Ok(pos) = decode(fp, text) {
                // One position, one text: decoding accepts only what encode writes.
                assert_eq!(encode(fp, &pos), text, "decode accepted a non-canonical cursor");
            }
        }
    }

    // 2. The binary layout, with a fingerprint that matches.
    let text = URL_SAFE_NO_PAD.encode(data);
    let fp: [u8; 8] = match data.get(1..9) {
        Some(b) => b.try_into().expect("8 bytes"),
        None => SEED_FP,
    };
    if let Ok(pos) = decode(fp, &text) {
        assert_eq!(encode(fp, &pos), text, "decode accepted bytes encode would not write");
    }

    // 3. Round trip of an arbitrary position.
    let mut u = Unstructured::new(data);
    let (Ok(fp), Ok(parts)) = (u.arbitrary::<[u8; 8]>(), u.arbitrary::<Parts>()) else { return };
    if matches!(&parts, Parts::Sort(p, _) if p.len() > usize::from(u8::MAX)) {
        return; // encode's documented precondition: sort fields are bounded
    }
    let pos = match parts {
        Parts::Id(id) => Position::Id(id),
        Parts::Key(key, id) => Position::Key(key, id),
        Parts::Sort(parts, id) => Position::Sort(parts, id),
    };
    let text = encode(fp, &pos);
    let fits = text.len() <= CURSOR_BYTES_MAX && !matches!(&pos, Position::Sort(p, _) if p.len() > CURSOR_PARTS_MAX);
    match decode(fp, &text) {
        Ok(back) => {
            assert!(fits, "decoded a cursor past the limits ({} bytes)", text.len());
            assert_eq!(back, pos, "round trip changed the position");
        }
        Err(e) => assert!(!fits, "refused its own cursor ({} bytes): {}", text.len(), e.message()),
    }
    let mut other = fp;
    other[0] ^= 1;
    assert!(decode(other, &text).is_err(), "a cursor was accepted by another query");
});
