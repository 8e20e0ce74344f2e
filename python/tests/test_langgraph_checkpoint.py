"""EngramSaver (LangGraph BaseCheckpointSaver) against Engram, embedded and
remote: LangGraph's own conformance suite (``langgraph-checkpoint-conformance``),
checkpoints over Engram's 1 MiB document limit, and a real graph."""

from __future__ import annotations

import asyncio
import operator
import os
import uuid
from datetime import datetime, timezone
from typing import Annotated, Any, TypedDict

import pytest

pytest.importorskip("langgraph.checkpoint.conformance")

from langgraph.checkpoint.base import empty_checkpoint  # noqa: E402
from langgraph.checkpoint.conformance import checkpointer_test, validate  # noqa: E402
from langgraph.checkpoint.conformance.report import ProgressCallbacks  # noqa: E402
from langgraph.checkpoint.serde.types import ERROR  # noqa: E402

import engram  # noqa: E402
from engram.langgraph import EngramSaver, EngramStore  # noqa: E402
from engram.langgraph.store import doc_id  # noqa: E402


def config(thread: str, ns: str = "", checkpoint_id: str | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": ns}
    if checkpoint_id:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


# -- LangGraph's conformance suite -------------------------------------------------


def test_conformance_suite(db: engram.Engram, capsys: pytest.CaptureFixture[str]) -> None:
    """Every capability the suite knows (base and extended), each on a fresh space."""

    @checkpointer_test(name=f"EngramSaver ({'embedded' if db.embedded else 'remote'})")
    async def engram_saver():
        space = db.space("lgc-" + uuid.uuid4().hex[:12])
        yield EngramSaver(space)
        space.delete()

    report = asyncio.run(validate(engram_saver, progress=ProgressCallbacks.default()))
    passed = sum(r.tests_passed for r in report.results.values())
    failed = sum(r.tests_failed for r in report.results.values())
    with capsys.disabled():  # the suite's summary shows in pytest's output
        report.print_report()
        print(f"  conformance tests: {passed} passed, {failed} failed")
    failures = [f for r in report.results.values() for f in r.failures]
    assert report.passed_all(), failures
    assert report.conformance_level() == "FULL"
    assert all(r.detected for r in report.results.values())
    assert passed >= 80 and failed == 0


# -- the sync API --------------------------------------------------------------------


def _checkpoint(values: dict[str, Any], versions: dict[str, Any]) -> dict[str, Any]:
    cp = empty_checkpoint()
    cp["channel_values"] = values
    cp["channel_versions"] = versions
    return cp


def test_sync_roundtrip_list_and_filters(space: engram.Space) -> None:
    saver = EngramSaver(space)
    assert saver.get_tuple(config("t")) is None
    v1 = saver.get_next_version(None, None)
    first = saver.put(
        config("t"),
        _checkpoint({"a": [1, 2], "b": "x"}, {"a": v1, "b": v1}),
        {"source": "input", "step": -1},
        {"a": v1, "b": v1},
    )
    v2 = saver.get_next_version(v1, None)
    assert v2 > v1 and int(v2.split(".")[0]) == 2
    second = saver.put(
        first,
        _checkpoint({"a": [1, 2, 3], "b": "x"}, {"a": v2, "b": v1}),
        {"source": "loop", "step": 0, "user": {"id": 7}},
        {"a": v2},
    )
    saver.put_writes(second, [("a", [4]), (ERROR, "boom")], "task-1", "p:1")

    latest = saver.get_tuple(config("t"))
    assert latest.config == second
    assert latest.checkpoint["channel_values"] == {"a": [1, 2, 3], "b": "x"}
    assert latest.parent_config == first
    assert latest.metadata == {"source": "loop", "step": 0, "user": {"id": 7}}
    # In writes_sort_key order (task_path, task_id, idx): special channels have negative idx.
    assert latest.pending_writes == [("task-1", ERROR, "boom"), ("task-1", "a", [4])]
    assert saver.get_tuple(first).checkpoint["channel_values"] == {"a": [1, 2], "b": "x"}

    # Special channels replace, others are kept as first written.
    saver.put_writes(second, [(ERROR, "boom again")], "task-1", "p:1")
    saver.put_writes(second, [("a", [5])], "task-1", "p:1")
    assert saver.get_tuple(second).pending_writes == [("task-1", ERROR, "boom again"), ("task-1", "a", [4])]

    assert [t.config for t in saver.list(config("t"))] == [second, first]
    assert [t.config for t in saver.list(config("t"), filter={"source": "input"})] == [first]
    assert [t.config for t in saver.list(config("t"), filter={"user": {"id": 7}})] == [second]
    assert [t.config for t in saver.list(config("t"), before=second)] == [first]
    assert [t.config for t in saver.list(config("t"), limit=1)] == [second]
    assert [t.config for t in saver.list(None, filter={"step": -1})] == [first]
    assert list(saver.list(config("other"))) == []


def test_metadata_that_is_not_json_roundtrips(space: engram.Space) -> None:
    saver = EngramSaver(space)
    md = {"source": "loop", "step": 1, "when": {1, 2}, "at": datetime(2026, 1, 2, tzinfo=timezone.utc)}
    stored = saver.put(config("t"), _checkpoint({}, {}), md, {})
    assert saver.get_tuple(stored).metadata == md
    assert [t.config for t in saver.list(config("t"), filter={"step": 1})] == [stored]


def test_large_checkpoint_is_stored_as_objects(space: engram.Space) -> None:
    """Values over Engram's 1 MiB document limit go to Engram objects, put by
    the same transaction as the checkpoint, and deleted with the thread."""
    saver = EngramSaver(space)
    big = os.urandom(3 * 1024 * 1024 // 2)  # 1.5 MiB
    huge_text = "x" * (2 * 1024 * 1024)
    v = saver.get_next_version(None, None)
    stored = saver.put(
        config("big"),
        _checkpoint({"blob": big, "text": huge_text, "small": 1}, {"blob": v, "text": v, "small": v}),
        {"step": 0},
        {"blob": v, "text": v, "small": v},
    )
    saver.put_writes(stored, [("blob", big)], "task")
    tup = saver.get_tuple(config("big"))
    assert tup.checkpoint["channel_values"] == {"blob": big, "text": huge_text, "small": 1}
    assert tup.pending_writes == [("task", "blob", big)]

    blob_doc = space.collection("langgraph_checkpoint_blobs").get(doc_id("big", "", "blob", v))
    assert blob_doc["body"]["value"]["object"].startswith("langgraph/langgraph_checkpoint_blobs/")
    small_doc = space.collection("langgraph_checkpoint_blobs").get(doc_id("big", "", "small", v))
    assert "data" in small_doc["body"]["value"] and "object" not in small_doc["body"]["value"]
    assert len(space.list_objects(prefix="langgraph/")["objects"]) == 3

    saver.copy_thread("big", "big-copy")
    assert saver.get_tuple(config("big-copy")).checkpoint["channel_values"]["blob"] == big
    assert len(space.list_objects(prefix="langgraph/")["objects"]) == 6
    saver.delete_thread("big")
    assert saver.get_tuple(config("big")) is None
    assert saver.get_tuple(config("big-copy")).pending_writes == [("task", "blob", big)]
    assert len(space.list_objects(prefix="langgraph/")["objects"]) == 3
    saver.delete_thread("big-copy")
    assert space.list_objects(prefix="langgraph/")["objects"] == []


def test_prune_collects_unused_values(space: engram.Space) -> None:
    saver = EngramSaver(space)
    parent = config("p")
    version = None
    for step in range(4):
        version = saver.get_next_version(version, None)
        parent = saver.put(
            parent,
            _checkpoint({"a": step, "b": "same"}, {"a": version, "b": "1"}),
            {"step": step},
            {"a": version, **({"b": "1"} if step == 0 else {})},
        )
    blobs = space.collection("langgraph_checkpoint_blobs")
    assert blobs.count({"thread_id": "p"}) == 5
    saver.prune(["p"])
    assert blobs.count({"thread_id": "p"}) == 2  # the kept checkpoint's a and b
    assert [t.checkpoint["channel_values"] for t in saver.list(config("p"))] == [{"a": 3, "b": "same"}]
    with pytest.raises(ValueError):
        saver.prune(["p"], strategy="sometimes")


# -- a real graph --------------------------------------------------------------------


class State(TypedDict):
    log: Annotated[list[str], operator.add]
    count: int


def _graph(saver: EngramSaver, store: EngramStore):
    from langgraph.graph import END, START, StateGraph
    from langgraph.store.base import BaseStore

    def remember(state: State, *, store: BaseStore) -> dict[str, Any]:
        seen = store.get(("memory",), "visits")
        visits = (seen.value["n"] if seen else 0) + 1
        store.put(("memory",), "visits", {"n": visits})
        return {"log": [f"remember:{visits}"], "count": state.get("count", 0) + 1}

    def answer(state: State, *, store: BaseStore) -> dict[str, Any]:
        return {"log": [f"answer:{state['count']}:{len(store.search(('memory',)))}"]}

    builder = StateGraph(State)
    builder.add_node("remember", remember)
    builder.add_node("answer", answer)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", "answer")
    builder.add_edge("answer", END)
    return builder.compile(checkpointer=saver, store=store)


def test_graph_resumes_state_on_a_thread(space: engram.Space) -> None:
    saver, store = EngramSaver(space), EngramStore(space)
    graph = _graph(saver, store)
    cfg = {"configurable": {"thread_id": "conversation-1"}}

    first = graph.invoke({"log": ["hi"]}, cfg)
    assert first == {"log": ["hi", "remember:1", "answer:1:1"], "count": 1}
    second = graph.invoke({"log": ["again"]}, cfg)  # resumes the thread's state
    assert second == {"log": ["hi", "remember:1", "answer:1:1", "again", "remember:2", "answer:2:1"], "count": 2}

    # A new graph object on the same Engram space sees the same thread.
    again = _graph(EngramSaver(space), EngramStore(space))
    state = again.get_state(cfg)
    assert state.values == second and state.next == ()
    history = list(again.get_state_history(cfg))
    assert len(history) == 8  # input, remember, answer, end: twice
    assert history[-1].metadata["source"] == "input"
    assert store.get(("memory",), "visits").value == {"n": 2}

    # Another thread starts empty; the store is shared across threads.
    other = graph.invoke({"log": ["new"]}, {"configurable": {"thread_id": "conversation-2"}})
    assert other == {"log": ["new", "remember:3", "answer:1:1"], "count": 1}

    # Time travel: resume from the first run's final checkpoint.
    first_end = next(s for s in history if s.values.get("count") == 1 and s.next == ())
    forked = graph.invoke({"log": ["fork"]}, first_end.config)
    assert forked["log"][:3] == ["hi", "remember:1", "answer:1:1"] and forked["count"] == 2


def test_graph_async(space: engram.Space) -> None:
    # The engram.aio handle works too (its synchronous space is used on worker threads).
    aspace = engram.aio.AsyncSpace(space)
    graph = _graph(EngramSaver(aspace), EngramStore(aspace))
    cfg = {"configurable": {"thread_id": "async-1"}}

    async def run() -> tuple[dict[str, Any], dict[str, Any], int]:
        one = await graph.ainvoke({"log": ["a"]}, cfg)
        two = await graph.ainvoke({"log": ["b"]}, cfg)
        history = [s async for s in graph.aget_state_history(cfg)]
        return one, two, len(history)

    one, two, n = asyncio.run(run())
    assert one["count"] == 1 and two["count"] == 2
    assert two["log"] == ["a", "remember:1", "answer:1:1", "b", "remember:2", "answer:2:1"]
    assert n == 8
