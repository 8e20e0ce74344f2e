"""Engram from Python against the stores Python users pick today, in one
run on one machine and the same data (a benchmark, not a test):

- LangGraph's long-term memory stores (``InMemoryStore``, ``SqliteStore``)
  against ``engram.langgraph.EngramStore``: put, get and filtered search;
- LangGraph's checkpointers (``InMemorySaver``, ``SqliteSaver``) against
  ``engram.langgraph.EngramSaver``: put (checkpoint + writes) and get;
- k-NN on the MiniLM nlp-corpus embeddings: Chroma (embedded,
  ``PersistentClient``) against an Engram collection, QPS and recall@10 on
  both against exact ground truth;
- the binding's own cost: an empty call into Rust.

Every workload runs the peer and Engram interleaved, ``--rounds`` times,
and reports the median of the rounds' rates (wall clock) and each side's
CPU time, with the ratio Engram / peer. Engram runs embedded on a data
directory, durable as always (each acknowledged write is synced); the
SQLite peers run as LangGraph configures them.

    python bench_python.py --docs 100000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any, Callable

import numpy as np

import engram
from engram.langgraph import EngramSaver, EngramStore

DATA = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data" / "minilm-nlpcorpus"


def timed(fn: Callable[[], int]) -> tuple[float, float]:
    """(operations per second by wall clock, CPU seconds per operation)."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    ops = fn()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return ops / wall, cpu / max(ops, 1)


class Table:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, workload: str, peer: str, engram_rate: float, peer_rate: float, engram_cpu: float, peer_cpu: float, goal: str, extra: str = "") -> None:
        row = {
            "workload": workload, "peer": peer, "engram_per_s": round(engram_rate, 1), "peer_per_s": round(peer_rate, 1),
            "ratio": round(engram_rate / peer_rate, 2) if peer_rate else None,
            "engram_cpu_us": round(engram_cpu * 1e6, 1), "peer_cpu_us": round(peer_cpu * 1e6, 1), "goal": goal, "extra": extra,
        }
        self.rows.append(row)
        print(
            f"{workload:<34} {peer:<22} engram {engram_rate:>10.1f}/s  peer {peer_rate:>10.1f}/s  "
            f"ratio {row['ratio']:>6}  cpu/op {row['engram_cpu_us']:>8} vs {row['peer_cpu_us']:>8} µs  (goal {goal}) {extra}",
            flush=True,
        )


