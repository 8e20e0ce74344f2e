//! Event streams: append-only, versioned per stream, with expected-version
//! checks, a global position (the event's change-log position), reads by
//! version and by time, snapshots, and content deduplication of retried
//! appends.
//!
//! Stored in reserved collections: `_streams` (one head per stream),
//! `_events` (id `{stream}@{version:020}`, so id order is version order),
//! `_snapshots` (same id scheme) and `_event_dedup` (TTL'd content hashes).

pub(crate) mod api;
pub(crate) mod types;
pub(crate) mod write;

use engram_core::{Error, Result};

/// Digits of a version in an id: enough for `u64::MAX`.
const VERSION_DIGITS: usize = 20;

/// The stored id of a stream's event or snapshot at `version`. Stream names
/// cannot hold `@`, so ids of one stream share the prefix `{stream}@` and
/// no other stream's ids do; zero padding makes id order version order.
pub(crate) fn versioned_id(stream: &str, version: u64) -> String {
    // The same text as `format!("{stream}@{version:020}")`, without the
    // formatting machinery (an append builds one id per event).
    let mut digits = [b'0'; VERSION_DIGITS];
    let mut rest = version;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    let mut id = String::with_capacity(stream.len() + 1 + VERSION_DIGITS);
    id.push_str(stream);
    id.push('@');
    id.push_str(std::str::from_utf8(&digits).expect("ASCII digits"));
    id
}

/// The version in a stored id of `stream`; `None` when the id belongs to
/// another stream (a scan can run past a stream's last id).
pub(crate) fn id_version(stream: &str, id: &str) -> Result<Option<u64>> {
    let Some(digits) = id.strip_prefix(stream).and_then(|rest| rest.strip_prefix('@')) else { return Ok(None) };
    match digits.parse::<u64>() {
        Ok(v) if digits.len() == VERSION_DIGITS && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(v)),
        _ => Err(Error::corrupted(format!("stored id {id:?} does not end in a version"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_zero_padded_versions_and_parse_back() {
        for v in [0, 1, 9, 10, 12_345, 10_u64.pow(19) - 1, 10_u64.pow(19), u64::MAX] {
            let id = versioned_id("chat/1", v);
            assert_eq!(id, format!("chat/1@{v:020}"));
            assert_eq!(id_version("chat/1", &id).expect("parses"), Some(v));
        }
        assert_eq!(id_version("chat", &versioned_id("chat/1", 3)).expect("other stream"), None);
        assert_eq!(id_version("chat/1", &versioned_id("chat", 3)).expect("other stream"), None);
        for bad in ["chat@12", "chat@+0000000000000000001", "chat@0000000000000000000x"] {
            assert!(id_version("chat", bad).is_err(), "{bad}");
        }
    }
}
