//! Phrase matching: documents where the phrase's words sit at the required relative positions.

use crate::postings::PostingList;

/// For each document holding every word of the phrase in this field, `(key, phrase occurrences, field
/// length)` when there is at least one occurrence; ascending by key.
///
/// `words[i]` is the i-th word's posting list in the field and `offsets[i]` its position relative to the
/// first word (so `offsets[0] == 0`).
pub(crate) fn phrase_matches(words: &[&PostingList], offsets: &[u32]) -> Vec<(u32, u32, u32)> {
    let Some(driver) = (0..words.len()).min_by_key(|&i| words[i].len()) else {
        return Vec::new();
    };
    let mut cursors = vec![0usize; words.len()];
    let mut out = Vec::new();
    for (d, &key) in words[driver].keys().iter().enumerate() {
        if !align(words, &mut cursors, key) {
            continue;
        }
        let count = occurrences(words, &cursors, offsets);
        if count > 0 {
            out.push((key, count, words[driver].field_len(d)));
        }
    }
    out
}

/// Moves every cursor to `key`; false if some list lacks it. Keys only grow, so cursors only move forward.
fn align(words: &[&PostingList], cursors: &mut [usize], key: u32) -> bool {
    for (list, at) in words.iter().zip(cursors.iter_mut()) {
        let keys = list.keys();
        *at += keys[*at..].partition_point(|&k| k < key);
        if keys.get(*at) != Some(&key) {
            return false;
        }
    }
    true
}

/// Start positions `s` of the first word such that word `i` occurs at `s + offsets[i]` for every `i`.
fn occurrences(words: &[&PostingList], cursors: &[usize], offsets: &[u32]) -> u32 {
    let first = words[0].positions(cursors[0]);
    let mut count = 0;
    for &start in first {
        let all = words.iter().zip(cursors).zip(offsets).skip(1).all(|((list, &at), &offset)| {
            start.checked_add(offset).is_some_and(|p| list.positions(at).binary_search(&p).is_ok())
        });
        count += u32::from(all);
    }
    count
}
