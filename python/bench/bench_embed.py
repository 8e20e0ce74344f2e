"""Engram's local embedder against sentence-transformers, side by side:
the same model (all-MiniLM-L6-v2), the same sentences (the MiniLM fixture
of crates/engram-embed), batches of 32, on the CPU, with 1 and 2 threads,
in interleaved rounds; prints each side's figures and the ratios.

    python python/bench/bench_embed.py MODEL_DIR [--rounds 3] [--n 2000]

Needs sentence-transformers (and torch) in this interpreter, and builds
the Engram side with `cargo build --release -p engram-embed --example
embed_bench`. Each side runs in its own process (so each peak memory is
its own).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "crates/engram-embed/tests/data/minilm-5000.json"
ENGRAM = ROOT / "target/release/examples/embed_bench"


def peer(model_dir: str, threads: int, n: int) -> dict:
    """sentence-transformers in this process (run as a child)."""
    import resource
    import time

    import torch

    torch.set_num_threads(threads)
    from sentence_transformers import SentenceTransformer

    t = time.perf_counter()
    model = SentenceTransformer(model_dir, device="cpu")
    load_ms = (time.perf_counter() - t) * 1e3
    sentences = json.loads(FIXTURE.read_text())[:n]
    model.encode(sentences[:64], batch_size=32)
    c0, t0 = time.process_time(), time.perf_counter()
    model.encode(sentences, batch_size=32)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    lat = []
    for _ in range(200):
        t = time.perf_counter()
        model.encode(["Where did I leave my keys?"], batch_size=32)
        lat.append(time.perf_counter() - t)
    lat.sort()
    return {
        "threads": threads,
        "sentences": len(sentences),
        "sentences_per_second": len(sentences) / secs,
        "cpu_ms_per_sentence": cpu * 1e3 / len(sentences),
        "short_p50_ms": lat[len(lat) // 2] * 1e3,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_ms": load_ms,
    }


def run_engram(model_dir: str, threads: int, n: int) -> dict:
    out = subprocess.run([str(ENGRAM), model_dir, str(threads), str(n)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def run_peer(model_dir: str, threads: int, n: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, model_dir, "--peer-child", str(threads), "--n", str(n)],
        check=True,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--peer-child", type=int, default=0)
    args = ap.parse_args()
    if args.peer_child:
        print(json.dumps(peer(args.model_dir, args.peer_child, args.n)))
        return
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "engram-embed", "--example", "embed_bench"], cwd=ROOT, check=True)
    for threads in (1, 2):
        rows: dict[str, list[dict]] = {"engram": [], "sentence-transformers": []}
        for r in range(args.rounds):
            rows["engram"].append(run_engram(args.model_dir, threads, args.n))
            rows["sentence-transformers"].append(run_peer(args.model_dir, threads, args.n))
        med = {side: {k: statistics.median(x[k] for x in runs) for k in runs[0]} for side, runs in rows.items()}
        e, p = med["engram"], med["sentence-transformers"]
        print(f"threads={threads} (medians of {args.rounds} interleaved rounds, {args.n} sentences, batch 32)")
        for side in ("engram", "sentence-transformers"):
            m = med[side]
            print(
                f"  {side:22} {m['sentences_per_second']:8.1f} sentences/s  {m['cpu_ms_per_sentence']:6.2f} ms CPU/sentence"
                f"  p50 short {m['short_p50_ms']:6.2f} ms  peak {m['peak_rss_mb']:7.1f} MiB  load {m['load_ms']:7.0f} ms"
            )
        print(
            f"  ratio engram/peer: throughput {e['sentences_per_second'] / p['sentences_per_second']:.2f}x, "
            f"CPU per sentence {p['cpu_ms_per_sentence'] / e['cpu_ms_per_sentence']:.2f}x, "
            f"short-sentence p50 {p['short_p50_ms'] / e['short_p50_ms']:.2f}x, "
            f"peak memory {e['peak_rss_mb'] / p['peak_rss_mb']:.2f}x"
        )


if __name__ == "__main__":
    main()
