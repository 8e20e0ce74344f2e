#!/usr/bin/env python3
# Search-benchmark data preparation: turns Fashion-MNIST, the MiniLM nlp-corpus
# embeddings and the GCIDE dictionary into plain little-endian binary files,
# JSONL files and exact ground truth that both peers.py and the Rust
# engram-bench read. Usage: prepare.py OUT_DIR [--quick]   (cached: finished
# datasets are kept). --quick writes small slices (base rows / docs limited,
# same queries rule) with their own exact ground truth, for smoke tests.
import os

# Keep BLAS on one thread: other builds share this 2-core machine.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import collections
import gzip
import json
import random
import re
import sys
import time

import numpy as np

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
GCIDE_INDEX = "/usr/share/dictd/gcide.index"
GCIDE_DICT = "/usr/share/dictd/gcide.dict.dz"
MINILM_DIR = os.environ.get("MINILM_DIR", "/work/shared/data/minilm-nlpcorpus")

K = 10
NQ = 1000
# --quick slice sizes (base rows for the vector sets, docs for gcide).
QUICK_ROWS = 10000
QUICK_DOCS = 20000
ATTR_SEED = 20240601
QUERY_SEED = 20240602
# A finished dataset directory has this marker; outputs are written first.
DONE = ".done"


def log(*a):
    print("[prepare]", *a, file=sys.stderr, flush=True)


def done(d):
    return os.path.exists(os.path.join(d, DONE))


def mark_done(d):
    with open(os.path.join(d, DONE), "w") as f:
        f.write(time.strftime("%Y-%m-%dT%H:%M:%S") + "\n")


def write_bin(path, arr, dtype):
    a = np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("<"))
    tmp = path + ".tmp"
    a.tofile(tmp)
    os.replace(tmp, path)


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------- ground truth

def topk_ties_by_id(dist_row, k):
    """Ids of the k smallest finite distances; equal distances ordered by id.
    Padded with -1 when fewer than k rows are finite (filtered out = inf)."""
    finite = np.isfinite(dist_row)
    nfin = int(finite.sum())
    out = np.full(k, -1, dtype=np.int32)
    if nfin == 0:
        return out, 0
    kk = min(k, nfin)
    part = np.argpartition(dist_row, kk - 1)[:kk]
    kth = dist_row[part].max()
    cand = np.nonzero(dist_row <= kth)[0]  # ascending ids
    order = cand[np.argsort(dist_row[cand], kind="stable")][:kk]
    out[:kk] = order
    return out, kk


def exact_gt(base, queries, metric, masks=None, chunk=100):
    """Exact top-K in float64. metric 'l2' (squared L2) or 'cosine' (inputs
    unit vectors: distance = -dot). masks: dict name -> callable(qidx) giving a
    boolean row mask over base, or None for the unfiltered case.
    Returns dict name -> (ids int32 nq x K, short: number of queries with < K hits)."""
    masks = masks or {"": None}
    b = base.astype(np.float64)
    bb = (b * b).sum(1) if metric == "l2" else None
    res = {name: np.full((len(queries), K), -1, np.int32) for name in masks}
    short = {name: 0 for name in masks}
    for s in range(0, len(queries), chunk):
        q = queries[s:s + chunk].astype(np.float64)
        dots = q @ b.T
        if metric == "l2":
            dist = (q * q).sum(1)[:, None] - 2.0 * dots + bb[None, :]
        else:
            dist = -dots
        for name, mk in masks.items():
            for i in range(len(q)):
                row = dist[i]
                if mk is not None:
                    row = np.where(mk(s + i), row, np.inf)
                ids, got = topk_ties_by_id(row, K)
                res[name][s + i] = ids
                if got < K:
                    short[name] += 1
    return res, short


# --------------------------------------------------------------------- fashion

def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims)