def median_pair(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


# -- LangGraph stores --------------------------------------------------------------


def store_docs(n: int) -> list[tuple[tuple[str, ...], str, dict[str, Any]]]:
    rng = random.Random(7)
    topics = ["travel", "food", "work", "family", "health", "music", "sport", "books"]
    return [
        (("users", f"u{i % 100}", "memories"), f"m{i}", {"text": f"memory number {i} about {topics[i % 8]}", "topic": topics[i % 8], "score": rng.randint(0, 100)})
        for i in range(n)
    ]


def bench_store(table: Table, name: str, make_peer: Callable[[], tuple[Any, Callable[[], None]]], make_engram: Callable[[], tuple[Any, Callable[[], None]]], docs: list, rounds: int, goal: str) -> None:
    from langgraph.store.base import PutOp

    puts, gets, searches, single = ([], []), ([], []), ([], []), ([], [])
    rng = random.Random(11)
    sample = [docs[rng.randrange(len(docs))] for _ in range(min(20_000, len(docs)))]
    single_docs = docs[: min(1_000, len(docs))]
    for _ in range(rounds):
        for side, make in ((0, make_peer), (1, make_engram)):
            store, close = make()

            def put_all() -> int:
                for start in range(0, len(docs), 500):
                    store.batch([PutOp(ns, key, value) for ns, key, value in docs[start : start + 500]])
                return len(docs)

            def put_one_by_one() -> int:
                for ns, key, value in single_docs:
                    store.put(("single",) + ns[1:], key, value)
                return len(single_docs)

            def get_many() -> int:
                for ns, key, _ in sample:
                    assert store.get(ns, key) is not None
                return len(sample)

            def search_many() -> int:
                topics = ["travel", "food", "work", "family"]
                for i in range(500):
                    # Namespace u{j} holds topics j % 4 and j % 4 + 4.
                    found = store.search(("users", f"u{i % 100}"), filter={"topic": topics[i % 4]}, limit=10)
                    assert found
                return 500

            puts[side].append(timed(put_all))
            single[side].append(timed(put_one_by_one))
            gets[side].append(timed(get_many))
            searches[side].append(timed(search_many))
            close()
    for label, pair in (("put, batches of 500", puts), ("put, one at a time", single), ("get by key", gets), ("search: namespace + filter, k=10", searches)):
        (pr, pc), (er, ec) = median_pair(pair[0]), median_pair(pair[1])
        table.add(f"store {label}", name, er, pr, ec, pc, goal)


# -- LangGraph checkpointers ---------------------------------------------------------


def bench_saver(table: Table, name: str, make_peer: Callable[[], tuple[Any, Callable[[], None]]], make_engram: Callable[[], tuple[Any, Callable[[], None]]], steps: int, rounds: int, goal: str) -> None:
    from langgraph.checkpoint.base import empty_checkpoint

    puts, gets = ([], []), ([], [])
    for _ in range(rounds):
        for side, make in ((0, make_peer), (1, make_engram)):
            saver, close = make()
            configs: list[dict[str, Any]] = []

            def put_steps() -> int:
                for t in range(steps // 10):
                    config: dict[str, Any] = {"configurable": {"thread_id": f"t{t}", "checkpoint_ns": ""}}
                    for s in range(10):
                        cp = empty_checkpoint()
                        cp["channel_values"] = {"messages": [f"message {s} of thread {t}"] * 3, "step": s}
                        cp["channel_versions"] = {"messages": s + 1, "step": s + 1}
                        config = saver.put(config, cp, {"source": "loop", "step": s}, {"messages": s + 1, "step": s + 1})
                        saver.put_writes(config, [("messages", f"write {s}")], task_id=f"task-{s}")
                    configs.append(config)
                return (steps // 10) * 10

            def get_latest() -> int:
                for t in range(steps // 10):
                    got = saver.get_tuple({"configurable": {"thread_id": f"t{t}", "checkpoint_ns": ""}})
                    assert got is not None and got.checkpoint["channel_values"]["step"] == 9
                return steps // 10

            puts[side].append(timed(put_steps))
            gets[side].append(timed(get_latest))
            close()
    for label, pair in (("checkpoint put + put_writes", puts), ("checkpoint get_tuple (latest)", gets)):
        (pr, pc), (er, ec) = median_pair(pair[0]), median_pair(pair[1])
        table.add(label, name, er, pr, ec, pc, goal)


# -- k-NN against Chroma ----------------------------------------------------------------


def load_vectors(limit: int | None) -> np.ndarray:
    vectors = np.load(DATA / "embeddings-f16.npy").astype(np.float32)
    if limit:
        vectors = np.concatenate([vectors[: max(limit - 1000, 1000)], vectors[-1000:]])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def recall_at(found: list[list[int]], truth: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k].tolist())) / k for f, t in zip(found, truth)]))


def bench_knn(table: Table, work: pathlib.Path, limit: int | None, rounds: int, efs: list[int | None], k: int = 10) -> None:
    import chromadb

    vectors = load_vectors(limit)
    base, queries = vectors[:-1000], vectors[-1000:]
    truth = np.argsort(-(queries @ base.T), axis=1)[:, :k]
    print(f"k-NN: {len(base)} base vectors, {len(queries)} queries, dims {base.shape[1]}", flush=True)

    chroma = chromadb.PersistentClient(path=str(work / "chroma"))
    coll = chroma.create_collection("bench", metadata={"hnsw:space": "cosine"})
    t0 = time.perf_counter()
    for start in range(0, len(base), 5000):
        ids = [str(i) for i in range(start, min(start + 5000, len(base)))]
        coll.add(ids=ids, embeddings=base[start : start + 5000].tolist())
    chroma_load = time.perf_counter() - t0

    db = engram.open(work / "engram-knn")
    docs = db.space("bench").collection("vectors")
    docs.define(search={"vectors": [{"name": "v", "dims": int(base.shape[1]), "metric": "cosine", "model": {"name": "all-MiniLM-L6-v2", "version": "1"}}]})
    t0 = time.perf_counter()
    for start in range(0, len(base), 1000):
        docs.bulk_put({str(i): {"v": base[i].tolist()} for i in range(start, min(start + 1000, len(base)))})
    docs.search(vector=queries[0].tolist(), k=k)  # waits for the index to catch up
    engram_load = time.perf_counter() - t0
    table.add("k-NN load (vectors/s)", "chromadb (embedded)", len(base) / engram_load, len(base) / chroma_load, 0, 0, "report")

    qlist = [q.tolist() for q in queries]
    chroma_runs: list = []
    chroma_found: list = []
    engram_runs: dict = {ef: [] for ef in efs}
    engram_found: dict = {ef: [] for ef in efs}
    for _ in range(rounds):
        def chroma_q() -> int:
            chroma_found.clear()
            for q in qlist:
                r = coll.query(query_embeddings=[q], n_results=k)
                chroma_found.append([int(i) for i in r["ids"][0]])
            return len(qlist)

        chroma_runs.append(timed(chroma_q))
        for ef in efs:
            def engram_q(ef: int | None = ef) -> int:
                engram_found[ef].clear()
                for q in qlist:
                    r = docs.search(vector=q, k=k, ef=ef)
                    engram_found[ef].append([int(h["id"]) for h in r["hits"]])
                return len(qlist)

            engram_runs[ef].append(timed(engram_q))
    pr, pc = median_pair(chroma_runs)
    rc = recall_at(chroma_found, truth, k)
    for ef in efs:
        er, ec = median_pair(engram_runs[ef])
        re_ = recall_at(engram_found[ef], truth, k)
        label = f"k-NN k={k}, engram ef={ef or 'default'} (queries/s)"
        table.add(label, "chromadb (embedded)", er, pr, ec, pc, ">= 1.0x at equal recall", f"recall@{k}: engram {re_:.3f}, chroma {rc:.3f}")
    db.close()


