#!/usr/bin/env python3
# Search-benchmark report: reads the peers' JSON (peers.py) and Engram's JSON
# (engram-bench search) and prints a markdown table of workload, Engram, peer,
# ratio, goal, met?, then the k-NN sweep tables.
# Usage: report.py PEERS_JSON ENGRAM_JSON [--strict]  (--strict: exit 1 if a goal is missed)
import datetime
import json
import os
import platform
import sys

NOT_RUN = "not run"
RECALL_BAR = 0.95


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        print(f"warning: {path} not found; its side shows 'not run'", file=sys.stderr)
        return {}
    except json.JSONDecodeError as e:
        print(f"warning: {path} is not valid JSON ({e}); its side shows 'not run'", file=sys.stderr)
        return {}


def get(obj, *path):
    for p in path:
        if isinstance(obj, dict) and p in obj:
            obj = obj[p]
        elif isinstance(obj, list) and isinstance(p, int) and -len(obj) <= p < len(obj):
            obj = obj[p]
        else:
            return None
    return obj


def num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def fmt(x, kind="num"):
    if x is None:
        return NOT_RUN
    if isinstance(x, str):
        return x
    if kind == "recall":
        return f"{x:.4f}"
    if kind == "s":
        return f"{x:.2f} s"
    if kind == "ms":
        return f"{x:.2f} ms"
    if kind == "ratio":
        return f"{x:.2f}x"
    if kind == "diff":
        return f"{x:+.4f}"
    if abs(x) >= 1e6:
        return f"{x / 1e6:.2f}M"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def best_at_recall(sweep):
    """The highest-QPS sweep point with recall >= RECALL_BAR, or None."""
    ok = [p for p in (sweep or []) if num(p.get("recall")) and num(p.get("qps")) and p["recall"] >= RECALL_BAR]
    return max(ok, key=lambda p: p["qps"]) if ok else None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class Table:
    def __init__(self):
        self.rows = []
        self.missed = 0

    def add(self, workload, engram, peer, ratio, goal, met):
        if met is None:
            verdict = NOT_RUN if engram == NOT_RUN or peer == NOT_RUN or ratio == NOT_RUN else "n/a"
        else:
            verdict = "yes" if met else "**NO**"
            if not met:
                self.missed += 1
        self.rows.append((workload, engram, peer, ratio, goal, verdict))

    def print(self):
        head = ("workload", "Engram", "peer", "ratio", "goal", "met?")
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for r in self.rows:
            print("| " + " | ".join(str(c) for c in r) + " |")


def ratio_row(t, workload, e, p, peer_name, goal_text, test, kind="num", invert=False):
    """A row whose ratio is e/p. test(ratio) -> bool."""
    r = e / p if num(e) and num(p) and p > 0 else None
    t.add(workload, fmt(e, kind), f"{peer_name} {fmt(p, kind)}" if p is not None else NOT_RUN,
          fmt(r, "ratio"), goal_text, test(r) if r is not None else None)


def knn_rows(t, peers, eng):
    for ds in ("fashion", "minilm"):
        ps = get(peers, "hnswlib", ds)
        es = get(eng, "knn", ds)
        pb = best_at_recall(get(ps, "sweep"))
        eb = best_at_recall(get(es, "sweep"))

        def desc(b, sweep):
            if b is not None:
                return f"{fmt(b['qps'])} qps (ef={b.get('ef')}, r={b['recall']:.3f})"
            return "recall < 0.95 at every ef" if sweep else None

        e_txt = desc(eb, get(es, "sweep"))
        p_txt = desc(pb, get(ps, "sweep"))
        r = eb["qps"] / pb["qps"] if eb and pb and pb["qps"] > 0 else None
        met = (r >= 1.0) if r is not None else (False if get(es, "sweep") and eb is None else None)
        r_txt = fmt(r, "ratio") if r is not None or not (e_txt and p_txt) else "-"
        t.add(f"k-NN {ds}: QPS at recall@10 >= 0.95", fmt(e_txt),
              f"hnswlib {p_txt}" if p_txt else NOT_RUN, r_txt, ">= 1.0x", met)
    for ds in ("fashion", "minilm"):
        ratio_row(t, f"k-NN {ds}: build time", get(eng, "knn", ds, "build_s"),
                  get(peers, "hnswlib", ds, "build_s"), "hnswlib", "<= 1.5x", lambda r: r <= 1.5, kind="s")


