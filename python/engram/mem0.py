"""Engram as a vector store for Mem0 (the ``mem0ai`` package).

Each Mem0 collection is an Engram collection in one space. A memory is a
document: its id is the memory id, its payload is the document's fields
(``data``, ``hash``, ``user_id``, ``created_at``, metadata…), and its
embedding sits in the ``_vector`` field, declared as a search vector field
(``embedding``: dims, metric, and the embedding model's name and version).
Mem0's filters become Engram filters, so k-NN search, keyword (BM25) search
on ``text_lemmatized`` and listing all run filtered inside the engine.

Use::

    import engram.mem0
    from mem0 import Memory

    engram.mem0.register()  # once per process: adds the "engram" provider
    memory = Memory.from_config({
        "vector_store": {
            "provider": "engram",
            "config": {"path": "./engram-data", "space": "agents",
                       "collection_name": "memories", "embedding_model_dims": 1536},
        },
        # "llm": …, "embedder": …
    })

The config takes one of ``client`` (an open :class:`engram.Engram`),
``url`` with ``api_key`` (an ``engram serve`` server; the key defaults to
``$ENGRAM_KEY``), or ``path`` (a data directory opened in this process). A
directory or server is opened once per process and shared by every store
on it (Mem0 opens several: memories, ``<collection>_entities``, and
``mem0migrations`` when its telemetry is on); see
:meth:`EngramVectorStore.close`. Declaring a collection takes an admin
key (of the space, or of all spaces) and creating a space an all-spaces
admin key: with a write key, build a store once with an admin key for each
of those collections, after which the write key uses them.

Importing this module imports ``mem0``; ``engram`` itself never does.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import math
import os
import re
import sys
import threading
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from mem0.vector_stores.base import VectorStoreBase
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .client import Engram, connect
from .client import open as open_engram
from .collection import Collection
from .errors import Conflict, Forbidden, NotFound
from .space import Space

__all__ = [
    "PROVIDER",
    "VECTOR_FIELD",
    "VECTOR_PATH",
    "EngramConfig",
    "EngramVectorStore",
    "OutputData",
    "register",
    "translate_filters",
]

logger = logging.getLogger(__name__)

#: The provider name :func:`register` adds to Mem0 by default.
PROVIDER = "engram"
#: Name of the declared vector field (what ``vector_field`` selects in a search).
VECTOR_FIELD = "embedding"
#: Document field holding the embedding; a payload may not use this key.
VECTOR_PATH = "_vector"
#: Payload field indexed for keyword (BM25) search: Mem0 writes the
#: lemmatized memory text there.
TEXT_PATH = "text_lemmatized"
#: Payload fields Mem0 filters on in every call: each gets an index.
INDEXED_FIELDS = ("user_id", "agent_id", "run_id", "actor_id")

_PAGE_MAX = 1_000  # documents per query page
_K_MAX = 1_000  # results per search
_BATCH_DOCS_MAX = 1_000  # documents per bulk write
_BATCH_BYTES = 8 * 1024 * 1024  # estimated bytes per bulk write
_TEXT_QUERY_BYTES_MAX = 4 * 1024


class OutputData(BaseModel):
    """One result, as every Mem0 vector store returns it: the memory ``id``,
    a ``score`` (higher is more similar, in [0, 1] for cosine; None when
    listed or read by id) and the ``payload``."""

    id: str | None
    score: float | None
    payload: dict | None


class EngramConfig(BaseModel):
    """The ``vector_store.config`` of the ``engram`` provider.

    Where the data lives, in order of precedence: ``client`` (an open
    :class:`engram.Engram`, shared and never closed by the store), ``url``
    (a server; ``api_key`` or ``$ENGRAM_KEY``), ``path`` (a data directory
    opened in this process; Mem0 fills in ``/tmp/engram`` when none of the
    three is given). ``space`` is created when missing (if the key may).
    ``embedding_model`` and ``embedding_model_version`` are recorded in the
    vector field's declaration, saying which model produced the vectors.
    ``keyword_search`` declares ``text_lemmatized`` as a text field so
    Mem0's hybrid search gets BM25 scores from Engram.
    """

    collection_name: str = Field("mem0", description="Engram collection holding the memories")
    embedding_model_dims: int = Field(1536, description="Dimensions of the embedding vectors")
    client: Any | None = Field(None, description="An open engram.Engram connection to use")
    url: str | None = Field(None, description="URL of an Engram server")
    api_key: str | None = Field(None, description="API key for the server (default: $ENGRAM_KEY)")
    path: str | None = Field(None, description="Data directory opened in this process")
    space: str = Field("mem0", description="Engram space of the collections")
    metric: Literal["cosine", "dot", "l2"] = Field("cosine", description="Vector similarity metric")
    embedding_model: str = Field("unspecified", description="Name of the model producing the vectors")
    embedding_model_version: str = Field("1", description="Version of that model")
    keyword_search: bool = Field(True, description="Index text_lemmatized for BM25 keyword search")

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    @model_validator(mode="after")
    def _check(self) -> EngramConfig:
        if self.client is not None and not isinstance(self.client, Engram):
            raise ValueError(f"client must be an engram.Engram, got {type(self.client).__name__}")
        if self.client is None and not self.url and not self.path:
            raise ValueError("give one of 'client' (an engram.Engram), 'url' (a server) or 'path' (a data directory)")
        if not 1 <= self.embedding_model_dims <= 4096:
            raise ValueError(f"embedding_model_dims must be 1 to 4096, got {self.embedding_model_dims}")
        return self

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> EngramConfig:
        # Mem0 deep-copies configs to derive its entity and telemetry
        # stores: they share the connection rather than copy it.
        memo = {} if memo is None else memo
        if self.client is not None:
            memo[id(self.client)] = self.client
        return super().__deepcopy__(memo)


# -- connections shared by the stores of a process ------------------------

_shared: dict[tuple[str, ...], list[Any]] = {}  # key -> [Engram, users]
_shared_lock = threading.Lock()


def _acquire(key: tuple[str, ...], opener: Any) -> Engram:
    with _shared_lock:
        entry = _shared.get(key)
        if entry is None:
            entry = _shared[key] = [opener(), 0]
        entry[1] += 1
        return entry[0]


def _release(key: tuple[str, ...]) -> None:
    with _shared_lock:
        entry = _shared.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _shared[key]
    entry[0].close()


@atexit.register
def _close_all() -> None:
    with _shared_lock:
        entries = list(_shared.values())
        _shared.clear()
    for conn, _ in entries:
        with contextlib.suppress(Exception):  # best effort at exit
            conn.close()


# -- filters -------------------------------------------------------------------

_LOGICAL = {"AND": "$and", "OR": "$or", "NOT": "$not", "$and": "$and", "$or": "$or", "$not": "$not"}
_COMPARISONS = {"eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"}


def translate_filters(filters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Mem0's filter dict as an Engram filter (None when it filters nothing).

    Keys are payload fields (dotted paths reach into nested objects). A
    value is an equality, a list means "any of", ``"*"`` means the field
    exists, and a dict holds operators: ``eq ne gt gte lt lte in nin
    contains icontains`` (also with a ``$`` prefix). ``contains`` finds a
    substring in a string or an element in an array. Engram has no
    case-insensitive match: ``icontains`` matches the text as given, lower
    case, upper case or capitalized. ``AND``/``OR``/``NOT`` (or ``$and``,
    ``$or``, ``$not``) take a list of filters; ``NOT`` excludes documents
    matching any of them. Unknown operators raise ValueError.
    """
    if not filters:
        return None
    parts: list[dict[str, Any]] = []
    seen_logical: set[str] = set()
    for key, value in filters.items():
        logical = _LOGICAL.get(key)
        if logical is not None:
            # Mem0 may pass both "OR" and the "$or" it derived from it.
            if logical in seen_logical:
                continue
            seen_logical.add(logical)
            parts.extend(_logical(key, logical, value))
        elif isinstance(key, str) and key.startswith("$"):
            raise ValueError(f"unsupported filter operator {key!r} (use AND, OR, NOT or a field name)")
        else:
            parts.extend(_field(str(key), value))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _logical(key: str, op: str, value: Any) -> list[dict[str, Any]]:
    items = [value] if isinstance(value, Mapping) else value
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise ValueError(f"{key} takes a list of filter dicts, got {value!r}")
    subs = [t for t in (translate_filters(i) for i in items) if t is not None]
    if not subs:
        # OR of nothing, AND of nothing: no condition; NOT of nothing too.
        return []
    if op == "$and":
        return subs
    either = subs[0] if len(subs) == 1 else {"$or": subs}
    return [either] if op == "$or" else [{"$not": either}]


