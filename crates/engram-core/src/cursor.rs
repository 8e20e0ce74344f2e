//! Opaque pagination cursors: where a page ended, bound to its query.
//!
//! Binary layout (then base64url): version byte, 8-byte query fingerprint,
//! kind byte, then length-prefixed fields. Decoding checks every length, so
//! a forged or truncated cursor is an input error, never a panic.

use crate::limits::CURSOR_BYTES_MAX;
use crate::{Error, Result};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Version 2: key components carry the exact number encoding of `keys.rs`.
/// Version 1 cursors hold keys in the old encoding, which would resume at
/// the wrong place, so they are refused (see [`decode`]).
const CURSOR_VERSION: u8 = 2;
/// Key components a cursor may carry (one per sort field).
const CURSOR_PARTS_MAX: usize = 8;

/// Where a page ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// After this document id (scans in id order).
    Id(String),
    /// After this index key and document id.
    Key(Vec<u8>, String),
    /// After these sort-key components and document id (in-memory sorts).
    Sort(Vec<Vec<u8>>, String),
}

pub fn encode(fingerprint: [u8; 8], pos: &Position) -> String {
    let mut out = vec![CURSOR_VERSION];
    out.extend_from_slice(&fingerprint);
    match pos {
        Position::Id(id) => {
            out.push(0);
            put(&mut out, id.as_bytes());
        }
        Position::Key(key, id) => {
            out.push(1);
            put(&mut out, key);
            put(&mut out, id.as_bytes());
        }
        Position::Sort(parts, id) => {
            out.push(2);
            out.push(u8::try_from(parts.len()).expect("sort fields are bounded"));
            parts.iter().for_each(|p| put(&mut out, p));
            put(&mut out, id.as_bytes());
        }
    }
    URL_SAFE_NO_PAD.encode(out)
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).expect("cursor fields are bounded").to_be_bytes());
    out.extend_from_slice(bytes);
}

fn bad() -> Error {
    Error::invalid("invalid cursor: pass back the next_cursor of a previous page unchanged")
}

/// Decodes a cursor made for the query with `fingerprint`.
pub fn decode(fingerprint: [u8; 8], text: &str) -> Result<Position> {
    if text.len() > CURSOR_BYTES_MAX {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let mut r = Reader(&bytes);
    match r.take(1)?[0] {
        CURSOR_VERSION => {}
        1 => {
            return Err(Error::invalid(
                "cursor was made by an earlier version of Engram, whose index keys differ; start again without a cursor",
            ));
        }
        _ => return Err(bad()),
    }
    if r.take(8)? != fingerprint {
        return Err(Error::invalid(
            "cursor belongs to a different query, or the collection's indexes changed since; start again without a cursor",
        ));
    }
    let pos = match r.take(1)?[0] {
        0 => Position::Id(r.string()?),
        1 => Position::Key(r.field()?.to_vec(), r.string()?),
        2 => {
            let n = usize::from(r.take(1)?[0]);
            if n > CURSOR_PARTS_MAX {
                return Err(bad());
            }
            let parts = (0..n).map(|_| r.field().map(<[u8]>::to_vec)).collect::<Result<_>>()?;
            Position::Sort(parts, r.string()?)
        }
        _ => return Err(bad()),
    };
    if !r.0.is_empty() {
        return Err(bad());
    }
    Ok(pos)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(bad());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn field(&mut self) -> Result<&'a [u8]> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().expect("took 4 bytes"));
        self.take(usize::try_from(len).map_err(|_| bad())?)
    }
    fn string(&mut self) -> Result<String> {
        String::from_utf8(self.field()?.to_vec()).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let fp = [7; 8];
        for pos in [
            Position::Id("a".into()),
            Position::Key(vec![1, 2, 0], "b".into()),
            Position::Sort(vec![vec![5], vec![]], "c".into()),
        ] {
            let text = encode(fp, &pos);
            assert_eq!(decode(fp, &text).expect("round trip"), pos);
            assert!(decode([8; 8], &text).is_err());
            for cut in 0..text.len() {
                assert!(decode(fp, &text[..cut]).is_err() || cut == text.len());
            }
        }
        assert!(decode(fp, "!!!").is_err());
        let mut v1 = URL_SAFE_NO_PAD.decode(encode(fp, &Position::Key(vec![5; 9], "d".into()))).expect("base64");
        v1[0] = 1;
        let e = decode(fp, &URL_SAFE_NO_PAD.encode(v1)).expect_err("a version 1 cursor is refused");
        assert!(e.message().contains("earlier version of Engram"), "{e}");
        assert!(decode(fp, "").is_err());
    }
}