def filtered_rows(t, eng, meta):
    regimes = get(eng, "filtered", "fashion") or []
    by_name = {r.get("name"): r for r in regimes if isinstance(r, dict)}
    names = [f["name"] for f in (meta or {}).get("filters", [])] or ["50%", "10%", "1%", "0.1%"]
    defs = {f["name"]: f.get("filter", "") for f in (meta or {}).get("filters", [])}
    for name in names + [n for n in by_name if n not in names]:
        r = by_name.get(name)
        label = f"filtered fashion {name}" + (f" ({defs[name]})" if defs.get(name) else "")
        rec = get(r, "planner", "recall")
        plan = get(r, "planner", "plan")
        t.add(f"{label}: planner recall@10", fmt(rec, "recall") + (f" (plan {plan})" if plan and rec is not None else ""),
              "-", "-", ">= 0.95", (rec >= RECALL_BAR) if num(rec) else None)
        # Best alternative strategy inside Engram: hnsw_filter only if its
        # recall reaches the bar, exact_subset always.
        alts = []
        hf = get(r, "hnsw_filter")
        if num(get(hf, "recall")) and num(get(hf, "qps")) and hf["recall"] >= RECALL_BAR:
            alts.append(("hnsw_filter", hf["qps"]))
        ex = get(r, "exact_subset")
        if num(get(ex, "qps")):
            alts.append(("exact_subset", ex["qps"]))
        pq = get(r, "planner", "qps")
        if alts:
            alt_name, alt_qps = max(alts, key=lambda a: a[1])
            peer_txt = f"{alt_name} {fmt(alt_qps)}"
            if hf is not None and not any(a[0] == "hnsw_filter" for a in alts) and num(get(hf, "recall")):
                peer_txt += f" (hnsw_filter r={hf['recall']:.3f}, excluded)"
        else:
            alt_qps, peer_txt = None, NOT_RUN
        ratio = pq / alt_qps if num(pq) and num(alt_qps) and alt_qps > 0 else None
        t.add(f"{label}: planner QPS vs best other strategy", fmt(pq), peer_txt, fmt(ratio, "ratio"),
              ">= 0.8x", (ratio >= 0.8) if ratio is not None else None)


def text_rows(t, peers, eng):
    e_mrr = get(eng, "text", "mrr10")
    for peer in ("tantivy", "fts5"):
        p_mrr = get(peers, peer, "mrr10")
        diff = e_mrr - p_mrr if num(e_mrr) and num(p_mrr) else None
        t.add(f"text gcide: MRR@10 vs {peer}", fmt(e_mrr, "recall"),
              f"{peer} {fmt(p_mrr, 'recall')}" if p_mrr is not None else NOT_RUN,
              fmt(diff, "diff") + (" (diff)" if diff is not None else ""), "within ±0.01",
              (abs(diff) <= 0.01 + 1e-12) if diff is not None else None)
    e_qps = get(eng, "text", "qps")
    ratio_row(t, "text gcide: QPS", e_qps, get(peers, "fts5", "qps"), "fts5", ">= 10x", lambda r: r >= 10)
    ratio_row(t, "text gcide: QPS", e_qps, get(peers, "tantivy", "qps"), "tantivy", ">= 0.5x", lambda r: r >= 0.5)
    ratio_row(t, "text gcide: indexing docs/s", get(eng, "text", "index_docs_per_s"),
              get(peers, "fts5", "index_docs_per_s"), "fts5", ">= 0.8x", lambda r: r >= 0.8)
    ratio_row(t, "text gcide: indexing docs/s (info)", get(eng, "text", "index_docs_per_s"),
              get(peers, "tantivy", "index_docs_per_s"), "tantivy", "-", lambda r: None)


