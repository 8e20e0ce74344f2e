"""Engram as Mem0's vector store (``engram.mem0``), embedded and remote.

Two layers: the vector store interface called directly (insert, search,
filters, update, delete, list, col_info, reset), and Mem0's own ``Memory``
running on it with a deterministic word-hashing embedder and a scripted
LLM stand-in that answers the JSON Mem0's extraction prompt asks for.
Nothing leaves the machine: telemetry is off, the OpenAI clients Mem0
builds are never called (a guard records any connection to a non-loopback
address and fails the test), and spaCy (which Mem0 may try to download a
model for) is treated as absent.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import math
import os
import re
import socket
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

# Before mem0 is imported: it reads these at import time.
os.environ["MEM0_TELEMETRY"] = "False"
os.environ["MEM0_DIR"] = tempfile.mkdtemp(prefix="mem0-home-")
os.environ.setdefault("OPENAI_API_KEY", "sk-test-never-used")

try:
    import mem0  # noqa: F401
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip("mem0ai is not installed (pip install mem0ai)", allow_module_level=True)

import mem0.memory.main as mem0_main
import mem0.memory.telemetry as mem0_telemetry
from mem0 import AsyncMemory, Memory
from mem0.configs.embeddings.base import BaseEmbedderConfig
from mem0.embeddings.base import EmbeddingBase
from mem0.vector_stores.base import VectorStoreBase
from mem0.vector_stores.configs import VectorStoreConfig

import engram
import engram.mem0 as em
from engram.mem0 import EngramConfig, EngramVectorStore, OutputData, translate_filters

DIMS = 64


# -- isolation: no network, no telemetry, no spaCy ----------------------------

_LOOPBACK = {"127.0.0.1", "::1", "localhost", "0.0.0.0"}


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Records (and refuses) every connection to a non-loopback address;
    the test fails if there was one, even when Mem0 swallowed the error."""
    attempts: list[str] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def allowed(address: Any) -> bool:
        if isinstance(address, (str, bytes)):  # AF_UNIX
            return True
        host = address[0] if isinstance(address, tuple) and address else address
        return str(host) in _LOOPBACK or str(host).startswith("127.")

    def connect(self: socket.socket, address: Any) -> Any:
        if not allowed(address):
            attempts.append(repr(address))
            raise OSError(f"test is offline: connection to {address!r} refused")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if not allowed(address):
            attempts.append(repr(address))
            return 111
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not allowed((host.decode() if isinstance(host, bytes) else host,)):
            attempts.append(f"resolve {host!r}")
            raise socket.gaierror(f"test is offline: not resolving {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(mem0_telemetry, "MEM0_TELEMETRY", False)
    monkeypatch.setattr(mem0_main, "MEM0_TELEMETRY", False)
    try:
        from mem0.utils import spacy_models

        monkeypatch.setattr(spacy_models, "_load_failed_full", True)
        monkeypatch.setattr(spacy_models, "_load_failed_lemma", True)
    except ImportError:
        pass
    yield attempts
    assert not attempts, f"the test tried to reach the network: {attempts}"


# -- stand-ins for the embedding model and the LLM ---------------------------

_STOP = set("a an the is are and or of in on to i my me does do what user she he her his which who likes like".split())


class HashEmbedder(EmbeddingBase):
    """Deterministic embeddings: each word (lower case, stop words left
    out) adds 1 to a dimension chosen by its hash; the last dimension holds
    a small constant so no text embeds to zeros. Texts sharing words are
    close in cosine; unrelated texts are nearly orthogonal."""

    def __init__(self, dims: int = DIMS) -> None:
        super().__init__(BaseEmbedderConfig(model="hash-words", embedding_dims=dims))
        self.dims = dims
        self.calls = 0

    def embed(self, text: Any, memory_action: Any = None) -> list[float]:
        self.calls += 1
        vector = [0.0] * self.dims
        vector[-1] = 0.05
        for word in re.findall(r"[a-z0-9]+", str(text).lower()):
            if word in _STOP:
                continue
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            vector[int.from_bytes(digest, "big") % (self.dims - 1)] += 1.0
        norm = math.sqrt(sum(x * x for x in vector))
        return [x / norm for x in vector]


class ScriptedLLM:
    """Answers Mem0's extraction call with the facts queued by the test, in
    the JSON Mem0 parses (``{"memory": [{"id", "text", "attributed_to"}]}``),
    and keeps the prompts it was given. An unexpected call fails."""

    def __init__(self) -> None:
        self.queue: list[list[str]] = []
        self.prompts: list[list[dict[str, Any]]] = []

    def will_extract(self, *facts: str) -> None:
        self.queue.append(list(facts))

    def generate_response(
        self,
        messages: list[dict[str, Any]],
        response_format: Any = None,
        tools: Any = None,
        tool_choice: str = "auto",
        **kwargs: Any,
    ) -> str:
        self.prompts.append(messages)
        assert self.queue, "Mem0 called the LLM when the test expected no call"
        assert response_format == {"type": "json_object"}
        facts = self.queue.pop(0)
        return json.dumps({"memory": [{"id": str(i), "text": f, "attributed_to": "user"} for i, f in enumerate(facts)]})


def capitalized_entities(text: str) -> list[tuple[str, str]]:
    """Stand-in for Mem0's spaCy entity extraction: capitalized words that
    do not start the text."""
    words = [m.group() for m in re.finditer(r"\b[A-Z][a-z]+\b", text) if m.start() > 0]
    return [("PROPER", w) for w in dict.fromkeys(words) if w not in ("User", "I")]


# -- fixtures --------------------------------------------------------------------


def memory_config(store: dict[str, Any], tmp_path: Any) -> dict[str, Any]:
    return {
        "vector_store": {"provider": "engram", "config": store},
        # Built by Mem0 (clients only, never called), then replaced.
        "embedder": {"provider": "openai", "config": {"api_key": "sk-test-never-used", "embedding_dims": DIMS}},
        "llm": {"provider": "openai", "config": {"api_key": "sk-test-never-used"}},
        "history_db_path": str(tmp_path / f"history-{uuid.uuid4().hex[:8]}.db"),
    }


def make_memory(config: dict[str, Any], cls: type = Memory) -> Any:
    em.register()
    memory = cls.from_config(config)
    memory.embedding_model = HashEmbedder()
    memory.llm = ScriptedLLM()
    return memory


@pytest.fixture
def memory(db: engram.Engram, space: engram.Space, tmp_path: Any) -> Iterator[Memory]:
    store = {
        "client": db,
        "space": space.name,
        "collection_name": "memories",
        "embedding_model_dims": DIMS,
        "embedding_model": "hash-words",
        "embedding_model_version": "1",
    }
    m = make_memory(memory_config(store, tmp_path))
    yield m
    m.close()


@pytest.fixture
def store(db: engram.Engram, space: engram.Space) -> EngramVectorStore:
    return EngramVectorStore(client=db, space=space.name, collection_name="vs", embedding_model_dims=4)


def ids(rows: Any) -> set[str]:
    return {r.id for r in rows}


def memories(result: dict[str, Any]) -> list[str]:
    return [r["memory"] for r in result["results"]]


# -- Mem0's Memory on Engram ---------------------------------------------------------


def test_memory_infer_add_search_get_all_update_delete_history(memory: Memory, space: engram.Space) -> None:
    llm: ScriptedLLM = memory.llm  # type: ignore[assignment]
    assert isinstance(memory.vector_store, EngramVectorStore)

    llm.will_extract("User likes green tea", "User lives in Lisbon")
    added = memory.add("I like green tea, and I live in Lisbon.", user_id="alice")
    assert [(r["memory"], r["event"]) for r in added["results"]] == [
        ("User likes green tea", "ADD"),
        ("User lives in Lisbon", "ADD"),
    ]
    llm.will_extract("User plays chess on Sundays")
    memory.add([{"role": "user", "content": "Chess on Sundays, always. Green tea helps."}], user_id="alice")
    # Mem0 searched the store (filtered to alice) and showed the LLM what she has.
    assert "User likes green tea" in llm.prompts[-1][1]["content"]
    llm.will_extract("User likes black coffee")
    memory.add("Black coffee for me", user_id="bob")
    assert "green tea" not in llm.prompts[-1][1]["content"]  # bob's add did not see alice's memories

    # A fact alice already has: Mem0 drops it by its hash, read back from the payloads.
    llm.will_extract("User likes green tea")
    assert memory.add("Did I mention green tea?", user_id="alice")["results"] == []
    assert not llm.queue

    found = memory.search("which tea does she drink? green tea", filters={"user_id": "alice"}, explain=True)
    assert found["results"][0]["memory"] == "User likes green tea"
    assert all(r["user_id"] == "alice" for r in found["results"])
    details = found["results"][0]["score_details"]
    assert details["semantic_score"] > 0.5 and details["bm25_score"] > 0  # vectors and BM25 both from Engram
    assert "User likes black coffee" not in memories(memory.search("black coffee", filters={"user_id": "alice"}))
    assert memories(memory.search("black coffee", filters={"user_id": "bob"}))[0] == "User likes black coffee"
    lisbon = memory.search("Lisbon", filters={"user_id": "alice"}, top_k=1)
    assert memories(lisbon) == ["User lives in Lisbon"]

    alice = memory.get_all(filters={"user_id": "alice"})
    assert sorted(memories(alice)) == ["User likes green tea", "User lives in Lisbon", "User plays chess on Sundays"]
    assert memories(memory.get_all(filters={"user_id": "bob"})) == ["User likes black coffee"]
    assert len(memory.get_all(filters={"user_id": "alice"}, top_k=2)["results"]) == 2
    assert space.collection("memories").count() == 4

    tea = next(r for r in alice["results"] if r["memory"] == "User likes green tea")
    got = memory.get(tea["id"])
    assert got["memory"] == "User likes green tea" and got["user_id"] == "alice"

    assert memory.update(tea["id"], text="User likes oolong tea now")["message"]
    updated = memory.get(tea["id"])
    assert updated["memory"] == "User likes oolong tea now"
    assert updated["created_at"] == got["created_at"] and updated["hash"] != got["hash"]
    assert memories(memory.search("oolong", filters={"user_id": "alice"}))[0] == "User likes oolong tea now"
    stored = space.collection("memories").get(tea["id"])
    assert stored is not None and stored["body"]["_vector"] == pytest.approx(
        HashEmbedder().embed("User likes oolong tea now")
    )

    assert memory.delete(tea["id"])["message"]
    assert memory.get(tea["id"]) is None
    assert len(memory.get_all(filters={"user_id": "alice"})["results"]) == 2
    assert [h["event"] for h in memory.history(tea["id"])] == ["ADD", "UPDATE", "DELETE"]
    with pytest.raises(ValueError):
        memory.delete(tea["id"])

    memory.delete_all(user_id="alice")
    assert memory.get_all(filters={"user_id": "alice"})["results"] == []
    assert len(memory.get_all(filters={"user_id": "bob"})["results"]) == 1


def test_memory_without_inference_and_metadata_filters(memory: Memory) -> None:
    messages = [
        {"role": "user", "content": "My name is Carol and I grow tomatoes"},
        {"role": "assistant", "content": "Nice to meet you Carol, tomatoes need sun"},
        {"role": "system", "content": "ignored"},
    ]
    added = memory.add(messages, user_id="carol", metadata={"topic": "garden", "priority": 2}, infer=False)
    assert [(r["role"], r["event"]) for r in added["results"]] == [("user", "ADD"), ("assistant", "ADD")]
    memory.add("Meeting at noon", user_id="carol", metadata={"topic": "work", "priority": 5}, infer=False)
    memory.add("Tomatoes again", user_id="dave", metadata={"topic": "garden", "priority": 9}, infer=False)
    assert not memory.llm.prompts  # type: ignore[attr-defined]

    def search(filters: dict[str, Any], query: str = "tomatoes meeting") -> list[str]:
        return sorted(memories(memory.search(query, filters={"user_id": "carol", **filters}, threshold=0.0)))

    everything = [
        "Meeting at noon",
        "My name is Carol and I grow tomatoes",
        "Nice to meet you Carol, tomatoes need sun",
    ]
    assert search({}) == everything
    assert search({"role": "assistant"}) == ["Nice to meet you Carol, tomatoes need sun"]
    assert search({"topic": "work"}) == ["Meeting at noon"]
    assert search({"priority": {"gte": 3}}) == ["Meeting at noon"]
    assert search({"priority": {"lt": 3}, "role": {"ne": "assistant"}}) == ["My name is Carol and I grow tomatoes"]
    assert search({"topic": {"in": ["work", "home"]}}) == ["Meeting at noon"]
    assert search({"topic": {"nin": ["work"]}}) == everything[1:]
    assert search({"OR": [{"role": "assistant"}, {"topic": "work"}]}) == ["Meeting at noon", everything[2]]
    assert search({"NOT": [{"topic": "garden"}]}) == ["Meeting at noon"]
    assert search({"AND": [{"topic": "garden"}, {"role": "user"}]}) == [everything[1]]
    assert search({"topic": "*"}) == everything
    assert search({"topic": {"contains": "ard"}}) == everything[1:]

    got = memory.get_all(filters={"user_id": "carol", "topic": "garden"})
    assert sorted(r["memory"] for r in got["results"]) == everything[1:]
    assert all(r["metadata"] == {"topic": "garden", "priority": 2} for r in got["results"])
    first = got["results"][0]
    memory.update(first["id"], metadata={"priority": 7})
    assert memory.get(first["id"])["metadata"] == {"topic": "garden", "priority": 7}
    assert memory.get(first["id"])["memory"] == first["memory"]


def test_memory_entity_store_links_and_boosts(
    memory: Memory, space: engram.Space, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mem0 keeps entities in a second store (``<collection>_entities``),
    created through the same provider: batch searches, payload-only
    updates, listing and deletes all land in Engram."""
    monkeypatch.setattr(mem0_main, "extract_entities", capitalized_entities)
    monkeypatch.setattr(mem0_main, "extract_entities_batch", lambda texts: [capitalized_entities(t) for t in texts])
    llm: ScriptedLLM = memory.llm  # type: ignore[assignment]

    llm.will_extract("User visited Porto with Marta", "User adopted a cat named Miso")
    memory.add("Porto trip with Marta; also we adopted Miso", user_id="erin")
    llm.will_extract("User and Marta plan a trip to Madrid")
    memory.add("Marta and I will go to Madrid", user_id="erin")

    assert isinstance(memory.entity_store, EngramVectorStore)
    entities = {r.payload["data"]: r.payload for r in memory.entity_store.list(filters={"user_id": "erin"})[0]}
    assert set(entities) == {"Porto", "Marta", "Miso", "Madrid"}
    assert len(entities["Marta"]["linked_memory_ids"]) == 2  # the second add updated the payload only
    assert space.collection("memories_entities").count() == 4

    found = memory.search("What did Marta do?", filters={"user_id": "erin"}, explain=True, threshold=0.0)
    boosted = [r for r in found["results"] if r["score_details"]["entity_boost"] > 0]
    assert {r["memory"] for r in boosted} == {"User visited Porto with Marta", "User and Marta plan a trip to Madrid"}

    miso = next(r for r in memory.get_all(filters={"user_id": "erin"})["results"] if "Miso" in r["memory"])
    memory.delete(miso["id"])
    remaining = {r.payload["data"] for r in memory.entity_store.list(filters={"user_id": "erin"})[0]}
    assert remaining == {"Porto", "Marta", "Madrid"}


def test_memory_reset(memory: Memory, space: engram.Space) -> None:
    memory.add("Reset me", user_id="frank", infer=False)
    assert space.collection("memories").count() == 1
    memory.reset()
    assert space.collection("memories").count() == 0
    assert memory.get_all(filters={"user_id": "frank"})["results"] == []
    memory.add("After the reset", user_id="frank", infer=False)
    assert memories(memory.search("reset", filters={"user_id": "frank"})) == ["After the reset"]


def test_async_memory(db: engram.Engram, space: engram.Space, tmp_path: Any) -> None:
    store = {"client": db, "space": space.name, "collection_name": "async_memories", "embedding_model_dims": DIMS}
    memory = make_memory(memory_config(store, tmp_path), AsyncMemory)

    async def scenario() -> None:
        await memory.add("Gina collects stamps", user_id="gina", infer=False)
        memory.llm.will_extract("User speaks Finnish")
        await memory.add("Puhun suomea: I speak Finnish", user_id="gina")
        found = await memory.search("stamps", filters={"user_id": "gina"})
        assert found["results"][0]["memory"] == "Gina collects stamps"
        everything = await memory.get_all(filters={"user_id": "gina"})
        assert sorted(memories(everything)) == ["Gina collects stamps", "User speaks Finnish"]

    asyncio.run(scenario())


def test_memory_on_a_data_directory(tmp_path: Any) -> None:
    """``path`` opens the directory once for every store of the process;
    closing the stores releases it, and the memories are there on reopen."""
    store = {"path": str(tmp_path / "data"), "space": "agents", "embedding_model_dims": DIMS}
    first = make_memory(memory_config(store, tmp_path))
    first.add("Hana likes jazz", user_id="hana", infer=False)
    assert first.entity_store.client is first.vector_store.client  # one open directory, shared
    first.entity_store.close()
    first.vector_store.close()
    first.close()
    assert not em._shared

    again = make_memory(memory_config(store, tmp_path))
    try:
        assert memories(again.get_all(filters={"user_id": "hana"})) == ["Hana likes jazz"]
        assert memories(again.search("jazz", filters={"user_id": "hana"})) == ["Hana likes jazz"]
    finally:
        again.vector_store.close()
        again.close()
    with engram.open(tmp_path / "data") as direct:  # released: openable again
        assert direct.space("agents").collection("mem0").count() == 1


def test_memory_on_a_server_with_space_keys(request: pytest.FixtureRequest, tmp_path: Any) -> None:
    """``url`` + ``api_key`` with keys bound to one space, which may not
    create the space (the store uses it as it is). Declaring collections
    takes the space's admin key; the write key then uses them."""
    server = request.getfixturevalue("server")
    name = "m-" + uuid.uuid4().hex[:10]
    store = {"url": server.url, "space": name, "collection_name": "remote", "embedding_model_dims": DIMS}
    with engram.connect(server.url, server.key) as admin:
        admin.create_space(name)
        key = admin.create_key("mem0-write", role="write", space=name)["key"]
        space_admin = admin.create_key("mem0-admin", role="admin", space=name)["key"]
    with pytest.raises(engram.Forbidden):
        EngramVectorStore(**dict(store, api_key=key))
    for collection in ("remote", "remote_entities"):
        EngramVectorStore(**dict(store, api_key=space_admin, collection_name=collection)).close()
    assert not em._shared
    memory = make_memory(memory_config(dict(store, api_key=key), tmp_path))
    try:
        memory.add("Ivan repairs bicycles", user_id="ivan", infer=False)
        assert memories(memory.search("bicycles", filters={"user_id": "ivan"})) == ["Ivan repairs bicycles"]
        assert {"remote", "remote_entities"} <= set(memory.vector_store.list_cols())
        # Mem0 derives the entity store's config by deep copy: the key survives.
        assert memory.entity_store.client is memory.vector_store.client
        assert memory.entity_store.list(filters={"user_id": "ivan"}) == [[]]
    finally:
        memory.entity_store.close()
        memory.vector_store.close()
        memory.close()
    assert not em._shared


def test_memory_with_mem0_telemetry_on(
    db: engram.Engram, space: engram.Space, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With telemetry on, Mem0 rebuilds the config from ``model_dump()`` to
    open a ``mem0migrations`` store: it works, on the same connection
    (events themselves are dropped here)."""
    monkeypatch.setattr(mem0_main, "MEM0_TELEMETRY", True)
    monkeypatch.setattr(mem0_main, "capture_event", lambda *args, **kwargs: None)
    store = {"client": db, "space": space.name, "embedding_model_dims": DIMS}
    memory = make_memory(memory_config(store, tmp_path))
    try:
        telemetry = memory._telemetry_vector_store
        assert isinstance(telemetry, EngramVectorStore) and telemetry.client is db
        assert telemetry.collection_name == "mem0migrations" and "mem0migrations" in telemetry.list_cols()
        memory.add("Jon sails", user_id="jon", infer=False)
        assert telemetry.col_info()["count"] == 0 and memory.vector_store.col_info()["count"] == 1
    finally:
        memory.close()


# -- the vector store interface directly ---------------------------------------------


def test_store_insert_get_search(store: EngramVectorStore) -> None:
    assert isinstance(store, VectorStoreBase)
    assert store.insert(
        vectors=[[1, 0, 0, 0], [0.9, 0.1, 0, 0], [0, 1, 0, 0]],
        payloads=[{"data": "a", "user_id": "u1"}, {"data": "b", "user_id": "u2"}, {"data": "c", "user_id": "u1"}],
        ids=["a", "b", "c"],
    ) == ["a", "b", "c"]
    got = store.get("a")
    assert isinstance(got, OutputData) and got.id == "a" and got.score is None
    assert got.payload == {"data": "a", "user_id": "u1"}  # the vector is not part of the payload
    assert store.get("missing") is None

    hits = store.search("q", [1, 0, 0, 0], top_k=3)
    assert [h.id for h in hits] == ["a", "b", "c"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-5) and hits[2].score == pytest.approx(0.0, abs=1e-5)
    assert hits[1].payload == {"data": "b", "user_id": "u2"}
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert [h.id for h in store.search("q", [1, 0, 0, 0], top_k=3, filters={"user_id": "u1"})] == ["a", "c"]
    assert [h.id for h in store.search("q", [1, 0, 0, 0], limit=1)] == ["a"]  # Mem0's older keyword
    assert store.search("q", [1, 0, 0, 0], top_k=0) == []
    assert len(store.search_batch(["x", "y"], [[1, 0, 0, 0], [0, 1, 0, 0]], top_k=1)) == 2

    new = store.insert(vectors=[[0, 0, 1, 0]], payloads=[{"data": "d"}])
    assert uuid.UUID(new[0]) and store.get(new[0]).payload == {"data": "d"}
    with pytest.raises(ValueError, match="dimensions"):
        store.insert(vectors=[[1, 0]], ids=["short"])
    with pytest.raises(ValueError, match="reserved"):
        store.insert(vectors=[[1, 0, 0, 0]], payloads=[{"_vector": 1}], ids=["x"])
    with pytest.raises(ValueError, match="payloads"):
        store.insert(vectors=[[1, 0, 0, 0]], payloads=[], ids=["x"])
    with pytest.raises(engram.InvalidInput):  # cosine of nothing
        store.insert(vectors=[[0, 0, 0, 0]], ids=["zero"])


FILTER_DOCS = {
    "p1": {
        "user_id": "u1",
        "n": 1,
        "tags": ["red", "blue"],
        "text": "Green Tea",
        "at": "2024-01-05T10:00:00+00:00",
        "meta": {"level": 3},
    },
    "p2": {
        "user_id": "u1",
        "n": 5,
        "tags": ["blue"],
        "text": "black coffee",
        "at": "2024-03-01T00:00:00+00:00",
        "meta": {"level": 1},
    },
    "p3": {"user_id": "u2", "n": 10, "tags": [], "text": "GREEN smoothie", "at": "2025-01-01T00:00:00+00:00"},
    "p4": {"user_id": "u2", "n": 2.5, "text": "water", "agent_id": "bot"},
}

FILTER_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"user_id": "u1"}, {"p1", "p2"}),
    ({"user_id": ["u2", "nobody"]}, {"p3", "p4"}),
    ({"agent_id": "*"}, {"p4"}),
    ({"n": {"eq": 5}}, {"p2"}),
    ({"n": {"ne": 5}}, {"p1", "p3", "p4"}),
    ({"n": {"gt": 2.5}}, {"p2", "p3"}),
    ({"n": {"gte": 2.5}}, {"p2", "p3", "p4"}),
    ({"n": {"gte": 2, "lt": 10}}, {"p2", "p4"}),
    ({"n": {"lte": 1}}, {"p1"}),
    ({"at": {"gte": "2024-02-01", "lt": "2025-01-01"}}, {"p2"}),
    ({"user_id": {"in": ["u1"]}}, {"p1", "p2"}),
    ({"user_id": {"nin": ["u1"]}}, {"p3", "p4"}),
    ({"tags": {"contains": "red"}}, {"p1"}),
    ({"text": {"contains": "Tea"}}, {"p1"}),
    ({"text": {"contains": "green"}}, set()),
    ({"text": {"icontains": "green"}}, {"p1", "p3"}),
    ({"meta.level": {"gte": 2}}, {"p1"}),
    ({"n": {"$gte": 5}}, {"p2", "p3"}),
    ({"AND": [{"user_id": "u1"}, {"n": {"gt": 1}}]}, {"p2"}),
    ({"OR": [{"n": 1}, {"agent_id": "bot"}]}, {"p1", "p4"}),
    ({"NOT": [{"user_id": "u1"}, {"n": 10}]}, {"p4"}),
    ({"user_id": "u2", "$or": [{"n": 10}, {"text": "water"}]}, {"p3", "p4"}),
    ({"$not": [{"tags": {"contains": "blue"}}]}, {"p3", "p4"}),
    # Mem0 may pass OR and the $or it derived from it together.
    ({"OR": [{"n": 1}], "$or": [{"n": 1}]}, {"p1"}),
    ({"OR": [{"user_id": "u1"}, {"user_id": "u2"}], "n": {"lt": 3}}, {"p1", "p4"}),
]


@pytest.mark.parametrize("case", range(len(FILTER_CASES)))
def test_store_filters_in_list_and_search(store: EngramVectorStore, case: int) -> None:
    store.insert(
        vectors=[[1, i, 0, 1] for i in range(len(FILTER_DOCS))],
        payloads=list(FILTER_DOCS.values()),
        ids=list(FILTER_DOCS),
    )
    filters, expected = FILTER_CASES[case]
    assert ids(store.list(filters=filters)[0]) == expected
    assert ids(store.search("q", [1, 0, 0, 1], top_k=10, filters=filters)) == expected
    assert ids(store.keyword_search("anything", top_k=10, filters=filters) or []) == set()  # no text_lemmatized


def test_translate_filters() -> None:
    assert translate_filters(None) is None and translate_filters({}) is None
    assert translate_filters({"user_id": "u"}) == {"user_id": {"$eq": "u"}}
    assert translate_filters({"a": 1, "b": [1, 2]}) == {"$and": [{"a": {"$eq": 1}}, {"b": {"$in": [1, 2]}}]}
    assert translate_filters({"a": {"gte": 1, "lt": 3}}) == {"$and": [{"a": {"$gte": 1}}, {"a": {"$lt": 3}}]}
    assert translate_filters({"NOT": [{"a": 1}]}) == {"$not": {"a": {"$eq": 1}}}
    assert translate_filters({"OR": []}) is None
    with pytest.raises(ValueError, match="unsupported filter operator 'regex'"):
        translate_filters({"a": {"regex": "x"}})
    with pytest.raises(ValueError, match="unsupported filter operator"):
        translate_filters({"$where": "x"})
    with pytest.raises(ValueError, match="list of filter dicts"):
        translate_filters({"OR": "x"})


def test_store_update_and_delete(store: EngramVectorStore) -> None:
    store.insert(vectors=[[1, 0, 0, 0], [0, 1, 0, 0]], payloads=[{"data": "a", "k": 1}, {"data": "b"}], ids=["a", "b"])

    store.update("a", payload={"data": "a2", "extra": True})  # payload only: the vector stays
    assert store.get("a").payload == {"data": "a2", "extra": True}
    assert store.search("q", [1, 0, 0, 0], top_k=1)[0].id == "a"

    store.update("a", vector=[0, 0, 1, 0])  # vector only: the payload stays
    assert store.get("a").payload == {"data": "a2", "extra": True}
    assert store.search("q", [0, 0, 1, 0], top_k=1)[0].id == "a"

    store.update("b", vector=[0, 0, 0, 1], payload={"data": "b2"})
    top = store.search("q", [0, 0, 0, 1], top_k=1)[0]
    assert (top.id, top.payload) == ("b", {"data": "b2"})
    store.update("new", vector=[1, 1, 0, 0], payload={"data": "n"})  # both: an upsert
    assert store.get("new").payload == {"data": "n"}

    with pytest.raises(ValueError, match="no vector"):
        store.update("missing", payload={"data": "x"})
    with pytest.raises(ValueError, match="no vector"):
        store.update("missing", vector=[1, 0, 0, 0])
    with pytest.raises(ValueError, match="reserved"):
        store.update("a", payload={"_vector": [1, 0, 0, 0]})

    store.delete("a")
    assert store.get("a") is None
    store.delete("a")  # already gone: nothing to do
    assert ids(store.list()[0]) == {"b", "new"}


def test_store_list_pages(store: EngramVectorStore) -> None:
    n = 1_205
    store.insert(
        vectors=[[1, i % 7, i % 3, 1] for i in range(n)],
        payloads=[{"i": i, "even": i % 2 == 0} for i in range(n)],
        ids=[f"d{i:05d}" for i in range(n)],
    )
    assert len(store.list(top_k=None)[0]) == n
    assert len(store.list(top_k=1_100)[0]) == 1_100
    assert len(store.list()[0]) == 100  # the default, as Mem0's other stores
    assert [r.id for r in store.list(top_k=3)[0]] == ["d00000", "d00001", "d00002"]
    assert len(store.list(filters={"even": True}, limit=2_000)[0]) == 603
    assert store.col_info()["count"] == n


def test_store_collections(store: EngramVectorStore, db: engram.Engram, space: engram.Space) -> None:
    info = store.col_info()
    vector = info["spec"]["search"]["vectors"][0]
    assert (vector["name"], vector["path"], vector["dims"], vector["metric"]) == ("embedding", "_vector", 4, "cosine")
    assert vector["model"] == {"name": "unspecified", "version": "1"}
    assert info["spec"]["search"]["text"] == [{"path": "text_lemmatized", "boost": 1.0}]
    assert {i["name"] for i in info["spec"]["indexes"]} >= {"by_user_id", "by_agent_id", "by_run_id"}
    assert (info["count"], info["space"], info["name"]) == (0, space.name, "vs")
    assert "vs" in store.list_cols()

    store.insert(vectors=[[1, 0, 0, 0]], ids=["a"])
    store.reset()
    assert store.col_info()["count"] == 0 and store.get("a") is None
    store.insert(vectors=[[1, 0, 0, 0]], ids=["a"])  # declared again: still searchable
    assert store.search("q", [1, 0, 0, 0], top_k=1)[0].id == "a"

    store.delete_col()
    assert "vs" not in store.list_cols()
    store.delete_col()  # already gone
    store.create_col()
    assert "vs" in store.list_cols()
    store.create_col("other", 3, "dot")
    assert space.collection("other").info()["spec"]["search"]["vectors"][0]["metric"] == "dot"

    # The same collection again: accepted when it matches, refused when not.
    assert EngramVectorStore(client=db, space=space.name, collection_name="vs", embedding_model_dims=4).col_info()
    with pytest.raises(ValueError, match="4-dimension cosine vectors, not 8-dimension cosine"):
        EngramVectorStore(client=db, space=space.name, collection_name="vs", embedding_model_dims=8)
    with pytest.raises(ValueError, match="not 4-dimension l2"):
        EngramVectorStore(client=db, space=space.name, collection_name="vs", embedding_model_dims=4, metric="l2")

    # A collection created by plain writes (with an index of its own) gets the vector field added.
    plain = space.collection("plain")
    plain.define(indexes=[{"name": "by_kind", "paths": ["kind"]}])
    plain.put("old", {"data": "written before", "kind": "note"})
    adopted = EngramVectorStore(client=db, space=space.name, collection_name="plain", embedding_model_dims=4)
    assert {i["name"] for i in adopted.col_info()["spec"]["indexes"]} >= {"by_kind", "by_user_id"}
    assert adopted.get("old").payload == {"data": "written before", "kind": "note"}
    adopted.insert(vectors=[[0, 1, 0, 0]], payloads=[{"kind": "note"}], ids=["new"])
    assert [h.id for h in adopted.search("q", [0, 1, 0, 0], top_k=5, filters={"kind": "note"})] == ["new"]

    # A vector field of the same name kept elsewhere in the documents is not ours.
    model = {"name": "m", "version": "1"}
    vectors = [{"name": "embedding", "path": "emb", "dims": 4, "metric": "cosine", "model": model}]
    space.collection("foreign").define(search={"vectors": vectors})
    with pytest.raises(ValueError, match="'emb', not '_vector'"):
        EngramVectorStore(client=db, space=space.name, collection_name="foreign", embedding_model_dims=4)


def test_store_keyword_search(store: EngramVectorStore, db: engram.Engram, space: engram.Space) -> None:
    store.insert(
        vectors=[[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]],
        payloads=[
            {"data": "Green tea", "text_lemmatized": "green tea", "user_id": "u1"},
            {"data": "Black tea and coffee", "text_lemmatized": "black tea coffee", "user_id": "u2"},
            {"data": "Water", "text_lemmatized": "water", "user_id": "u1"},
        ],
        ids=["t1", "t2", "w"],
    )
    hits = store.keyword_search("green tea", top_k=5)
    assert [h.id for h in hits] == ["t1", "t2"] and hits[0].score > hits[1].score > 0
    assert hits[0].payload["data"] == "Green tea"
    assert [h.id for h in store.keyword_search("tea", filters={"user_id": "u2"})] == ["t2"]
    # Engram's query syntax is not Mem0's: quotes, signs, stars and colons are plain text here.
    assert {h.id for h in store.keyword_search('"tea -coffee* data:x +water', top_k=5)} == {"t1", "t2", "w"}
    assert store.keyword_search("?!", top_k=5) == []
    assert store.keyword_search("tea", top_k=0) == []
    quiet = EngramVectorStore(
        client=db, space=space.name, collection_name="no_text", embedding_model_dims=4, keyword_search=False
    )
    assert quiet.keyword_search("tea") is None
    assert "text" not in quiet.col_info()["spec"]["search"]


@pytest.mark.parametrize("metric", ["dot", "l2"])
def test_store_other_metrics(db: engram.Engram, space: engram.Space, metric: str) -> None:
    store = EngramVectorStore(
        client=db, space=space.name, collection_name=f"m_{metric}", embedding_model_dims=2, metric=metric
    )
    store.insert(vectors=[[1, 0], [3, 4]], ids=["near", "far"])
    hits = store.search("q", [1, 0], top_k=2)
    if metric == "dot":
        assert [(h.id, h.score) for h in hits] == [("far", pytest.approx(3.0)), ("near", pytest.approx(1.0))]
    else:  # 1 / (1 + euclidean distance)
        assert [(h.id, h.score) for h in hits] == [
            ("near", pytest.approx(1.0)),
            ("far", pytest.approx(1 / (1 + math.sqrt(20)))),
        ]


def test_register_and_config(db: engram.Engram, space: engram.Space) -> None:
    assert em.register() == "engram" and em.register() == "engram"  # idempotent
    config = VectorStoreConfig(provider="engram", config={"client": db, "space": space.name, "embedding_model_dims": 8})
    assert isinstance(config.config, EngramConfig)
    assert config.config.path == "/tmp/engram"  # filled in by Mem0, unused: client comes first
    clone = copy.deepcopy(config.config)
    assert clone.client is db and clone.space == space.name  # copies share the connection
    again = EngramConfig(**config.config.model_dump())
    assert again.client is db

    from mem0.utils.factory import VectorStoreFactory

    built = VectorStoreFactory.create("engram", config.config)
    assert isinstance(built, EngramVectorStore) and built.client is db
    assert built.col_info()["spec"]["search"]["vectors"][0]["dims"] == 8

    em.register("engram-alt")
    alt = VectorStoreConfig(provider="engram-alt", config={"client": db, "space": space.name, "collection_name": "alt"})
    assert isinstance(VectorStoreFactory.create("engram-alt", alt.config), EngramVectorStore)

    with pytest.raises(ValueError, match="Extra fields|extra"):
        EngramConfig(path="/tmp/x", host="localhost")
    with pytest.raises(ValueError, match="give one of"):
        EngramConfig()
    with pytest.raises(ValueError, match="engram.Engram"):
        EngramConfig(client=object())
    with pytest.raises(ValueError):
        EngramConfig(path="/tmp/x", metric="hamming")
