//! Change-log entries: sealed chains verify, any single-field change (or a moved string boundary) breaks `verify_run`, and `ChangeOp::from_code` decodes stored op bytes without panicking.
//!
//! The stored form of an entry is its fields (columns) plus the BLAKE3 hash
//! of their canonical binary encoding (`entry_hash`: fixed-width integers,
//! length-prefixed strings); `verify_run` is the decoder-side check. This
//! target seals arbitrary drafts into a chain after an arbitrary head, then
//! tampers with one entry and requires the verifier to notice.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use engram_core::ErrorKind;
use engram_core::changelog::{ChangeDraft, ChangeEntry, ChangeHead, ChangeOp, Digest, entry_hash, verify_run};
use libfuzzer_sys::fuzz_target;

/// Positions are stored as SQLite integers: never above i64::MAX.
const POSITION_MAX: u64 = i64::MAX as u64;
const CHAIN_LEN_MAX: usize = 64;

#[derive(Debug, Clone, Arbitrary)]
struct Draft {
    hlc: u64,
    op: u8,
    collection: String,
    doc_id: String,
    version: u64,
    content_hash: Digest,
}

#[derive(Debug, Arbitrary)]
enum Field {
    Position,
    Hlc,
    Op,
    Collection(String),
    DocId(String),
    Version,
    ContentHash,
    PrevHash,
    Hash,
    /// Moves the last character of `collection` to the front of `doc_id`:
    /// the concatenation is unchanged, so only the length prefixes tell.
    Boundary,
}

#[derive(Debug, Arbitrary)]
struct Input {
    op_code: u8,
    head_position: u64,
    head_hash: Digest,
    drafts: Vec<Draft>,
    index: usize,
    field: Field,
    /// Made non-zero: what the chosen field is XORed with or offset by.
    delta: u64,
}

fuzz_target!(|data: &[u8]| {
    // The stored op byte, and the op as JSON.
    if let Some(&b) = data.first() {
        check_code(b);
    }
    let _ = serde_json::from_slice::<ChangeOp>(data);

    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else { return };
    check_code(input.op_code);
    let drafts = &input.drafts[..input.drafts.len().min(CHAIN_LEN_MAX)];
    let before = ChangeHead { position: input.head_position % (POSITION_MAX + 1), hash: input.head_hash, hlc: 0 };

    // Sealing links each entry after the previous one; the chain verifies.
    let mut chain: Vec<ChangeEntry> = Vec::with_capacity(drafts.len());
    let mut head = before;
    for d in drafts {
        let e = draft(d).seal(&head);
        assert_eq!(e.position, head.position + 1);
        assert_eq!(e.prev_hash, head.hash);
        assert_eq!(e.hash, entry_hash(&e));
        head = ChangeHead::of(&e);
        chain.push(e);
    }
    assert_eq!(verify_run(before, &chain).expect("a sealed chain verifies"), head);
    // Verifying in two runs gives the same head as in one.
    if !chain.is_empty() {
        let cut = input.index % chain.len();
        let mid = verify_run(before, &chain[..cut]).expect("a prefix verifies");
        assert_eq!(verify_run(mid, &chain[cut..]).expect("the rest verifies"), head);
    }
    for e in &chain {
        let json = serde_json::to_value(e).expect("entries serialize");
        assert_eq!(json["hash"].as_str().map(str::len), Some(64));
    }

    // Any single change to a stored entry breaks verification.
    if chain.is_empty() {
        return;
    }
    let i = input.index % chain.len();
    let delta = input.delta.max(1);
    let e = &mut chain[i];
    match input.field {
        Field::Position => e.position ^= delta,
        Field::Hlc => e.hlc ^= delta,
        Field::Op => {
            let code = (u64::from(e.op.code()) + 1 + delta % 7) % 8;
            e.op = ChangeOp::from_code(code as u8).expect("a known code");
        }
        Field::Collection(s) => {
            e.collection = if s == e.collection { format!("{s}x") } else { s };
        }
        Field::DocId(s) => {
            e.doc_id = if s == e.doc_id { format!("{s}x") } else { s };
        }
        Field::Version => e.version ^= delta,
        Field::ContentHash => flip(&mut e.content_hash, delta),
        Field::PrevHash => flip(&mut e.prev_hash, delta),
        Field::Hash => flip(&mut e.hash, delta),
        Field::Boundary => match e.collection.pop() {
            Some(c) => e.doc_id.insert(0, c),
            None => return,
        },
    }
    let err = verify_run(before, &chain).expect_err("a tampered chain must not verify");
    assert_eq!(err.kind(), ErrorKind::Corrupted);
});

fn draft(d: &Draft) -> ChangeDraft {
    ChangeDraft {
        hlc: d.hlc,
        op: ChangeOp::from_code(d.op % 8).expect("a known code"),
        collection: d.collection.clone(),
        doc_id: d.doc_id.clone(),
        version: d.version,
        content_hash: d.content_hash,
        // Alternating v1 (no actor) and v2 entries: both hash forms chain.
        actor: if d.version % 2 == 0 { String::new() } else { d.collection.clone() },
        request_id: d.doc_id.clone(),
    }
}

/// Decoding a stored op byte: the 8 known codes round-trip, others are corruption.
fn check_code(b: u8) {
    match ChangeOp::from_code(b) {
        Ok(op) => {
            assert!(b < 8, "unknown code {b} accepted");
            assert_eq!(op.code(), b);
            let json = serde_json::to_string(&op).expect("ops serialize");
            assert_eq!(serde_json::from_str::<ChangeOp>(&json).expect("ops deserialize"), op);
        }
        Err(e) => {
            assert!(b >= 8, "known code {b} refused");
            assert_eq!(e.kind(), ErrorKind::Corrupted);
        }
    }
}

/// Changes one byte of a digest (chosen by `delta`) to another value.
fn flip(d: &mut Digest, delta: u64) {
    let byte = (delta % 32) as usize;
    let mask = ((delta >> 8) as u8).max(1);
    d[byte] ^= mask;
}
