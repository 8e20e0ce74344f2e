#!/usr/bin/env python3
# Graph-benchmark peer: loads the WordNet graph written by prepare.py into an
# on-disk Kùzu database in a temporary directory and times two traversals per
# start node of queries.tsv, single-threaded:
#   two_hop    DISTINCT ids reachable by 1 or 2 outgoing edges of any type,
#              the start itself excluded
#   ancestors  DISTINCT ids reachable by 1..32 outgoing hypernym or
#              instance_hypernym edges
# Prints ONE JSON line to stdout (logs go to stderr) and writes the sorted
# result ids of the first 50 queries to DATA_DIR/kuzu_results.json. Every
# Kùzu answer is also checked against a plain-Python BFS over edges.tsv.
# Usage: kuzu_peer.py [DATA_DIR] [--warmup 100] [--threads 1] [--check 50]
import argparse
import collections
import json
import math
import os
import shutil
import sys
import tempfile
import time
import warnings

import kuzu

DEFAULT_DIR = "target/bench-data/wordnet"
ANCESTOR_TYPES = ("hypernym", "instance_hypernym")
MAX_DEPTH = 32
# Kùzu caps variable-length patterns at 30 hops unless told otherwise.
SET_MAX_DEPTH = f"CALL var_length_extend_max_depth={MAX_DEPTH}"

TWO_HOP = (
    "MATCH (a:Synset {id: $id})-[:Ptr*1..2]->(b:Synset) "
    "WHERE b.id <> $id RETURN DISTINCT b.id"
)
ANCESTORS = (
    f"MATCH (a:Synset {{id: $id}})-[r:Ptr*1..{MAX_DEPTH} "
    f"(r, _ | WHERE r.type IN {list(ANCESTOR_TYPES)!r})]->(b:Synset) "
    "RETURN DISTINCT b.id"
)


def log(*a):
    print("[kuzu_peer]", *a, file=sys.stderr, flush=True)


def read_tsv(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f]