def sweep_table(title, sweeps):
    """sweeps: list of (side, sweep list)."""
    efs = sorted({p.get("ef") for _s, sw in sweeps for p in (sw or []) if p.get("ef") is not None})
    if not efs:
        return
    print(f"\n{title}\n")
    head = ["ef"] + [f"{s} recall" for s, _ in sweeps] + [f"{s} qps" for s, _ in sweeps]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---:" for _ in head) + "|")
    for ef in efs:
        pts = [next((p for p in (sw or []) if p.get("ef") == ef), None) for _s, sw in sweeps]
        cells = [str(ef)] + [fmt(get(p, "recall"), "recall") if p else "-" for p in pts] \
            + [fmt(get(p, "qps")) if p else "-" for p in pts]
        print("| " + " | ".join(cells) + " |")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    strict = "--strict" in sys.argv[1:]
    if len(args) != 2:
        print("usage: report.py PEERS_JSON ENGRAM_JSON [--strict]", file=sys.stderr)
        sys.exit(2)
    peers, eng = load(args[0]), load(args[1])
    data_dir = os.path.dirname(os.path.abspath(args[0]))
    meta = load(os.path.join(data_dir, "fashion", "meta.json")) if os.path.exists(
        os.path.join(data_dir, "fashion", "meta.json")) else {}

    print("# Search benchmark: Engram vs peers\n")
    print(f"- date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}"
          + (f" (peers measured {peers['date']})" if peers.get("date") else ""))
    print(f"- machine: {os.cpu_count()} cores (nproc), {cpu_model()}, {platform.system()} {platform.release()}")
    print(f"- peers: hnswlib {get(peers, 'hnswlib', 'version') or '?'} (M=16, ef_construction=200, 1 thread), "
          f"tantivy {(get(peers, 'tantivy', 'version') or '?').replace('tantivy ', '')} (1 writer thread), "
          f"SQLite FTS5 {get(peers, 'fts5', 'sqlite_version') or '?'}; all single-threaded, best of 3 query passes")
    if peers.get("quick"):
        print("- **peers ran with --quick (small slices): figures are a smoke test, not results**")
    ed, pd = get(eng, "text", "docs"), get(peers, "fts5", "docs") or get(peers, "tantivy", "docs")
    if num(ed) and num(pd) and ed != pd:
        print(f"- **warning: Engram indexed {ed} gcide docs, the peers {pd}**")
    print()

    t = Table()
    knn_rows(t, peers, eng)
    filtered_rows(t, eng, meta)
    ek = get(eng, "exact_kernel", "vectors_per_s")
    dims = get(eng, "exact_kernel", "dims")
    t.add(f"exact kernel ({dims or 384} dims): vectors/s", fmt(ek), "-", "-", ">= 10M",
          (ek >= 10e6) if num(ek) else None)
    text_rows(t, peers, eng)
    hp = get(eng, "hybrid", "p95_ms")
    hd = get(eng, "hybrid", "docs")
    t.add(f"hybrid search p95 ({hd or '?'} docs; p50 {fmt(get(eng, 'hybrid', 'p50_ms'), 'ms')})",
          fmt(hp, "ms"), "-", "-", "<= 5 ms", (hp <= 5.0) if num(hp) else None)
    op = get(eng, "open", "open_s")
    ov = get(eng, "open")
    t.add(f"open ({get(ov, 'vectors') or '?'} vectors x {get(ov, 'dims') or '?'} dims)", fmt(op, "s"),
          "-", "-", "< 3 s", (op < 3.0) if num(op) else None)
    t.print()
    print(f"\n{t.missed} goal(s) missed; 'not run' = a side's figure is missing.")

    for ds in ("fashion", "minilm"):
        sweep_table(f"## k-NN sweep: {ds} (recall@10, queries/s, 1 thread)",
                    [("hnswlib", get(peers, "hnswlib", ds, "sweep")), ("Engram", get(eng, "knn", ds, "sweep"))])
    tt = [(k, get(peers, k)) for k in ("tantivy", "fts5")] + [("Engram", get(eng, "text"))]
    if any(v for _k, v in tt):
        print("\n## Text search: gcide known-item queries\n")
        print("| engine | docs | index docs/s | qps | MRR@10 |")
        print("|---|---:|---:|---:|---:|")
        for k, v in tt:
            print(f"| {k} | {fmt(get(v, 'docs'))} | {fmt(get(v, 'index_docs_per_s'))} | "
                  f"{fmt(get(v, 'qps'))} | {fmt(get(v, 'mrr10'), 'recall')} |")
    if strict and t.missed:
        sys.exit(1)


if __name__ == "__main__":
    main()