FILTERS = [
    # name, file, definition (for meta.json and the Rust side)
    ("50%", "gt_f50.i32", "attr < 500"),
    ("10%", "gt_f10.i32", "label == (query_label + 5) % 10"),
    ("1%", "gt_f1.i32", "attr < 10"),
    ("0.1%", "gt_f01.i32", "attr < 1"),
]


def prepare_fashion(out, limit=None):
    d = os.path.join(out, "fashion")
    if done(d):
        log("fashion: cached")
        return
    os.makedirs(d, exist_ok=True)
    t0 = time.time()
    xb = read_idx(os.path.join(FASHION_DIR, "train-images-idx3-ubyte.gz")).reshape(60000, -1)
    yb = read_idx(os.path.join(FASHION_DIR, "train-labels-idx1-ubyte.gz"))
    xt = read_idx(os.path.join(FASHION_DIR, "t10k-images-idx3-ubyte.gz")).reshape(10000, -1)
    yt = read_idx(os.path.join(FASHION_DIR, "t10k-labels-idx1-ubyte.gz"))
    xq, yq = xt[:NQ], yt[:NQ]
    if limit:
        xb, yb = xb[:limit], yb[:limit]
    n, dim = xb.shape
    attr = np.random.default_rng(ATTR_SEED).integers(0, 1000, size=n, dtype=np.uint16)

    write_bin(os.path.join(d, "base.f32"), xb, np.float32)
    write_bin(os.path.join(d, "queries.f32"), xq, np.float32)
    write_bin(os.path.join(d, "labels.u8"), yb, np.uint8)
    write_bin(os.path.join(d, "query_labels.u8"), yq, np.uint8)
    write_bin(os.path.join(d, "attr.u16"), attr, np.uint16)

    by_label = {c: (yb == c) for c in range(10)}
    masks = {
        "": None,
        "50%": (lambda m: (lambda i: m))(attr < 500),
        "10%": lambda i: by_label[(int(yq[i]) + 5) % 10],
        "1%": (lambda m: (lambda i: m))(attr < 10),
        "0.1%": (lambda m: (lambda i: m))(attr < 1),
    }
    log(f"fashion: exact ground truth for {len(masks)} regimes ...")
    gts, short = exact_gt(xb.astype(np.float32), xq.astype(np.float32), "l2", masks)
    write_bin(os.path.join(d, "gt.i32"), gts[""], np.int32)
    filt_meta = []
    for name, fname, definition in FILTERS:
        write_bin(os.path.join(d, fname), gts[name], np.int32)
        if name == "10%":
            rows = [int(by_label[(int(c) + 5) % 10].sum()) for c in yq]
            matching = {"min": min(rows), "max": max(rows), "mean": float(np.mean(rows))}
        else:
            m = masks[name](0)
            matching = int(m.sum())
        filt_meta.append({
            "name": name, "gt": fname, "filter": definition,
            "matching_rows": matching, "queries_with_fewer_than_k": short[name],
        })
    meta = {
        "n": int(n), "d": int(dim), "nq": int(NQ), "k": K, "metric": "l2",
        "distance": "squared L2 on pixel values 0..255 as f32",
        "files": {
            "base.f32": f"f32 LE row-major n x d", "queries.f32": "f32 LE nq x d (first 1000 test images)",
            "labels.u8": "u8 class per base row", "query_labels.u8": "u8 class per query",
            "attr.u16": f"u16 LE per base row, uniform 0..999, numpy default_rng({ATTR_SEED}), independent of vectors",
            "gt.i32": "i32 LE nq x k exact neighbours, ties by id, -1 = padding",
        },
        "filters": filt_meta,
        "source": "Debian dataset-fashion-mnist: train (60000) = base, first 1000 of t10k = queries",
        "quick": bool(limit),
    }
    write_json(os.path.join(d, "meta.json"), meta)
    mark_done(d)
    log(f"fashion: done in {time.time() - t0:.1f}s; filters: " +
        ", ".join(f"{f['name']}={f['matching_rows']} rows (short {f['queries_with_fewer_than_k']})" for f in filt_meta))