def percentile(sorted_vals, p):
    """Nearest-rank percentile of an ascending list."""
    k = max(0, min(len(sorted_vals) - 1, math.ceil(p / 100 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def cypher_str(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def load(conn, data):
    # Kùzu reads .tsv only as FILE_FORMAT='csv', and its '\t' escape in a
    # string literal does not give a tab (it quietly splits on 't'), so the
    # delimiter is passed as a literal tab character.
    opts = "HEADER=false, DELIM='\t', FILE_FORMAT='csv'"
    nodes = cypher_str(os.path.join(data, "nodes.tsv"))
    edges = cypher_str(os.path.join(data, "edges.tsv"))
    conn.execute("CREATE NODE TABLE Synset(id STRING PRIMARY KEY, lemma STRING)")
    conn.execute("CREATE REL TABLE Ptr(FROM Synset TO Synset, type STRING)")
    conn.execute(f"COPY Synset FROM {nodes} ({opts})")
    # edges.tsv is (from, type, to); a rel COPY wants (from, to, props...).
    conn.execute(f"COPY Ptr FROM (LOAD FROM {edges} ({opts}) RETURN column0, column2, column1)")


def reference(edges):
    """Plain-Python answers, to check Kùzu's (and later Engram's)."""
    out_all = collections.defaultdict(list)
    out_anc = collections.defaultdict(list)
    for s, t, d in edges:
        out_all[s].append(d)
        if t in ANCESTOR_TYPES:
            out_anc[s].append(d)

    def two_hop(start):
        seen = set()
        for m in out_all.get(start, ()):
            seen.add(m)
            seen.update(out_all.get(m, ()))
        seen.discard(start)
        return seen

    def ancestors(start):
        seen, frontier = set(), [start]
        for _ in range(MAX_DEPTH):
            nxt = []
            for n in frontier:
                for m in out_anc.get(n, ()):
                    if m not in seen:
                        seen.add(m)
                        nxt.append(m)
            if not nxt:
                break
            frontier = nxt
        return seen

    return two_hop, ancestors


def run(conn, stmt, queries, warmup):
    for q in queries[:warmup]:
        conn.execute(stmt, {"id": q}).get_all()
    times, results = [], []
    for q in queries:
        t0 = time.perf_counter_ns()
        rows = conn.execute(stmt, {"id": q}).get_all()
        times.append(time.perf_counter_ns() - t0)
        results.append([r[0] for r in rows])
    return times, results


def summary(times, results):
    us = sorted(t / 1000 for t in times)
    return {
        "p50_us": round(percentile(us, 50), 1),
        "p90_us": round(percentile(us, 90), 1),
        "p99_us": round(percentile(us, 99), 1),
        "mean_us": round(sum(us) / len(us), 1),
        "mean_result": round(sum(len(r) for r in results) / len(results), 2),
    }


def main():
    ap = argparse.ArgumentParser(description="Kùzu peer of the graph benchmark")
    ap.add_argument("data", nargs="?", default=DEFAULT_DIR)
    ap.add_argument("--warmup", type=int, default=100, help="untimed queries first (default 100)")
    ap.add_argument("--threads", type=int, default=1, help="Kùzu threads (default 1)")
    ap.add_argument("--check", type=int, default=50, help="queries written to kuzu_results.json")
    args = ap.parse_args()
    data = os.path.abspath(args.data)
    for f in ("nodes.tsv", "edges.tsv", "queries.tsv"):
        if not os.path.isfile(os.path.join(data, f)):
            raise SystemExit(f"kuzu_peer: missing {data}/{f}; run bench/graph/setup.sh")
    queries = [r[0] for r in read_tsv(os.path.join(data, "queries.tsv"))]
    edges = read_tsv(os.path.join(data, "edges.tsv"))
    n_nodes = sum(1 for _ in open(os.path.join(data, "nodes.tsv"), encoding="utf-8"))

    # Kùzu 0.11 marks prepare() deprecated, but a prepared statement is its
    # fastest path (execute(str, params) re-plans every call), so we use it.
    warnings.filterwarnings("ignore", message=".*prepare.*", category=DeprecationWarning)

    tmp = tempfile.mkdtemp(prefix="engram-bench-kuzu-")
    try:
        t0 = time.perf_counter()
        db = kuzu.Database(os.path.join(tmp, "wordnet.kuzu"), buffer_pool_size=1 << 30)
        conn = kuzu.Connection(db, num_threads=args.threads)
        load(conn, data)
        load_s = time.perf_counter() - t0
        got_n = conn.execute("MATCH (a:Synset) RETURN count(*)").get_next()[0]
        got_e = conn.execute("MATCH ()-[r:Ptr]->() RETURN count(*)").get_next()[0]
        if (got_n, got_e) != (n_nodes, len(edges)):
            raise SystemExit(f"kuzu_peer: loaded {got_n} nodes / {got_e} edges, "
                             f"files have {n_nodes} / {len(edges)}")
        log(f"loaded {got_n} nodes, {got_e} edges in {load_s:.2f}s")

        conn.execute(SET_MAX_DEPTH)
        out = {
            "peer": "kuzu",
            "version": kuzu.__version__,
            "threads": args.threads,
            "nodes": got_n,
            "edges": got_e,
            "queries": len(queries),
            "warmup": args.warmup,
            "load_s": round(load_s, 3),
        }
        two_hop_ref, anc_ref = reference(edges)
        answers = {}
        for name, cypher, ref in (("two_hop", TWO_HOP, two_hop_ref), ("ancestors", ANCESTORS, anc_ref)):
            stmt = conn.prepare(cypher)
            times, results = run(conn, stmt, queries, args.warmup)
            bad = [q for q, r in zip(queries, results) if len(r) != len(set(r)) or set(r) != ref(q)]
            if bad:
                raise SystemExit(f"kuzu_peer: {name}: {len(bad)} answers differ from the "
                                 f"Python reference, first {bad[0]}")
            out[name] = summary(times, results)
            answers[name] = results
            log(f"{name}: {out[name]} (all {len(queries)} match the Python reference)")
        del conn, db
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    check = {
        "peer": "kuzu",
        "version": kuzu.__version__,
        "queries": [
            {"start": q, "two_hop": sorted(answers["two_hop"][i]),
             "ancestors": sorted(answers["ancestors"][i])}
            for i, q in enumerate(queries[: args.check])
        ],
    }
    path = os.path.join(data, "kuzu_results.json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(check, f, separators=(",", ":"))
        f.write("\n")
    os.replace(path + ".tmp", path)
    log(f"wrote {path}")
    print(json.dumps(out, separators=(", ", ": ")), flush=True)


if __name__ == "__main__":
    main()
