#!/usr/bin/env python3
# Search-benchmark peers: runs hnswlib (k-NN), tantivy and SQLite FTS5 (text)
# single-threaded on the data written by prepare.py and writes their figures
# as JSON. Usage: peers.py DATA_DIR OUT_JSON [--only hnswlib,tantivy,fts5]
import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import importlib.metadata
import json
import platform
import shutil
import sqlite3
import sys
import tempfile
import time

import numpy as np

K = 10
EFS = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256]
REPEATS = 3


def pkg_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def log(*a):
    print("[peers]", *a, file=sys.stderr, flush=True)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def load_vectors(d):
    meta = load_json(os.path.join(d, "meta.json"))
    n, dim, nq = meta["n"], meta["d"], meta["nq"]
    base = np.fromfile(os.path.join(d, "base.f32"), dtype="<f4").reshape(n, dim)
    queries = np.fromfile(os.path.join(d, "queries.f32"), dtype="<f4").reshape(nq, dim)
    gt = np.fromfile(os.path.join(d, "gt.i32"), dtype="<i4").reshape(nq, K)
    return meta, base, queries, gt


def recall_at_k(found, gt):
    """Mean over queries of |found ∩ gt| / |gt| (gt -1 padding ignored)."""
    total = 0.0
    for f, g in zip(found, gt):
        g = g[g >= 0]
        if len(g):
            total += len(set(f.tolist()) & set(g.tolist())) / len(g)
    return total / len(gt)


# --------------------------------------------------------------------- hnswlib

def run_hnswlib(data_dir):
    import hnswlib
    out = {"version": pkg_version("hnswlib"),
           "params": {"M": 16, "ef_construction": 200, "threads": 1, "k": K, "repeats": REPEATS}}
    for name, space in (("fashion", "l2"), ("minilm", "cosine")):
        meta, base, queries, gt = load_vectors(os.path.join(data_dir, name))
        log(f"hnswlib {name}: building over {base.shape[0]}x{base.shape[1]} ({space}) ...")
        index = hnswlib.Index(space=space, dim=base.shape[1])
        index.init_index(max_elements=base.shape[0], M=16, ef_construction=200, random_seed=100)
        index.set_num_threads(1)
        t0 = time.perf_counter()
        index.add_items(base, np.arange(base.shape[0]), num_threads=1)
        build_s = time.perf_counter() - t0
        log(f"hnswlib {name}: build {build_s:.2f}s")
        sweep = []
        for ef in EFS:
            index.set_ef(ef)
            best = None
            labels = None
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                labels, _d = index.knn_query(queries, k=K, num_threads=1)
                dt = time.perf_counter() - t0
                best = dt if best is None else min(best, dt)
            rec = recall_at_k(labels.astype(np.int64), gt)
            qps = len(queries) / best
            sweep.append({"ef": ef, "recall": round(rec, 5), "qps": round(qps, 1)})
            log(f"hnswlib {name}: ef={ef:<4} recall@10={rec:.4f} qps={qps:,.0f}")
        out[name] = {"n": int(base.shape[0]), "d": int(base.shape[1]), "space": space,
                     "build_s": round(build_s, 3), "sweep": sweep}
        del index
    return out


# ------------------------------------------------------------------------ text

def mrr10(results, queries):
    total = 0.0
    for ids, q in zip(results, queries):
        for rank, i in enumerate(ids[:K], 1):
            if i == q["answer"]:
                total += 1.0 / rank
                break
    return total / len(queries)


def load_text(data_dir):
    d = os.path.join(data_dir, "gcide")
    docs = load_jsonl(os.path.join(d, "docs.jsonl"))
    queries = load_jsonl(os.path.join(d, "queries.jsonl"))
    return docs, queries