# ---------------------------------------------------------------------- minilm

def prepare_minilm(out, limit=None):
    d = os.path.join(out, "minilm")
    if done(d):
        log("minilm: cached")
        return
    os.makedirs(d, exist_ok=True)
    t0 = time.time()
    emb = np.load(os.path.join(MINILM_DIR, "embeddings-f16.npy")).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    with open(os.path.join(MINILM_DIR, "sentences.json"), encoding="utf-8") as f:
        sentences = json.load(f)
    assert len(sentences) == len(emb), (len(sentences), len(emb))
    nb = len(emb) - NQ
    xb, xq = emb[:nb], emb[nb:]
    if limit:
        nb = limit
        xb = xb[:nb]
    write_bin(os.path.join(d, "base.f32"), xb, np.float32)
    write_bin(os.path.join(d, "queries.f32"), xq, np.float32)
    tmp = os.path.join(d, "base.jsonl.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for s in sentences[:nb]:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")
    os.replace(tmp, os.path.join(d, "base.jsonl"))
    tmp = os.path.join(d, "queries.jsonl.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for s in sentences[len(emb) - NQ:]:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")
    os.replace(tmp, os.path.join(d, "queries.jsonl"))
    log("minilm: exact ground truth ...")
    gts, _ = exact_gt(xb, xq, "cosine")
    write_bin(os.path.join(d, "gt.i32"), gts[""], np.int32)
    meta = {
        "n": int(nb), "d": int(xb.shape[1]), "nq": int(NQ), "k": K, "metric": "cosine",
        "distance": "1 - dot on re-normalized f32 unit vectors",
        "files": {
            "base.f32": "f32 LE row-major n x d, unit length", "queries.f32": "f32 LE nq x d (last 1000 rows)",
            "base.jsonl": "one JSON string per line: the sentence of base row i",
            "queries.jsonl": "one JSON string per line: the sentence of query i (sentences.json row n_all - 1000 + i)",
            "gt.i32": "i32 LE nq x k exact neighbours (max dot), ties by id",
        },
        "source": "shared/data/minilm-nlpcorpus: all-MiniLM-L6-v2 embeddings of nlp-corpus sentences",
        "quick": bool(limit),
    }
    write_json(os.path.join(d, "meta.json"), meta)
    mark_done(d)
    log(f"minilm: done in {time.time() - t0:.1f}s (n={nb})")


# ----------------------------------------------------------------------- gcide

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
B64V = {c: i for i, c in enumerate(B64)}


def b64num(s):
    v = 0
    for c in s:
        v = v * 64 + B64V[c]
    return v


TOKEN = re.compile(r"[^\W_]+")  # runs of alphanumeric characters (Unicode)


def tokenize(text):
    """The df/query tokenization: runs of alphanumeric chars, lowercased."""
    return TOKEN.findall(text.lower())


PRON = re.compile(r"\\[^\\\n]*\\")                     # \Pro*nun"ci*a`tion\
SOURCE_TAG = re.compile(r"\[(?:[^\[\]\n]*(?:Webster|WordNet|PJC|Century Dict|RDH)[^\[\]\n]*|AS|PJC\.?)\]")
CHAR_CODE = re.compile(r"\[[-=~^`'\".:]?([a-z]{1,2})[-=~^`'\".:]?\]")  # [=a] [u^] [ae] [=oo]
SPACES = re.compile(r"\s+")


def clean_entry(raw):
    lines = raw.split("\n")
    first = lines[0]
    spans = list(PRON.finditer(first))
    if spans:
        # Drop the headword(s) and their pronunciations at the start of the entry.
        first = first[spans[-1].end():].lstrip(" ,")
    else:
        # WordNet-style entry: the first line is the headword alone.
        first = ""
    text = "\n".join([first] + lines[1:])
    text = PRON.sub(" ", text)
    text = SOURCE_TAG.sub(" ", text)
    text = CHAR_CODE.sub(lambda m: m.group(1), text)
    text = text.replace("{", "").replace("}", "")
    return SPACES.sub(" ", text).strip()