def _field(path: str, value: Any) -> list[dict[str, Any]]:
    if isinstance(value, Mapping):
        if not value:
            raise ValueError(f"filter on {path!r}: empty operator dict")
        return [_operator(path, str(op), operand) for op, operand in value.items()]
    if isinstance(value, str) and value == "*":
        return [{path: {"$exists": True}}]
    if isinstance(value, (list, tuple)):
        return [{path: {"$in": list(value)}}]
    return [{path: {"$eq": value}}]


def _operator(path: str, op: str, operand: Any) -> dict[str, Any]:
    name = op.removeprefix("$")
    if name in _COMPARISONS:
        if name in ("in", "nin") and not isinstance(operand, (list, tuple)):
            operand = [operand]
        if isinstance(operand, tuple):
            operand = list(operand)
        return {path: {f"${name}": operand}}
    if name == "contains":
        return {path: {"$contains": operand}}
    if name == "icontains":
        if not isinstance(operand, str):
            return {path: {"$contains": operand}}
        variants = list(dict.fromkeys([operand, operand.lower(), operand.upper(), operand.capitalize()]))
        if len(variants) == 1:
            return {path: {"$contains": operand}}
        return {"$or": [{path: {"$contains": v}} for v in variants]}
    if name == "exists":
        return {path: {"$exists": bool(operand)}}
    if name == "prefix":
        return {path: {"$prefix": operand}}
    supported = "eq, ne, gt, gte, lt, lte, in, nin, contains, icontains"
    raise ValueError(f"unsupported filter operator {op!r} on {path!r}; supported: {supported}")


