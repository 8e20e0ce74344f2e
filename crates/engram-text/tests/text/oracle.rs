//! Property test: `search` agrees with a brute-force BM25 scorer on random small corpora.

use std::collections::BTreeMap;

use engram_text::TextIndex;

use crate::common::Rng;

const VOCAB: &[&str] = &["ant", "ape", "apple", "bee", "bear", "cat", "cow", "crab", "dog", "dove", "eel", "elk"];
const FIELDS: &[&str] = &["title", "body"];

#[derive(Clone, Copy, PartialEq)]
enum Occur {
    Should,
    Must,
    MustNot,
}

enum Kind {
    Term(&'static str),
    Phrase(&'static str, &'static str),
    Prefix(&'static str),
}

struct Clause {
    occur: Occur,
    field: Option<usize>,
    kind: Kind,
}

/// The brute-force model: every document's tokens per field.
struct Model {
    docs: BTreeMap<u32, Vec<Vec<&'static str>>>,
}

impl Model {
    fn field_stats(&self, f: usize) -> (f64, f64) {
        let lens: Vec<usize> = self.docs.values().map(|d| d[f].len()).filter(|&l| l > 0).collect();
        let n = lens.len() as f64;
        (n, if n > 0.0 { lens.iter().sum::<usize>() as f64 / n } else { 0.0 })
    }

    fn df(&self, f: usize, word: &str) -> f64 {
        self.docs.values().filter(|d| d[f].contains(&word)).count() as f64
    }

    fn bm25(&self, f: usize, idf: f64, tf: usize, len: usize) -> f64 {
        let (_, avg) = self.field_stats(f);
        idf * tf as f64 * 2.2 / (tf as f64 + 1.2 * (0.25 + 0.75 * len as f64 / avg))
    }

    fn idf(&self, f: usize, word: &str) -> f64 {
        let (n, _) = self.field_stats(f);
        let df = self.df(f, word);
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// Whether the clause matches `doc`, and its score there.
    fn clause(&self, c: &Clause, doc: &[Vec<&str>], boosts: &[f64]) -> (bool, f64) {
        let scoring = c.occur != Occur::MustNot;
        let fields = (0..FIELDS.len()).filter(|&f| c.field.is_none_or(|x| x == f) && (!scoring || boosts[f] > 0.0));
        let (mut matched, mut score) = (false, 0.0);
        for f in fields {
            let tokens = &doc[f];
            let mut add = |idf: f64, tf: usize| {
                if tf > 0 {
                    matched = true;
                    score += boosts[f] * self.bm25(f, idf, tf, tokens.len());
                }
            };
            match c.kind {
                Kind::Term(w) => add(self.idf(f, w), tokens.iter().filter(|t| **t == w).count()),
                Kind::Phrase(a, b) => {
                    let tf = tokens.windows(2).filter(|p| p[0] == a && p[1] == b).count();
                    add(self.idf(f, a) + self.idf(f, b), tf);
                }
                Kind::Prefix(p) => {
                    for w in VOCAB.iter().filter(|w| w.starts_with(p)) {
                        add(self.idf(f, w), tokens.iter().filter(|t| *t == w).count());
                    }
                }
            }
        }
        (matched, score)
    }

    fn search(&self, q: &[Clause], k: usize, boosts: &[f64], filter: &dyn Fn(u32) -> bool) -> Vec<(u32, f64)> {
        let has_must = q.iter().any(|c| c.occur == Occur::Must);
        let mut out = Vec::new();
        for (&key, doc) in &self.docs {
            let (mut ok, mut any_should, mut score) = (true, false, 0.0);
            for c in q {
                let (m, s) = self.clause(c, doc, boosts);
                match c.occur {
                    Occur::Must => ok &= m,
                    Occur::MustNot => ok &= !m,
                    Occur::Should => any_should |= m,
                }
                if m && c.occur != Occur::MustNot {
                    score += s;
                }
            }
            if ok && (has_must || any_should) && filter(key) {
                out.push((key, score));
            }
        }
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out.truncate(k);
        out
    }
}

fn random_text(rng: &mut Rng) -> Vec<&'static str> {
    (0..rng.below(7)).map(|_| VOCAB[rng.below(VOCAB.len())]).collect()
}

fn random_clause(rng: &mut Rng) -> Clause {
    let occur = match rng.below(6) {
        0 => Occur::Must,
        1 => Occur::MustNot,
        _ => Occur::Should,
    };
    let field = if rng.below(3) == 0 { Some(rng.below(FIELDS.len())) } else { None };
    let word = |rng: &mut Rng| VOCAB[rng.below(VOCAB.len())];
    let kind = match rng.below(5) {
        0 => Kind::Phrase(word(rng), word(rng)),
        1 => Kind::Prefix(&word(rng)[..1 + rng.below(2)]),
        _ => Kind::Term(word(rng)),
    };
    Clause { occur, field, kind }
}

fn render(q: &[Clause]) -> String {
    let parts = q.iter().map(|c| {
        let op = match c.occur {
            Occur::Should => "",
            Occur::Must => "+",
            Occur::MustNot => "-",
        };
        let field = c.field.map_or(String::new(), |f| format!("{}:", FIELDS[f]));
        let body = match c.kind {
            Kind::Term(w) => w.to_string(),
            Kind::Phrase(a, b) => format!("\"{a} {b}\""),
            Kind::Prefix(p) => format!("{p}*"),
        };
        format!("{op}{field}{body}")
    });
    parts.collect::<Vec<_>>().join(" ")
}

fn build(rng: &mut Rng) -> (TextIndex, Model) {
    let mut index = TextIndex::new(FIELDS).unwrap();
    let mut model = Model { docs: BTreeMap::new() };
    for _ in 0..rng.below(40) + 1 {
        let key = rng.below(30) as u32;
        if rng.below(5) == 0 {
            index.remove(key);
            model.docs.remove(&key);
            continue;
        }
        let fields = vec![random_text(rng), random_text(rng)];
        let (a, b) = (fields[0].join(" "), fields[1].join(" "));
        index.upsert(key, &[(0, &a), (1, &b)]).unwrap();
        if fields.iter().all(|f| f.is_empty()) {
            model.docs.remove(&key);
        } else {
            model.docs.insert(key, fields);
        }
    }
    (index, model)
}

fn check(index: &TextIndex, model: &Model, rng: &mut Rng) -> bool {
    let mut q: Vec<Clause> = (0..1 + rng.below(4)).map(|_| random_clause(rng)).collect();
    if q.iter().all(|c| c.occur == Occur::MustNot) {
        q[0].occur = Occur::Should;
    }
    let text = render(&q);
    let boosts: Vec<f64> = (0..FIELDS.len()).map(|_| [1.0, 0.5, 3.0, 0.0][rng.below(4)]).collect();
    let k = 1 + rng.below(12);
    let modulus = 1 + rng.below(3) as u32;
    let filter = move |key: u32| key % modulus != 1;
    let got = index.search(
        &index.parse_query(&text).unwrap(),
        k,
        &boosts.iter().map(|&b| b as f32).collect::<Vec<_>>(),
        Some(&filter),
    );
    let want = model.search(&q, k, &boosts, &filter);
    let all = model.search(&q, usize::MAX, &boosts, &filter);
    assert_eq!(got.len(), want.len(), "{text:?} boosts {boosts:?}: got {got:?} want {want:?}");
    let near = |a: f32, b: f64| (f64::from(a) - b).abs() <= 1e-4 * b.abs().max(1.0);
    for ((key, score), (_, want_score)) in got.iter().zip(&want) {
        assert!(near(*score, *want_score), "{text:?}: got {got:?} want {want:?}");
        let own = all.iter().find(|h| h.0 == *key).map(|h| h.1);
        assert!(own.is_some_and(|s| near(*score, s)), "{text:?}: key {key} scored {score}, model {own:?}");
    }
    !got.is_empty()
}

#[test]
fn search_matches_brute_force() {
    let mut rng = Rng(2024);
    let mut nonempty = 0;
    for _ in 0..400 {
        let (index, model) = build(&mut rng);
        for _ in 0..25 {
            nonempty += usize::from(check(&index, &model, &mut rng));
        }
    }
    // The comparison is only meaningful if most queries find something.
    assert!(nonempty > 400 * 25 / 3, "only {nonempty} queries had results");
}