def decode(b):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("cp1252", errors="replace")


def prepare_gcide(out, limit=None):
    d = os.path.join(out, "gcide")
    if done(d):
        log("gcide: cached")
        return
    os.makedirs(d, exist_ok=True)
    t0 = time.time()
    with gzip.open(GCIDE_DICT, "rb") as f:
        data = f.read()
    seen = set()
    docs = []
    n_index = n_dup = n_empty = 0
    with open(GCIDE_INDEX, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            head, off, ln = line.split("\t")
            if head.startswith("00-"):  # dictd metadata (00-database-info, 00-gcide-url, ...)
                continue
            n_index += 1
            off, ln = b64num(off), b64num(ln)
            text = clean_entry(decode(data[off:off + ln]))
            if not text:
                n_empty += 1
                continue
            if text in seen:
                n_dup += 1
                continue
            seen.add(text)
            docs.append({"id": len(docs), "headword": head, "text": text})
            if limit and len(docs) >= limit:
                break
    del seen, data

    df = collections.Counter()
    toks = []
    for doc in docs:
        ts = set(tokenize(doc["text"]))
        toks.append(ts)
        df.update(ts)

    rng = random.Random(QUERY_SEED)
    eligible = [i for i, ts in enumerate(toks) if len(ts) >= 8]
    picks = rng.sample(eligible, NQ)
    queries = []
    for i in picks:
        words = sorted(toks[i], key=lambda w: (df[w], w))[:3]
        queries.append({"q": " ".join(words), "answer": i, "df": [df[w] for w in words]})

    tmp = os.path.join(d, "docs.jsonl.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")
    os.replace(tmp, os.path.join(d, "docs.jsonl"))
    tmp = os.path.join(d, "queries.jsonl.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for q in queries:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    os.replace(tmp, os.path.join(d, "queries.jsonl"))
    nonascii = sum(1 for q in queries if not q["q"].isascii())
    meta = {
        "docs": len(docs), "index_entries": n_index, "dropped_duplicate_text": n_dup,
        "dropped_empty": n_empty, "eligible_for_queries": len(eligible), "nq": len(queries),
        "queries_with_non_ascii_words": nonascii, "query_seed": QUERY_SEED,
        "tokenization": "runs of Unicode alphanumeric chars (Python [^\\W_]+) of text.lower()",
        "query_rule": "random entry with >= 8 distinct tokens; its 3 lowest-df tokens (ties by the word), space-separated; answer = that entry's id",
        "files": {
            "docs.jsonl": '{"id": int, "headword": str, "text": str} per line; ids 0..docs-1 in index order',
            "queries.jsonl": '{"q": str, "answer": id, "df": [int]} per line',
        },
        "source": "Debian dict-gcide (gcide.index + gcide.dict.dz), one doc per index entry, identical texts dropped",
        "quick": bool(limit),
    }
    write_json(os.path.join(d, "meta.json"), meta)
    mark_done(d)
    log(f"gcide: done in {time.time() - t0:.1f}s: {len(docs)} docs from {n_index} index entries "
        f"({n_dup} duplicate texts, {n_empty} empty dropped), {len(queries)} queries")


def main():
    args = [a for a in sys.argv[1:] if a != "--quick"]
    quick = "--quick" in sys.argv[1:]
    if len(args) != 1:
        print("usage: prepare.py OUT_DIR [--quick]", file=sys.stderr)
        sys.exit(2)
    out = args[0]
    os.makedirs(out, exist_ok=True)
    prepare_gcide(out, QUICK_DOCS if quick else None)
    prepare_fashion(out, QUICK_ROWS if quick else None)
    prepare_minilm(out, QUICK_ROWS if quick else None)


if __name__ == "__main__":
    main()