def bench_binding(table: Table, work: pathlib.Path) -> None:
    db = engram.open(work / "engram-noop")
    transport = db._transport
    n = 1_000_000
    rate, cpu = timed(lambda: [transport._engine.noop() for _ in range(n)] and n)

    def empty_python() -> int:
        f = lambda: None  # noqa: E731
        for _ in range(n):
            f()
        return n

    prate, pcpu = timed(empty_python)
    table.add("empty call into Rust", "empty Python call", rate, prate, cpu, pcpu, "< 2 µs per call", f"{1e6 / rate:.3f} µs per call")
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=2_000, help="checkpoints written per round")
    parser.add_argument("--vectors", type=int, default=0, help="k-NN base size (0: the whole corpus)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ef", default="default,96,128", help="Engram's HNSW ef values to measure (comma-separated)")
    parser.add_argument("--only", default="binding,store,saver,knn")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    only = set(args.only.split(","))
    work = pathlib.Path(tempfile.mkdtemp(prefix="engram-pybench-"))
    table = Table()
    print(f"python {sys.version.split()[0]}, engram from {engram.__file__}, work in {work}", flush=True)
    try:
        if "binding" in only:
            bench_binding(table, work)
        if "store" in only:
            from langgraph.store.memory import InMemoryStore
            from langgraph.store.sqlite import SqliteStore
            import sqlite3

            docs = store_docs(args.docs)
            counter = iter(range(10**6))

            def engram_store() -> tuple[Any, Callable[[], None]]:
                db = engram.open(work / f"engram-store-{next(counter)}")
                return EngramStore(db.space("bench")), db.close

            def sqlite_store() -> tuple[Any, Callable[[], None]]:
                conn = sqlite3.connect(str(work / f"lg-store-{next(counter)}.db"), check_same_thread=False, isolation_level=None)
                store = SqliteStore(conn)
                store.setup()
                return store, conn.close

            bench_store(table, "langgraph InMemoryStore", lambda: (InMemoryStore(), lambda: None), engram_store, docs, args.rounds, "report")
            bench_store(table, "langgraph SqliteStore", sqlite_store, engram_store, docs, args.rounds, ">= 2x")
        if "saver" in only:
            from langgraph.checkpoint.memory import InMemorySaver
            from langgraph.checkpoint.sqlite import SqliteSaver
            import sqlite3

            counter2 = iter(range(10**6))

            def engram_saver() -> tuple[Any, Callable[[], None]]:
                db = engram.open(work / f"engram-saver-{next(counter2)}")
                return EngramSaver(db.space("bench")), db.close

            def sqlite_saver() -> tuple[Any, Callable[[], None]]:
                conn = sqlite3.connect(str(work / f"lg-saver-{next(counter2)}.db"), check_same_thread=False)
                saver = SqliteSaver(conn)
                saver.setup()
                return saver, conn.close

            bench_saver(table, "langgraph InMemorySaver", lambda: (InMemorySaver(), lambda: None), engram_saver, args.steps, args.rounds, "report")
            bench_saver(table, "langgraph SqliteSaver", sqlite_saver, engram_saver, args.steps, args.rounds, ">= 2x")
        if "knn" in only:
            efs = [int(e) if e != "default" else None for e in args.ef.split(",")]
            bench_knn(table, work, args.vectors or None, args.rounds, efs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(table.rows, indent=1))


if __name__ == "__main__":
    main()