def _text_query(query: str) -> str:
    """Plain words of ``query`` (Engram's query syntax characters dropped),
    each once, within the query size limit."""
    words: list[str] = []
    size = 0
    for word in dict.fromkeys(w.lower() for w in re.findall(r"\w+", query or "")):
        size += len(word.encode()) + 1
        if size > _TEXT_QUERY_BYTES_MAX:
            break
        words.append(word)
    return " ".join(words)


# -- the store -----------------------------------------------------------------


class EngramVectorStore(VectorStoreBase):
    """Mem0's vector store interface on an Engram collection.

    Built by Mem0 from an :class:`EngramConfig` (after :func:`register`),
    or directly with the same keyword arguments. The collection is declared
    (or checked, when it exists) at construction: a vector field of
    ``embedding_model_dims`` dimensions, indexes on the identity fields,
    and, with ``keyword_search``, a text field.
    """

    def __init__(
        self,
        collection_name: str = "mem0",
        embedding_model_dims: int = 1536,
        client: Engram | None = None,
        url: str | None = None,
        api_key: str | None = None,
        path: str | None = None,
        space: str = "mem0",
        metric: str = "cosine",
        embedding_model: str = "unspecified",
        embedding_model_version: str = "1",
        keyword_search: bool = True,
    ) -> None:
        config = EngramConfig(
            collection_name=collection_name,
            embedding_model_dims=embedding_model_dims,
            client=client,
            url=url,
            api_key=api_key,
            path=path,
            space=space,
            metric=metric,  # type: ignore[arg-type]
            embedding_model=embedding_model,
            embedding_model_version=embedding_model_version,
            keyword_search=keyword_search,
        )
        self.config = config
        self.collection_name = collection_name
        self.embedding_model_dims = embedding_model_dims
        self.metric = metric
        self._shared_key: tuple[str, ...] | None = None
        if client is not None:
            self.client = client
        elif url:
            key = api_key if api_key is not None else os.environ.get("ENGRAM_KEY")
            self._shared_key = ("url", url.rstrip("/"), key or "")
            self.client = _acquire(self._shared_key, lambda: connect(url, key))
        else:
            assert path is not None
            where = os.path.realpath(os.path.expanduser(path))
            self._shared_key = ("path", where)
            self.client = _acquire(self._shared_key, lambda: open_engram(where))
        try:
            self.space: Space = self._open_space(space)
            self.collection: Collection = self.space.collection(collection_name)
            self.create_col(collection_name, embedding_model_dims, metric)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"EngramVectorStore({self.space.name!r}, {self.collection_name!r})"

    def _open_space(self, name: str) -> Space:
        try:
            return self.client.space(name)
        except Forbidden:
            # A key scoped to one space may not create spaces: use it as is.
            return self.client.space(name, create=False)

    def close(self) -> None:
        """Releases the connection this store opened from ``url`` or
        ``path`` (closed when the last store of the process using it is
        closed, or at exit). A ``client`` passed in is left open."""
        key, self._shared_key = self._shared_key, None
        if key is not None:
            _release(key)

    # -- collections -------------------------------------------------------

    def _spec(self, vector_size: int, metric: str) -> dict[str, Any]:
        search: dict[str, Any] = {
            "vectors": [
                {
                    "name": VECTOR_FIELD,
                    "path": VECTOR_PATH,
                    "dims": int(vector_size),
                    "metric": metric,
                    "model": {"name": self.config.embedding_model, "version": self.config.embedding_model_version},
                }
            ]
        }
        if self.config.keyword_search:
            search["text"] = [{"path": TEXT_PATH}]
        indexes = [{"name": f"by_{f}", "paths": [f]} for f in INDEXED_FIELDS]
        return {"search": search, "indexes": indexes}

    def create_col(
        self, name: str | None = None, vector_size: int | None = None, distance: str | None = None
    ) -> Collection:
        """Declares collection ``name`` (default: this store's) with a
        ``vector_size``-dimension vector field and ``distance`` metric
        (``cosine``, ``dot``, ``l2``), or checks that an existing one
        matches. A collection created without the vector field gets it
        added (its schema, TTL and indexes are kept). Raises ValueError
        when an existing vector field differs in dimensions or metric."""
        name = name or self.collection_name
        vector_size = int(vector_size or self.embedding_model_dims)
        metric = str(getattr(distance, "value", distance) or self.metric).lower()
        if metric not in ("cosine", "dot", "l2"):
            raise ValueError(f"distance must be cosine, dot or l2, got {distance!r}")
        collection = self.space.collection(name)
        wanted = self._spec(vector_size, metric)
        try:
            current = collection.info().get("spec") or {}
        except NotFound:
            current = None
        if current is None:
            self._define(collection, wanted)
            return collection
        vectors = {v.get("name"): v for v in (current.get("search") or {}).get("vectors", [])}
        existing = vectors.get(VECTOR_FIELD)
        if existing is not None:
            if existing.get("dims") != vector_size or existing.get("metric") != metric:
                raise ValueError(
                    f"collection {name!r} in space {self.space.name!r} holds {existing.get('dims')}-dimension "
                    f"{existing.get('metric')} vectors, not {vector_size}-dimension {metric}: "
                    "use another collection_name (or delete this one) for another embedding model"
                )
            if existing.get("path", VECTOR_FIELD) != VECTOR_PATH:
                raise ValueError(
                    f"collection {name!r} in space {self.space.name!r} keeps its {VECTOR_FIELD!r} vectors in "
                    f"{existing.get('path', VECTOR_FIELD)!r}, not {VECTOR_PATH!r}: use another collection_name"
                )
            return collection
        # Created by a plain write, or declared by someone else: add ours.
        spec = {k: v for k, v in current.items() if k not in ("search", "indexes")}
        search = dict(current.get("search") or {})
        search["vectors"] = list(search.get("vectors", [])) + wanted["search"]["vectors"]
        texts = list(search.get("text", []))
        for t in wanted["search"].get("text", []):
            if all(x.get("path") != t["path"] for x in texts):
                texts.append(t)
        if texts:
            search["text"] = texts
        indexes = [{k: v for k, v in i.items() if k != "id"} for i in current.get("indexes", [])]
        names = {i.get("name") for i in indexes}
        indexes += [i for i in wanted["indexes"] if i["name"] not in names]
        self._define(collection, {**spec, "search": search, "indexes": indexes})
        return collection

    def _define(self, collection: Collection, spec: dict[str, Any]) -> None:
        try:
            collection.define(spec)
        except Forbidden as e:
            note = (
                f"declaring collection {collection.name!r} in space {self.space.name!r} takes a key with role "
                "admin (for this space or all): build the store once with one, then a write key can use it"
            )
            if hasattr(e, "add_note"):
                e.add_note(note)
            else:
                logger.error("%s", note)
            raise

    def list_cols(self) -> list[str]:
        """Names of the collections in this store's space."""
        return [c["name"] for c in self.space.collections()]

    def delete_col(self) -> None:
        """Deletes this store's collection with every memory in it."""
        try:
            self.collection.drop()
        except NotFound:
            pass

    def col_info(self) -> dict[str, Any]:
        """The collection's ``name``, ``spec`` (its vector field, text
        field, indexes) and document ``count``, with the ``space``."""
        info = dict(self.collection.info())
        info["count"] = self.collection.count()
        info["space"] = self.space.name
        return info

    def reset(self) -> None:
        """Deletes the collection and declares it again, empty."""
        logger.info("resetting Engram collection %s/%s", self.space.name, self.collection_name)
        self.delete_col()
        self.create_col(self.collection_name, self.embedding_model_dims, self.metric)

    # -- writes ----------------------------------------------------------

    def insert(self, vectors: list, payloads: list | None = None, ids: list | None = None) -> list[str]:
        """Writes one document per vector (replacing documents with the
        same ids), in transactions of up to 1,000 documents (or about
        8 MiB): each batch is all or nothing. Missing ids are new UUIDs.
        Returns the ids."""
        vectors = list(vectors)
        if payloads is not None and len(payloads) != len(vectors):
            raise ValueError(f"{len(vectors)} vectors but {len(payloads)} payloads")
        if ids is not None and len(ids) != len(vectors):
            raise ValueError(f"{len(vectors)} vectors but {len(ids)} ids")
        ids = [str(uuid.uuid4()) for _ in vectors] if ids is None else [str(i) for i in ids]
        batch: list[tuple[str, dict[str, Any]]] = []
        size = 0
        for i, vector in enumerate(vectors):
            payload = dict(payloads[i] or {}) if payloads is not None else {}
            body = self._body(payload, vector)
            cost = 24 * len(body[VECTOR_PATH]) + len(json.dumps(payload, default=str))
            if batch and (len(batch) >= _BATCH_DOCS_MAX or size + cost > _BATCH_BYTES):
                self.collection.bulk_put(batch)
                batch, size = [], 0
            batch.append((ids[i], body))
            size += cost
        if batch:
            self.collection.bulk_put(batch)
        return ids

    def update(self, vector_id: Any, vector: list | None = None, payload: dict | None = None) -> None:
        """Replaces the payload, the vector, or both of document
        ``vector_id``. With both, the document is written whole (created if
        missing); with one, the other is kept (ValueError when the document
        does not exist). The payload given replaces the old one."""
        vid = str(vector_id)
        if vector is not None and payload is not None:
            self.collection.put(vid, self._body(dict(payload), vector))
            return
        if vector is not None:
            try:
                self.collection.patch(vid, {VECTOR_PATH: self._vector(vector)})
            except NotFound:
                raise ValueError(f"no vector {vid!r} in {self.collection_name!r}") from None
            return
        if payload is None:
            return
        # Keep the stored vector: read it, write the new payload beside it
        # unless the document changed in between (then read again).
        for _ in range(8):
            doc = self.collection.get(vid)
            if doc is None:
                raise ValueError(f"no vector {vid!r} in {self.collection_name!r}")
            body = self._body(dict(payload), None)
            if VECTOR_PATH in doc["body"]:
                body[VECTOR_PATH] = doc["body"][VECTOR_PATH]
            try:
                self.collection.put(vid, body, expect={"version": doc["version"]})
                return
            except Conflict:  # written meanwhile
                continue
        raise RuntimeError(f"vector {vid!r} kept changing while its payload was updated")

    def delete(self, vector_id: Any) -> None:
        """Deletes document ``vector_id`` (nothing happens when it is missing)."""
        try:
            self.collection.delete(str(vector_id))
        except NotFound:
            pass

    # -- reads -------------------------------------------------------------

    def get(self, vector_id: Any) -> OutputData | None:
        """The memory ``vector_id`` (``score`` None), or None."""
        doc = self.collection.get(str(vector_id))
        if doc is None:
            return None
        return OutputData(id=doc["id"], score=None, payload=self._payload(doc["body"]))

    def list(
        self, filters: dict | None = None, top_k: int | None = 100, *, limit: int | None = None
    ) -> list[list[OutputData]]:
        """Up to ``top_k`` memories matching ``filters`` (all when None),
        in id order, as ``[[OutputData, …]]`` (the shape Mem0 unwraps).
        ``limit`` is the older name of ``top_k``."""
        wanted = limit if limit is not None else top_k
        engram_filter = translate_filters(filters)
        rows: list[OutputData] = []
        cursor = None
        while wanted is None or len(rows) < wanted:
            page_size = _PAGE_MAX if wanted is None else min(_PAGE_MAX, wanted - len(rows))
            page = self.collection.query(engram_filter, limit=page_size, cursor=cursor)
            rows.extend(OutputData(id=d["id"], score=None, payload=self._payload(d["body"])) for d in page["documents"])
            cursor = page.get("next_cursor")
            if not cursor or not page["documents"]:
                break
        return [rows]

    def search(
        self,
        query: str,
        vectors: list,
        top_k: int = 5,
        filters: dict | None = None,
        *,
        limit: int | None = None,
    ) -> list[OutputData]:
        """The ``top_k`` (at most 1,000) memories nearest to ``vectors``
        among those matching ``filters``, most similar first. Scores are
        similarities: cosine clamped to [0, 1], dot product as is, and
        1 / (1 + distance) for l2. ``query`` (the text) is not used;
        ``limit`` is the older name of ``top_k``."""
        k = _k(limit if limit is not None else top_k)
        if k == 0:
            return []
        found = self.collection.search(
            vector=self._vector(vectors), k=k, filter=translate_filters(filters), vector_field=VECTOR_FIELD
        )
        return [self._hit(h, self._similarity(h["score"])) for h in found["hits"]]

    def keyword_search(self, query: str, top_k: int = 5, filters: dict | None = None) -> list[OutputData] | None:
        """BM25 search of ``query``'s words in ``text_lemmatized`` (any
        word matches), with raw BM25 scores as Mem0 expects. None when the
        store was built with ``keyword_search=False`` or the search failed
        (Mem0 then ranks by vectors alone)."""
        if not self.config.keyword_search:
            return None
        text = _text_query(query)
        k = _k(top_k)
        if not text or k == 0:
            return []
        try:
            found = self.collection.search(text=text, k=k, filter=translate_filters(filters), snippets=False)
        except Exception as e:  # noqa: BLE001 - a failed keyword search degrades to vectors only
            logger.warning("Engram keyword search failed, ranking by vectors only: %s", e)
            return None
        return [self._hit(h, float(h["score"])) for h in found["hits"]]

    # -- conversions ---------------------------------------------------------

    def _vector(self, vector: Iterable[Any]) -> list[float]:
        values = [float(x) for x in vector]
        if len(values) != self.embedding_model_dims:
            raise ValueError(f"vector has {len(values)} dimensions, the store holds {self.embedding_model_dims}")
        return values

    def _body(self, payload: dict[str, Any], vector: Iterable[Any] | None) -> dict[str, Any]:
        if VECTOR_PATH in payload:
            raise ValueError(f"payload key {VECTOR_PATH!r} is reserved for the vector")
        if vector is not None:
            payload[VECTOR_PATH] = self._vector(vector)
        return payload

    @staticmethod
    def _payload(body: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k != VECTOR_PATH}

    def _hit(self, hit: Mapping[str, Any], score: float) -> OutputData:
        document = hit.get("document") or {}
        return OutputData(id=hit["id"], score=score, payload=self._payload(document.get("body") or {}))

    def _similarity(self, score: float) -> float:
        if self.metric == "cosine":
            return min(1.0, max(0.0, float(score)))
        if self.metric == "l2":
            return 1.0 / (1.0 + math.sqrt(max(0.0, -float(score))))
        return float(score)