def run_tantivy(data_dir, tmp_root):
    import tantivy
    docs, queries = load_text(data_dir)
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("text", stored=False, tokenizer_name="default")
    sb.add_unsigned_field("id", stored=True, indexed=False, fast=False)
    schema = sb.build()
    path = tempfile.mkdtemp(prefix="tantivy-", dir=tmp_root)
    index = tantivy.Index(schema, path=path)
    log(f"tantivy: indexing {len(docs)} docs with 1 writer thread ...")
    t0 = time.perf_counter()
    writer = index.writer(heap_size=256_000_000, num_threads=1)
    for doc in docs:
        td = tantivy.Document()
        td.add_text("text", doc["text"])
        td.add_unsigned("id", doc["id"])
        writer.add_document(td)
    writer.commit()
    writer.wait_merging_threads()
    index_s = time.perf_counter() - t0
    index.reload()
    searcher = index.searcher()
    assert searcher.num_docs == len(docs), (searcher.num_docs, len(docs))
    log(f"tantivy: indexed in {index_s:.2f}s ({len(docs) / index_s:,.0f} docs/s), "
        f"{searcher.num_segments} segment(s)")

    # Check that the default conjunction is OR: a query with one word that
    # occurs nowhere must still return the documents of the other words.
    probe = index.parse_query(queries[0]["q"] + " zzqxnotaword", ["text"])
    assert searcher.search(probe, K).count > 0, "tantivy parse_query default is not OR"
    parsed = [index.parse_query(q["q"], ["text"]) for q in queries]

    best = None
    hits = None
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        hits = [searcher.search(pq, K, count=False).hits for pq in parsed]
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    # Resolve doc addresses to our ids outside the timed loop; time it apart.
    t0 = time.perf_counter()
    results = [[searcher.doc(addr)["id"][0] for _s, addr in h] for h in hits]
    fetch_s = time.perf_counter() - t0
    out = {
        "version": pkg_version("tantivy"),
        "docs": len(docs),
        "index_docs_per_s": round(len(docs) / index_s, 1),
        "index_s": round(index_s, 3),
        "qps": round(len(queries) / best, 1),
        "qps_with_id_fetch": round(len(queries) / (best + fetch_s), 1),
        "mrr10": round(mrr10(results, queries), 5),
        "queries": len(queries),
        "notes": "1 writer thread, heap 256 MB; query = parse_query(q, ['text']) (OR of terms), top 10; "
                 "qps times search only (doc addresses); ids are fetched from the stored 'id' field outside the timed loop",
    }
    log(f"tantivy: qps={out['qps']:,.0f} (with id fetch {out['qps_with_id_fetch']:,.0f}) mrr10={out['mrr10']:.4f}")
    shutil.rmtree(path, ignore_errors=True)
    return out


def run_fts5(data_dir, tmp_root):
    docs, queries = load_text(data_dir)
    opts = [r[0] for r in sqlite3.connect(":memory:").execute("PRAGMA compile_options")]
    has_fts5 = "ENABLE_FTS5" in opts
    if not has_fts5:
        try:
            sqlite3.connect(":memory:").execute("CREATE VIRTUAL TABLE t USING fts5(text)")
            has_fts5 = True
        except sqlite3.OperationalError:
            pass
    if not has_fts5:
        log("fts5: this Python's sqlite3 has no FTS5; skipped")
        return {"error": "sqlite3 built without FTS5"}
    d = tempfile.mkdtemp(prefix="fts5-", dir=tmp_root)
    db = sqlite3.connect(os.path.join(d, "fts.db"), isolation_level=None)
    db.execute("CREATE VIRTUAL TABLE t USING fts5(text)")
    log(f"fts5: inserting {len(docs)} docs in one transaction ...")
    t0 = time.perf_counter()
    db.execute("BEGIN")
    db.executemany("INSERT INTO t(rowid, text) VALUES (?, ?)", ((doc["id"], doc["text"]) for doc in docs))
    db.execute("COMMIT")
    index_s = time.perf_counter() - t0
    log(f"fts5: indexed in {index_s:.2f}s ({len(docs) / index_s:,.0f} docs/s)")
    sql = "SELECT rowid FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT 10"
    matches = [" OR ".join('"' + w.replace('"', '""') + '"' for w in q["q"].split()) for q in queries]
    best = None
    results = None
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        results = [[r[0] for r in db.execute(sql, (m,))] for m in matches]
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    out = {
        "sqlite_version": sqlite3.sqlite_version,
        "docs": len(docs),
        "index_docs_per_s": round(len(docs) / index_s, 1),
        "index_s": round(index_s, 3),
        "qps": round(len(queries) / best, 1),
        "mrr10": round(mrr10(results, queries), 5),
        "queries": len(queries),
        "notes": "fts5(text), default unicode61 tokenizer, file db, one transaction; "
                 "query = quoted words joined by OR, ORDER BY bm25 LIMIT 10",
    }
    log(f"fts5: qps={out['qps']:,.0f} mrr10={out['mrr10']:.4f}")
    db.close()
    shutil.rmtree(d, ignore_errors=True)
    return out


def main():
    ap = argparse.ArgumentParser(description="Run the search-benchmark peers.")
    ap.add_argument("data_dir")
    ap.add_argument("out_json")
    ap.add_argument("--only", default="hnswlib,tantivy,fts5")
    args = ap.parse_args()
    only = set(args.only.split(","))
    # Scratch indexes go next to the data (same disk), not /tmp (may be tmpfs).
    tmp_root = os.path.join(args.data_dir, "scratch")
    os.makedirs(tmp_root, exist_ok=True)
    result = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"nproc": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "quick": bool(load_json(os.path.join(args.data_dir, "fashion", "meta.json")).get("quick")),
    }
    if "hnswlib" in only:
        try:
            result["hnswlib"] = run_hnswlib(args.data_dir)
        except ImportError as e:
            log(f"hnswlib not installed ({e}); skipped")
    if "tantivy" in only:
        try:
            result["tantivy"] = run_tantivy(args.data_dir, tmp_root)
        except ImportError as e:
            log(f"tantivy not installed ({e}); skipped")
    if "fts5" in only:
        result["fts5"] = run_fts5(args.data_dir, tmp_root)
    tmp = args.out_json + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    os.replace(tmp, args.out_json)
    log(f"wrote {args.out_json}")


if __name__ == "__main__":
    main()
