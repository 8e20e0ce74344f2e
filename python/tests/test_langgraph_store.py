"""EngramStore (LangGraph BaseStore) against Engram, embedded and remote
(the ``space`` fixture runs every test both ways)."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

pytest.importorskip("langgraph.store.base")

from langgraph.store.base import (  # noqa: E402
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
)

import engram  # noqa: E402
from engram.langgraph import EngramStore  # noqa: E402
from engram.langgraph.store import doc_id, translate_filter  # noqa: E402

# -- a deterministic fake embedding: one dimension per topic ---------------------

TOPICS = {
    "python": 0,
    "code": 0,
    "programming": 0,
    "software": 0,
    "rust": 0,
    "cat": 1,
    "cats": 1,
    "dog": 1,
    "dogs": 1,
    "pet": 1,
    "pets": 1,
    "pizza": 2,
    "food": 2,
    "pasta": 2,
    "cooking": 2,
    "ocean": 3,
    "sea": 3,
    "beach": 3,
    "sailing": 3,
}
DIMS = 5
CALLS: list[list[str]] = []


def fake_embed(texts: list[str]) -> list[list[float]]:
    """Counts topic words per dimension, plus a small constant (never zero)."""
    CALLS.append(list(texts))
    out = []
    for text in texts:
        v = [0.0] * DIMS
        for word in text.lower().replace('"', " ").replace(",", " ").replace(":", " ").split():
            if word in TOPICS:
                v[TOPICS[word]] += 1.0
        v[DIMS - 1] += 0.05
        out.append(v)
    return out


def cos(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


@pytest.fixture
def store(space: engram.Space) -> EngramStore:
    return EngramStore(space)


@pytest.fixture
def vstore(space: engram.Space) -> EngramStore:
    return EngramStore(space, index={"dims": DIMS, "embed": fake_embed, "fields": ["text"]})


# -- put, get, delete ------------------------------------------------------------


def test_put_get_delete(store: EngramStore) -> None:
    assert store.get(("users", "u1"), "prefs") is None
    store.put(("users", "u1"), "prefs", {"theme": "dark", "n": 1})
    item = store.get(("users", "u1"), "prefs")
    assert item is not None
    assert (item.namespace, item.key, item.value) == (("users", "u1"), "prefs", {"theme": "dark", "n": 1})
    assert item.created_at == item.updated_at and item.created_at.tzinfo is not None

    time.sleep(0.01)
    store.put(("users", "u1"), "prefs", {"theme": "light"})
    again = store.get(("users", "u1"), "prefs")
    assert again.value == {"theme": "light"}
    assert again.created_at == item.created_at and again.updated_at > item.updated_at

    store.delete(("users", "u1"), "prefs")
    assert store.get(("users", "u1"), "prefs") is None
    store.delete(("users", "u1"), "prefs")  # deleting a missing item is a no-op
    assert store.get(("users",), "prefs") is None


def test_namespaces_and_keys_are_encoded_safely(store: EngramStore, space: engram.Space) -> None:
    odd = [
        (("a",), 'quote"slash/percent%?#'),
        (("a", "b"), "ünïcødé ✓"),
        (("a-b",), "tab\tnewline\ncontrol\x01"),
        (("x" * 100, "y" * 100), "k" * 200),  # id over 256 bytes: hashed
    ]
    for ns, key in odd:
        store.put(ns, key, {"ns": list(ns), "key": key})
    for ns, key in odd:
        item = store.get(ns, key)
        assert item is not None and item.value == {"ns": list(ns), "key": key}
        assert item.namespace == ns and item.key == key
    # ("a",) + "b" is not ("a", "b") + "": namespace and key stay apart.
    store.put(("a",), "b", {"v": 1})
    assert store.get(("a", "b"), "b") is None
    ids = {d["id"] for d in space.collection("langgraph_store").find()}
    assert doc_id("x" * 100, "y" * 100, "k" * 200).startswith("#")
    assert doc_id("x" * 100, "y" * 100, "k" * 200) in ids
    assert doc_id("a", "b") == '["a","b"]' and '["a","b"]' in ids
    with pytest.raises(InvalidNamespaceError):
        store.put(("a.b",), "k", {})
    with pytest.raises(InvalidNamespaceError):
        store.batch([GetOp(("a", ""), "k")])


def test_batch_reads_see_state_before_its_puts(store: EngramStore) -> None:
    store.put(("n",), "k", {"v": 1})
    results = store.batch(
        [
            PutOp(("n",), "k", {"v": 2}),
            GetOp(("n",), "k"),
            PutOp(("n",), "k2", {"v": 3}),
            PutOp(("n",), "k2", {"v": 4}),  # the last put of a key wins
            SearchOp(("n",)),
            ListNamespacesOp(),
        ]
    )
    assert results[0] is None and results[1].value == {"v": 1}
    assert [i.key for i in results[4]] == ["k"]
    assert results[5] == [("n",)]
    assert store.get(("n",), "k").value == {"v": 2}
    assert store.get(("n",), "k2").value == {"v": 4}


def test_collection_spec_declares_indexes(store: EngramStore, space: engram.Space) -> None:
    spec = space.collection("langgraph_store").info()["spec"]
    paths = {i["name"]: i["paths"] for i in spec["indexes"]}
    assert paths["langgraph_ns"] == ["ns"] and paths["langgraph_updated_at"] == ["updated_at"]
    # A store with an index adds its vector field and keeps the indexes; a
    # store without one leaves the vector field alone.
    EngramStore(space, index={"dims": DIMS, "embed": fake_embed})
    EngramStore(space)
    spec = space.collection("langgraph_store").info()["spec"]
    assert [v["dims"] for v in spec["search"]["vectors"]] == [DIMS]
    assert {"langgraph_ns", "langgraph_updated_at"} <= {i["name"] for i in spec["indexes"]}
    with pytest.raises(ValueError, match="dimension"):
        EngramStore(space, index={"dims": DIMS + 1, "embed": fake_embed})


# -- search with filters ---------------------------------------------------------


@pytest.fixture
def docs(store: EngramStore) -> EngramStore:
    rows = [
        (
            ("docs", "a"),
            "1",
            {"kind": "report", "score": 4.5, "tags": ["x", "y"], "meta": {"lang": "en", "v": 1}, "done": True},
        ),
        (
            ("docs", "a"),
            "2",
            {"kind": "note", "score": 2, "tags": ["x"], "meta": {"lang": "fr", "v": 2}, "done": False},
        ),
        (("docs", "b"), "3", {"kind": "report", "score": 3, "meta": {"lang": "en", "v": 3}, "opt": None}),
        (("docs", "b", "c"), "4", {"kind": "memo", "score": 9, "dotted.key": "yes"}),
        (("docsx",), "5", {"kind": "report", "score": 5}),
    ]
    for ns, key, value in rows:
        store.put(ns, key, value)
        time.sleep(0.002)  # distinct updated_at: newest first
    return store


def keys(items) -> list[str]:
    return [i.key for i in items]


def test_search_namespace_prefix_and_order(docs: EngramStore) -> None:
    assert keys(docs.search(("docs",))) == ["4", "3", "2", "1"]  # newest first; not ("docsx",)
    assert keys(docs.search(("docs", "b"))) == ["4", "3"]
    assert keys(docs.search(("docs", "b", "c"))) == ["4"]
    assert keys(docs.search(())) == ["5", "4", "3", "2", "1"]
    assert keys(docs.search(("nothing",))) == []
    assert all(i.score is None for i in docs.search(("docs",)))


def test_search_limit_and_offset(docs: EngramStore) -> None:
    assert keys(docs.search(("docs",), limit=2)) == ["4", "3"]
    assert keys(docs.search(("docs",), limit=2, offset=2)) == ["2", "1"]
    assert keys(docs.search(("docs",), limit=10, offset=3)) == ["1"]
    assert keys(docs.search(("docs",), offset=10)) == []


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"kind": "report"}, ["3", "1"]),
        ({"kind": {"$eq": "report"}}, ["3", "1"]),
        ({"kind": {"$ne": "report"}}, ["4", "2"]),
        ({"score": {"$gt": 3}}, ["4", "1"]),
        ({"score": {"$gte": 3}}, ["4", "3", "1"]),
        ({"score": {"$lt": 3}}, ["2"]),
        ({"score": {"$lte": 3, "$gt": 2}}, ["3"]),
        ({"score": 4.5}, ["1"]),
        ({"done": True}, ["1"]),
        ({"done": False}, ["2"]),
        ({"kind": "report", "score": {"$gt": 4}}, ["1"]),
        ({"meta": {"lang": "en"}}, ["3", "1"]),  # a nested dict matches the fields it names
        ({"meta": {"lang": "en", "v": {"$gt": 1}}}, ["3"]),
        ({"tags": ["x", "y"]}, ["1"]),  # a list is equality
        ({"opt": None}, ["4", "3", "2", "1"]),  # null or missing
        ({"opt": {"$ne": None}}, []),
        ({"dotted.key": "yes"}, ["4"]),  # a key Engram cannot address: checked in Python
        ({"dotted.key": "yes", "kind": "memo"}, ["4"]),
        ({"kind": {"$in": ["memo", "note"]}}, ["4", "2"]),  # Engram's own operators pass through
        ({"tags": {"$contains": "y"}}, ["1"]),
        ({"missing": "x"}, []),
    ],
)
def test_search_filters(docs: EngramStore, flt: dict, expected: list[str]) -> None:
    assert keys(docs.search(("docs",), filter=flt)) == expected


def test_filter_translation() -> None:
    conds, residual = translate_filter({"a": 1, "b": {"$gt": 2}, "c": {"d": "x"}, "e.f": 1, "g": None})
    assert conds == [
        {"value.a": 1},
        {"value.b": {"$gt": 2}},
        {"value.c.d": "x"},
        {"$or": [{"value.g": None}, {"value.g": {"$exists": False}}]},
    ]
    assert residual == {"e.f": 1}


def test_search_with_python_residual_paginates(store: EngramStore) -> None:
    for i in range(30):
        store.put(("p",), f"k{i:02d}", {"a.b": i % 3, "i": i})
    found = store.search(("p",), filter={"a.b": 0}, limit=4, offset=2)
    assert [i.value["i"] for i in found] == [21, 18, 15, 12]


# -- semantic search -----------------------------------------------------------------


def test_semantic_search(vstore: EngramStore) -> None:
    vstore.put(("mem", "u1"), "py", {"text": "python programming and code"})
    vstore.put(("mem", "u1"), "cat", {"text": "my cat and dog are pets"})
    vstore.put(("mem", "u1"), "food", {"text": "pizza and pasta cooking"})
    vstore.put(("mem", "u2"), "sea", {"text": "sailing on the ocean"})
    vstore.put(("other",), "py2", {"text": "python code"})

    found = vstore.search(("mem",), query="python software")
    assert [i.key for i in found][:1] == ["py"]
    assert "py2" not in {i.key for i in found}  # restricted to the namespace prefix
    assert all(i.score is not None for i in found)
    assert [i.score for i in found] == sorted((i.score for i in found), reverse=True)
    q = fake_embed(["python software"])[0]
    assert found[0].score == pytest.approx(cos(q, fake_embed(["python programming and code"])[0]), abs=1e-4)

    assert [i.key for i in vstore.search(("mem",), query="pets", limit=1)] == ["cat"]
    assert [i.key for i in vstore.search(("mem", "u2"), query="pets")] == ["sea"]
    assert [i.key for i in vstore.search(("mem",), query="beach", limit=2, offset=0)][0] == "sea"
    three = vstore.search(("mem",), query="food", limit=3)
    assert three[0].key == "food"
    assert [i.key for i in vstore.search(("mem",), query="food", limit=2, offset=1)] == [i.key for i in three[1:]]
    # With a filter on the value.
    vstore.put(("mem", "u1"), "py-old", {"text": "python code", "old": True})
    assert [i.key for i in vstore.search(("mem",), query="python", filter={"old": True})] == ["py-old"]
    # Semantic search returns the item as stored (no vector in the value).
    assert found[0].value == {"text": "python programming and code"}


def test_semantic_search_items_without_vectors_come_last(vstore: EngramStore) -> None:
    vstore.put(("m",), "a", {"text": "python"})
    vstore.put(("m",), "b", {"text": "cats"}, index=False)
    vstore.put(("m",), "c", {"other": "no text field"})
    found = vstore.search(("m",), query="python", limit=10)
    assert [i.key for i in found][0] == "a" and found[0].score is not None
    assert {i.key for i in found[1:]} == {"b", "c"} and all(i.score is None for i in found[1:])
    assert [i.key for i in vstore.search(("m",), query="cats", limit=10)][0] == "a"  # b has no vector
    assert len(vstore.search(("m",), query="python", limit=2, offset=1)) == 2


def test_semantic_search_index_fields(vstore: EngramStore, space: engram.Space) -> None:
    CALLS.clear()
    vstore.put(("m",), "multi", {"title": "ocean sailing", "body": "pizza"}, index=["title", "body"])
    assert sorted(CALLS[-1]) == ["ocean sailing", "pizza"]
    raw = space.collection("langgraph_store").get(doc_id("m", "multi"))["body"]["embedding"]
    # Two texts: the mean of their normalized vectors.
    a, b = fake_embed(["ocean sailing", "pizza"])
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(x * x for x in b))
    assert raw == pytest.approx([(x / na + y / nb) / 2 for x, y in zip(a, b)], abs=1e-6)
    vstore.put(("m",), "whole", {"note": "a dog"}, index=["$"])
    assert [i.key for i in vstore.search(("m",), query="dogs")][0] == "whole"
    # Replacing an item without index drops its vector.
    vstore.put(("m",), "whole", {"note": "a dog"}, index=False)
    assert "embedding" not in space.collection("langgraph_store").get(doc_id("m", "whole"))["body"]


def test_semantic_search_async(space: engram.Space) -> None:
    async def aembed(texts: list[str]) -> list[list[float]]:
        return fake_embed(texts)

    store = EngramStore(space, index={"dims": DIMS, "embed": aembed, "fields": ["text"]})

    async def run() -> None:
        await store.aput(("a",), "1", {"text": "cats and dogs"})
        await store.aput(("a",), "2", {"text": "rust code"})
        found = await store.asearch(("a",), query="python code")
        assert [i.key for i in found] == ["2", "1"] and found[0].score > found[1].score
        assert (await store.aget(("a",), "1")).value == {"text": "cats and dogs"}
        assert await store.alist_namespaces() == [("a",)]
        await store.adelete(("a",), "1")
        assert await store.aget(("a",), "1") is None

    asyncio.run(run())


# -- list_namespaces ----------------------------------------------------------------


@pytest.fixture
def tree(store: EngramStore) -> EngramStore:
    for ns in [
        ("a", "b", "c"),
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("a",),
        ("a-b",),
        ("b", "v1"),
        ("users", "u1", "v1"),
        ("users", "u2", "v2"),
    ]:
        store.put(ns, "k1", {})
        store.put(ns, "k2", {})
    return store


def test_list_namespaces(tree: EngramStore) -> None:
    every = tree.list_namespaces()
    assert every == sorted(every) and len(every) == 10 and every[0] == ("a",)
    assert tree.list_namespaces(prefix=("a", "b")) == [
        ("a", "b", "c"),
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
        ("a", "b", "f"),
    ]
    assert tree.list_namespaces(prefix=("a", "b"), max_depth=3) == [("a", "b", "c"), ("a", "b", "d"), ("a", "b", "f")]
    assert tree.list_namespaces(max_depth=1) == [("a",), ("a-b",), ("b",), ("users",)]
    assert tree.list_namespaces(prefix=("a",), max_depth=2) == [("a",), ("a", "b"), ("a", "c")]
    assert tree.list_namespaces(suffix=("v1",)) == [("b", "v1"), ("users", "u1", "v1")]
    assert tree.list_namespaces(suffix=("f",), prefix=("a",)) == [("a", "b", "f"), ("a", "c", "f")]
    assert tree.list_namespaces(prefix=("a", "*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert tree.list_namespaces(prefix=("users", "*"), max_depth=2) == [("users", "u1"), ("users", "u2")]
    assert tree.list_namespaces(suffix=("*", "v2")) == [("users", "u2", "v2")]
    assert tree.list_namespaces(suffix=("f",), max_depth=2) == [("a", "b"), ("a", "c")]
    assert tree.list_namespaces(limit=3) == every[:3]
    assert tree.list_namespaces(limit=3, offset=8) == every[8:]
    assert tree.list_namespaces(prefix=("zzz",)) == []
    tree.delete(("a", "c", "f"), "k1")
    tree.delete(("a", "c", "f"), "k2")
    assert ("a", "c", "f") not in tree.list_namespaces(prefix=("a",))
    assert tree.batch([ListNamespacesOp(match_conditions=(MatchCondition("prefix", ("a", "b", "d")),))])[0] == [
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
    ]


# -- TTL -------------------------------------------------------------------------------


def _expires(space: engram.Space, ns: tuple[str, ...], key: str) -> int | None:
    doc = space.collection("langgraph_store").get(doc_id(*ns, key))
    return None if doc is None else doc.get("expires_at_ms")


def test_ttl_put_and_refresh(space: engram.Space) -> None:
    store = EngramStore(space, ttl={"default_ttl": 10, "refresh_on_read": True})
    assert store.supports_ttl
    now_ms = time.time() * 1000
    store.put(("t",), "default", {"v": 1})  # default_ttl: 10 minutes
    store.put(("t",), "own", {"v": 2}, ttl=60)
    store.put(("t",), "none", {"v": 3}, ttl=None)
    assert _expires(space, ("t",), "default") == pytest.approx(now_ms + 600_000, abs=30_000)
    assert _expires(space, ("t",), "own") == pytest.approx(now_ms + 3_600_000, abs=30_000)
    assert _expires(space, ("t",), "none") is None

    before = _expires(space, ("t",), "default")
    time.sleep(1.1)
    store.get(("t",), "default", refresh_ttl=False)
    assert _expires(space, ("t",), "default") == before
    store.get(("t",), "default")  # refresh_on_read
    refreshed = _expires(space, ("t",), "default")
    assert refreshed > before
    time.sleep(1.1)
    store.search(("t",))  # a search refreshes what it returns
    assert _expires(space, ("t",), "default") > refreshed
    assert _expires(space, ("t",), "none") is None

    no_refresh = EngramStore(space, ttl={"default_ttl": 10, "refresh_on_read": False})
    kept = _expires(space, ("t",), "own")
    time.sleep(1.1)
    no_refresh.get(("t",), "own")
    no_refresh.search(("t",))
    assert _expires(space, ("t",), "own") == kept


def test_ttl_expiry_hides_items(space: engram.Space) -> None:
    store = EngramStore(space, index={"dims": DIMS, "embed": fake_embed, "fields": ["text"]})
    store.put(("gone",), "k", {"text": "python"}, ttl=1 / 60)  # one second
    store.put(("kept",), "k", {"text": "python"})
    assert store.get(("gone",), "k") is not None
    time.sleep(2.2)
    assert store.get(("gone",), "k") is None
    assert store.search(("gone",)) == []
    assert [i.namespace for i in store.search((), query="python")] == [("kept",)]
    assert store.list_namespaces() == [("kept",)]
    store.put(("gone",), "k", {"text": "again"})  # an expired item can be put again
    assert store.get(("gone",), "k").value == {"text": "again"}


# -- concurrency --------------------------------------------------------------------


def test_concurrent_puts_keep_created_at(store: EngramStore) -> None:
    import threading

    store.put(("c",), "k", {"n": -1})
    created = store.get(("c",), "k").created_at
    errors = []

    def worker(i: int) -> None:
        try:
            for j in range(5):
                store.put(("c",), "k", {"n": i * 10 + j})
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    item = store.get(("c",), "k")
    assert item.created_at == created and item.value["n"] % 10 == 4


# -- keys without the admin role (remote) ----------------------------------------------


def test_write_key_uses_what_an_admin_declared(server, caplog: pytest.LogCaptureFixture) -> None:
    """A ``write`` key cannot declare collection specs: without them the
    store and saver still work (indexes change speed, never results), a
    vector field must have been declared once with an admin key."""
    import uuid

    from engram.langgraph import EngramSaver

    admin = engram.connect(server.url, server.key)
    name = "t-" + uuid.uuid4().hex[:12]
    admin.create_space(name)
    writer = engram.connect(server.url, admin.create_key("lg-writer", role="write", space=name)["key"])
    space = writer.space(name, create=False)
    try:
        with caplog.at_level("WARNING"):
            store = EngramStore(space)
            saver = EngramSaver(space)
        assert "needs an admin key" in caplog.text
        store.put(("a",), "k", {"v": 1})
        assert store.search(("a",))[0].value == {"v": 1} and store.list_namespaces() == [("a",)]
        stored = saver.put({"configurable": {"thread_id": "t", "checkpoint_ns": ""}}, _empty(), {"step": 1}, {})
        assert saver.get_tuple(stored).metadata["step"] == 1

        index = {"dims": DIMS, "embed": fake_embed, "fields": ["text"]}
        with pytest.raises(engram.Forbidden):
            EngramStore(space, index=index, collection="semantic")
        EngramStore(admin.space(name), index=index, collection="semantic")
        semantic = EngramStore(space, index=index, collection="semantic")
        semantic.put(("a",), "py", {"text": "python"})
        semantic.put(("a",), "cat", {"text": "cats"})
        assert [i.key for i in semantic.search(("a",), query="python code")][0] == "py"
    finally:
        admin.delete_space(name)
        writer.close()
        admin.close()


def _empty():
    from langgraph.checkpoint.base import empty_checkpoint

    return empty_checkpoint()