def _k(top_k: int | None) -> int:
    k = 5 if top_k is None else int(top_k)
    return max(0, min(k, _K_MAX))


# -- registration ----------------------------------------------------------------


def register(provider: str = PROVIDER) -> str:
    """Makes ``provider`` (default ``"engram"``) a Mem0 vector store, so
    ``Memory.from_config({"vector_store": {"provider": "engram", "config":
    {…}}})`` builds an :class:`EngramVectorStore` from an
    :class:`EngramConfig`. Mem0 has no public hook for this: the provider is
    added to ``VectorStoreFactory.provider_to_class`` and to
    ``VectorStoreConfig``'s table of config classes (which it imports from
    ``mem0.configs.vector_stores.<provider>``: this module is made
    importable under that name). Idempotent; returns the provider name."""
    from mem0.utils.factory import VectorStoreFactory
    from mem0.vector_stores.configs import VectorStoreConfig

    VectorStoreFactory.provider_to_class[provider] = f"{__name__}.{EngramVectorStore.__name__}"
    private = getattr(VectorStoreConfig, "__private_attributes__", {}).get("_provider_configs")
    table = private.default if private is not None else VectorStoreConfig._provider_configs
    table[provider] = EngramConfig.__name__
    sys.modules[f"mem0.configs.vector_stores.{provider}"] = sys.modules[__name__]
    return provider
