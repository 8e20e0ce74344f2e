//! The prepared WordNet files: nodes, typed edges, query start nodes.

use std::path::Path;

pub struct WordNet {
    /// (id, lemma)
    pub nodes: Vec<(String, String)>,
    /// (from, type, to)
    pub edges: Vec<(String, String, String)>,
    pub queries: Vec<String>,
}

fn lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (run bench/graph/setup.sh first)", path.display()));
    text.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

pub fn load(dir: &Path) -> WordNet {
    let nodes = lines(&dir.join("nodes.tsv"))
        .into_iter()
        .map(|l| {
            let (id, lemma) = l.split_once('\t').expect("node line: id, lemma");
            (id.to_owned(), lemma.to_owned())
        })
        .collect();
    let edges = lines(&dir.join("edges.tsv"))
        .into_iter()
        .map(|l| {
            let mut it = l.split('\t');
            let (f, t, to) = (it.next(), it.next(), it.next());
            (f.expect("from").to_owned(), t.expect("type").to_owned(), to.expect("to").to_owned())
        })
        .collect();
    let queries = lines(&dir.join("queries.tsv"));
    WordNet { nodes, edges, queries }
}
