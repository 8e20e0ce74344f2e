//! Snippets: the window of a text showing the most distinct query clauses, with matched words marked.

use crate::query::{Clause, ClauseKind, Occur, TextQuery};
use crate::tokenize::tokenize;

/// An excerpt of a text with the byte ranges (within `text`) of the words that matched the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The excerpt, starting and ending at token boundaries (the whole text when it fits). The caller adds
    /// any ellipsis.
    pub text: String,
    /// Ascending, non-overlapping byte ranges `start..end` of matched words in `text`.
    pub highlights: Vec<(usize, usize)>,
}

/// A token of the snippet's source with byte and char extents.
struct Tok {
    text: String,
    start: usize,
    end: usize,
    char_start: usize,
    char_end: usize,
    position: u32,
}

/// The best excerpt of `text` for `q` of at most `max_chars` characters (at least one whole token): the
/// window holding the most distinct non-excluded clauses, then the most matched words, then the earliest;
/// widened with context on both sides up to `max_chars`. Without any match, the start of the text.
///
/// Field restrictions are ignored (the caller picks the field's text); phrases match only whole.
pub fn snippet(text: &str, q: &TextQuery, max_chars: usize) -> Snippet {
    let toks = collect_tokens(text);
    let total_chars = text.chars().count();
    let hits = find_hits(&toks, q);
    if total_chars <= max_chars {
        return build(text, &toks, 0, toks.len(), &hits, Some((0, text.len())));
    }
    if toks.is_empty() {
        let end = text.char_indices().nth(max_chars).map_or(text.len(), |(i, _)| i);
        return Snippet { text: text[..end].to_string(), highlights: Vec::new() };
    }
    let (lo, hi) = match best_window(&toks, &hits, q.clauses.len(), max_chars) {
        Some(core) => widen(&toks, core, max_chars),
        None => widen(&toks, (0, 0), max_chars),
    };
    build(text, &toks, lo, hi + 1, &hits, None)
}

fn collect_tokens(text: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let (mut byte, mut chars) = (0, 0);
    for t in tokenize(text) {
        let char_start = chars + text[byte..t.start].chars().count();
        let char_end = char_start + text[t.start..t.end].chars().count();
        (byte, chars) = (t.end, char_end);
        out.push(Tok {
            text: t.text.into_owned(),
            start: t.start,
            end: t.end,
            char_start,
            char_end,
            position: t.position,
        });
    }
    out
}

/// `(token index, clause index)` of every matched word, sorted by token.
fn find_hits(toks: &[Tok], q: &TextQuery) -> Vec<(usize, usize)> {
    let mut hits = Vec::new();
    for (c, clause) in q.clauses.iter().enumerate().filter(|(_, c)| c.occur != Occur::MustNot) {
        clause_hits(toks, clause, |t| hits.push((t, c)));
    }
    hits.sort_unstable();
    hits
}

fn clause_hits(toks: &[Tok], clause: &Clause, mut hit: impl FnMut(usize)) {
    match &clause.kind {
        ClauseKind::Term(term) => (0..toks.len()).filter(|&i| toks[i].text == *term).for_each(hit),
        ClauseKind::Prefix(p) => (0..toks.len()).filter(|&i| toks[i].text.starts_with(p.as_str())).for_each(hit),
        ClauseKind::Phrase(words) => {
            for i in 0..toks.len() {
                if let Some(matched) = phrase_at(toks, i, words) {
                    matched.into_iter().for_each(&mut hit);
                }
            }
        }
    }
}

/// Token indices of a whole phrase occurrence starting at token `i`, if any.
fn phrase_at(toks: &[Tok], i: usize, words: &[(String, u32)]) -> Option<Vec<usize>> {
    let base = toks[i].position;
    words
        .iter()
        .map(|(word, offset)| {
            let j = toks.binary_search_by_key(&base.checked_add(*offset)?, |t| t.position).ok()?;
            (toks[j].text == *word).then_some(j)
        })
        .collect()
}

/// Token range `(first, last)` spanned by the best run of hits fitting in `max_chars`.
fn best_window(toks: &[Tok], hits: &[(usize, usize)], clauses: usize, max_chars: usize) -> Option<(usize, usize)> {
    let mut counts = vec![0u32; clauses];
    let (mut distinct, mut a) = (0usize, 0usize);
    let mut best: Option<((usize, usize), (usize, usize))> = None;
    for b in 0..hits.len() {
        distinct += usize::from(counts[hits[b].1] == 0);
        counts[hits[b].1] += 1;
        while a < b && toks[hits[b].0].char_end - toks[hits[a].0].char_start > max_chars {
            counts[hits[a].1] -= 1;
            distinct -= usize::from(counts[hits[a].1] == 0);
            a += 1;
        }
        let rank = (distinct, b - a + 1);
        if best.is_none_or(|(r, _)| rank > r) {
            best = Some((rank, (hits[a].0, hits[b].0)));
        }
    }
    best.map(|(_, window)| window)
}

/// Grows a token range alternately rightwards and leftwards while it fits in `max_chars`.
fn widen(toks: &[Tok], (mut lo, mut hi): (usize, usize), max_chars: usize) -> (usize, usize) {
    let span = |lo: usize, hi: usize| toks[hi].char_end - toks[lo].char_start;
    loop {
        let mut grew = false;
        if hi + 1 < toks.len() && span(lo, hi + 1) <= max_chars {
            hi += 1;
            grew = true;
        }
        if lo > 0 && span(lo - 1, hi) <= max_chars {
            lo -= 1;
            grew = true;
        }
        if !grew {
            return (lo, hi);
        }
    }
}

/// The snippet over tokens `lo..hi` (or the byte range `whole`), with highlights rebased to it.
fn build(
    text: &str,
    toks: &[Tok],
    lo: usize,
    hi: usize,
    hits: &[(usize, usize)],
    whole: Option<(usize, usize)>,
) -> Snippet {
    let (start, end) = whole.unwrap_or_else(|| (toks[lo].start, toks[hi - 1].end));
    let mut highlights: Vec<(usize, usize)> = hits
        .iter()
        .filter(|(t, _)| (lo..hi).contains(t))
        .map(|&(t, _)| (toks[t].start - start, toks[t].end - start))
        .collect();
    highlights.dedup();
    Snippet { text: text[start..end].to_string(), highlights }
}
