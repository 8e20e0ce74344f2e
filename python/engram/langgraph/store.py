"""LangGraph long-term memory (:class:`~langgraph.store.base.BaseStore`) on
an Engram collection.

Every item is one Engram document in the store's collection (default
``langgraph_store``)::

    {"ns": "users\\u0000u1\\u0000",       # the namespace, NUL-joined, NUL-ended
     "namespace": ["users", "u1"], "key": "prefs",
     "value": {...},                       # the item's value, as given
     "created_at": "2026-…+00:00", "updated_at": "2026-…+00:00",
     "ttl_minutes": 5,                     # only with a TTL
     "embedding": [0.1, …]}                # only with an index config

* The document id is the JSON array ``[*namespace, key]`` (ASCII), or, when
  that is over Engram's 256 bytes, ``#`` and its SHA-256; the true
  namespace and key are always in the body.
* ``ns`` joins the labels with NUL (which LangGraph refuses in labels), so a
  namespace prefix is a string prefix (``$prefix``) served by the declared
  index ``langgraph_ns``, and the string order is the tuple order.
* Filters on value fields become Engram filters on ``value.<field>`` (so they
  run in the engine, with pagination there); keys Engram cannot address (a
  ``.`` in a name, …) are checked in Python instead.
* Semantic search: the configured embeddings are computed in Python and kept
  in the declared vector field ``embedding`` of the collection; a query is a
  k-NN search filtered by the namespace prefix and the filter. An item has
  one vector: when its index fields yield several texts, their normalized
  embeddings are averaged (LangGraph's Postgres store keeps one vector per
  text and scores by the best one).
* TTLs are Engram document TTLs: an expired item is invisible at once and
  purged by the engine (no sweeper to run). Reads refresh the TTL (a patch
  with a new ``ttl_seconds``) unless ``refresh_ttl`` is false.
* Puts and deletes of one batch commit in one Engram transaction (per 500
  items), guarded by the versions read just before (a concurrent writer makes
  the batch re-read and retry), so ``created_at`` survives updates.
* ``list_namespaces`` is a skip-scan of the ``ns`` index: one indexed query
  per distinct namespace it passes, none per item.

Limits (Engram's): a value is at most about 1 MiB; a semantic search reaches
the best 1,000 items (``offset + limit``); a filter-only search sorts the
items under its namespace prefix in memory (up to 100,000 matching items; the
whole store, with no prefix, is walked through the ``updated_at`` index).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import random
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    get_text_at_path,
    tokenize_path,
)

try:  # langgraph >= 0.3
    from langgraph.store.base import validate_op_namespace as _validate_op_namespace
except ImportError:  # pragma: no cover - older langgraph
    _validate_op_namespace = None  # type: ignore[assignment]

from ..errors import Conflict, Forbidden, NotFound

logger = logging.getLogger(__name__)

#: Separator of namespace labels in the ``ns`` field (LangGraph refuses NUL in labels).
NS_SEP = "\x00"
#: Name of the declared index on ``ns``.
NS_INDEX = "langgraph_ns"
#: Name of the declared index on ``updated_at`` (filter-only searches sort by it).
UPDATED_INDEX = "langgraph_updated_at"
#: Name (and body path) of the declared vector field.
VECTOR_FIELD = "embedding"
#: Engram's limits this module works within.
DOC_ID_BYTES_MAX = 256
PAGE_LIMIT_MAX = 1000
OFFSET_MAX = 10_000
SEARCH_K_MAX = 1000
#: Items written per transaction.
PUT_CHUNK = 500
#: Attempts of a batch whose read versions went stale meanwhile (with a
#: jittered backoff between them).
RETRIES = 20

_METRICS = {"cosine": "cosine", "l2": "l2", "inner_product": "dot", "dot": "dot"}
_UPDATED_DESC = [{"field": "updated_at", "order": "desc"}]
# Within a namespace prefix: the same order, but with a tiebreaker, so that no
# index matches the sort and Engram's planner takes the ``ns`` index range
# (then sorts the prefix's items) instead of walking ``updated_at`` over the
# whole collection.
_UPDATED_DESC_IN_PREFIX = _UPDATED_DESC + [{"field": "key", "order": "desc"}]


def sync_space(space: Any) -> Any:
    """The synchronous :class:`engram.Space` behind ``space`` (which may be an
    :class:`engram.aio.AsyncSpace`)."""
    inner = getattr(space, "_sync", None)
    return inner if inner is not None else space


def doc_id(*parts: str) -> str:
    """A document id for a tuple of strings: the JSON array (ASCII only, so no
    control characters), or ``#`` + SHA-256 of it when over 256 bytes."""
    texts = [str(p) for p in parts]
    joined = '","'.join(texts)
    if joined.isascii() and joined.isprintable() and "\\" not in joined and joined.count('"') == 2 * (len(texts) - 1):
        # Plain printable ASCII: the JSON array without the encoder (the
        # quotes counted are the separators' own).
        raw = '["' + joined + '"]'
    else:
        raw = json.dumps(texts, ensure_ascii=True, separators=(",", ":"))
    if len(raw) <= DOC_ID_BYTES_MAX:
        return raw
    return "#" + hashlib.sha256(raw.encode()).hexdigest()


def ns_path(namespace: Sequence[str]) -> str:
    """The ``ns`` field of a namespace: labels joined and ended by NUL."""
    return "".join(label + NS_SEP for label in namespace)


def query(collection: Any, flt: Any = None, **options: Any) -> dict[str, Any]:
    """One query page; a collection not created yet (nothing written, and
    no spec declared) is empty."""
    try:
        return collection.query(flt, **options)
    except NotFound:
        return {"documents": [], "next_cursor": None}


def find(collection: Any, flt: Any = None, *, sort: Any = None) -> Iterator[dict[str, Any]]:
    """Every matching document, a page (of up to 1,000) at a time."""
    cursor = None
    while True:
        page = query(collection, flt, sort=sort, limit=PAGE_LIMIT_MAX, cursor=cursor)
        yield from page["documents"]
        cursor = page.get("next_cursor")
        if not cursor:
            return


def backoff(attempt: int) -> None:
    """Sleeps a random time up to 2 ms · 2^attempt (at most 100 ms) before
    a retry, so writers racing on one document spread out."""
    time.sleep(random.uniform(0, min(0.1, 0.002 * 2**attempt)))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _ttl_seconds(minutes: float) -> int:
    return max(1, math.ceil(float(minutes) * 60))


def _addressable(name: Any, *, nested: bool) -> bool:
    """Whether ``name`` can be one segment of an Engram JSON path."""
    return (
        isinstance(name, str)
        and bool(name)
        and "." not in name
        and not name.startswith("$")
        and not (nested and name.isdigit())
        and len(name.encode()) <= 200
    )


def translate_filter(flt: Mapping[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Splits a LangGraph filter on item values into Engram conditions (on
    ``value.<field>``) and a residual checked in Python.

    Semantics follow LangGraph's stores: a scalar or list is equality, a dict
    of ``$`` operators applies them (``$eq $ne $gt $gte $lt $lte``, and
    Engram's ``$in $nin $contains $exists $prefix`` too), a plain dict matches
    the nested fields it names, and ``None`` matches a null or missing field.
    """
    conds: list[dict[str, Any]] = []
    residual: dict[str, Any] = {}
    for key, expected in (flt or {}).items():
        parts = _conditions(["value", key], expected) if _addressable(key, nested=False) else None
        if parts is None:
            residual[key] = expected
        else:
            conds.extend(parts)
    return conds, residual


def _conditions(segments: list[str], expected: Any) -> list[dict[str, Any]] | None:
    if len(segments) > 16:
        return None
    path = ".".join(segments)
    if isinstance(expected, Mapping):
        if not expected:
            return None
        if all(isinstance(k, str) and k.startswith("$") for k in expected):
            out: list[dict[str, Any]] = []
            for op, arg in expected.items():
                if op == "$eq" and arg is None:
                    out.append({"$or": [{path: None}, {path: {"$exists": False}}]})
                elif op == "$ne" and arg is None:
                    out.append({path: {"$exists": True, "$ne": None}})
                else:
                    out.append({path: {op: arg}})
            return out
        if any(isinstance(k, str) and k.startswith("$") for k in expected):
            return None
        out = []
        for sub, value in expected.items():
            if not _addressable(sub, nested=True):
                return None
            parts = _conditions([*segments, sub], value)
            if parts is None:
                return None
            out.extend(parts)
        return out
    if expected is None:
        return [{"$or": [{path: None}, {path: {"$exists": False}}]}]
    if isinstance(expected, tuple):
        expected = list(expected)
    return [{path: expected}]


def matches(value: Any, flt: Mapping[str, Any]) -> bool:
    """LangGraph's filter semantics in Python (for what Engram cannot address)."""
    if not isinstance(value, Mapping):
        return False
    return all(_match(value.get(k), expected) for k, expected in flt.items())


def _match(actual: Any, expected: Any) -> bool:
    if isinstance(expected, Mapping):
        if expected and all(isinstance(k, str) and k.startswith("$") for k in expected):
            return all(_operator(actual, op, arg) for op, arg in expected.items())
        if not isinstance(actual, Mapping):
            return False
        return all(_match(actual.get(k), v) for k, v in expected.items())
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(actual, (list, tuple))
            and len(actual) == len(expected)
            and all(_match(a, e) for a, e in zip(actual, expected))
        )
    return actual == expected


def _operator(actual: Any, op: str, arg: Any) -> bool:
    try:
        if op == "$eq":
            return actual == arg
        if op == "$ne":
            return actual != arg
        if op in ("$gt", "$gte", "$lt", "$lte"):
            if actual is None:
                return False
            a, b = float(actual), float(arg)
            return {"$gt": a > b, "$gte": a >= b, "$lt": a < b, "$lte": a <= b}[op]
        if op == "$in":
            return actual in arg
        if op == "$nin":
            return actual not in arg
        if op == "$exists":
            return (actual is not None) == bool(arg)
        if op == "$contains":
            return isinstance(actual, (list, str)) and arg in actual
        if op == "$prefix":
            return isinstance(actual, str) and actual.startswith(arg)
    except (TypeError, ValueError):
        return False
    raise ValueError(f"unsupported filter operator {op!r}")


def _namespace_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    pairs = zip(namespace, path) if condition.match_type == "prefix" else zip(reversed(namespace), reversed(path))
    if condition.match_type not in ("prefix", "suffix"):
        raise ValueError(f"unsupported match type {condition.match_type!r}")
    return all(p == "*" or n == p for n, p in pairs)


def _model_name(embed: Any) -> str:
    if isinstance(embed, str):
        name = embed
    else:
        name = getattr(embed, "model", None) or getattr(embed, "model_name", None)
        if not isinstance(name, str):
            name = getattr(embed, "__qualname__", None) or type(embed).__qualname__
    return str(name)[:128] or "embeddings"


class EngramStore(BaseStore):
    """A LangGraph store (long-term memory) on an Engram space, embedded
    (``engram.open``) or remote (``engram.connect``).

    Args:
        space: The :class:`engram.Space` (or ``engram.aio`` async space)
            holding the store's collection.
        index: Semantic search: ``{"dims": 384, "embed": <Embeddings, a
            function of texts, or a provider string>, "fields": ["text"]}``
            (``fields`` defaults to ``["$"]``, the whole value; optional
            ``distance_type``: ``cosine`` (default), ``l2`` or
            ``inner_product``). Without it, ``query`` is ignored.
        collection: The Engram collection holding the items.
        ttl: LangGraph's ``TTLConfig``: ``default_ttl`` (minutes) for puts
            that give none, ``refresh_on_read`` (default true). Expired items
            vanish at once (Engram document TTLs), so ``omit_expired`` and
            ``sweep_interval_minutes`` need nothing.

    The collection's spec is declared (or extended) at construction: the
    index on ``ns`` and on ``updated_at`` and, with ``index``, the vector
    field ``embedding``. Another store with other ``dims`` on the same
    collection is refused.
    """

    supports_ttl: bool = True

    def __init__(
        self,
        space: Any,
        *,
        index: IndexConfig | None = None,
        collection: str = "langgraph_store",
        ttl: TTLConfig | None = None,
    ) -> None:
        self.space = sync_space(space)
        self.collection_name = collection
        self.collection = self.space.collection(collection)
        self.ttl_config = ttl
        self.index_config: dict[str, Any] | None = None
        self.embeddings: Any = None
        self._fields: list[tuple[str, Any]] = []
        if index:
            if "dims" not in index or "embed" not in index:
                raise ValueError("an index config needs 'dims' and 'embed'")
            self.index_config = dict(index)
            self.embeddings = ensure_embeddings(index["embed"])
            metric = str(index.get("distance_type", "cosine"))
            if metric not in _METRICS:
                raise ValueError(f"unsupported distance_type {metric!r} (cosine, l2 or inner_product)")
            self._metric = _METRICS[metric]
            self._fields = [(p, tokenize_path(p) if p != "$" else p) for p in (index.get("fields") or ["$"])]
        self.setup()

    # -- setup ---------------------------------------------------------------

    def setup(self) -> None:
        """Declares the collection's indexes (and vector field), keeping what
        the spec already holds. Idempotent; run by the constructor."""
        try:
            spec = dict(self.collection.info().get("spec") or {})
        except NotFound:
            spec = {}
        changed = adds_vectors = False
        indexes = [{"name": i["name"], "paths": list(i["paths"])} for i in spec.get("indexes") or []]
        names = {i["name"] for i in indexes}
        for name, paths in ((NS_INDEX, ["ns"]), (UPDATED_INDEX, ["updated_at"])):
            if name not in names:
                indexes.append({"name": name, "paths": paths})
                changed = True
        spec["indexes"] = indexes
        if self.index_config is not None:
            search = dict(spec.get("search") or {})
            vectors = [dict(v) for v in search.get("vectors") or []]
            mine = next((v for v in vectors if v.get("name") == VECTOR_FIELD), None)
            dims = int(self.index_config["dims"])
            if mine is None:
                vectors.append(
                    {
                        "name": VECTOR_FIELD,
                        "path": VECTOR_FIELD,
                        "dims": dims,
                        "metric": self._metric,
                        "model": {
                            "name": _model_name(self.index_config["embed"]),
                            "version": str(self.index_config.get("model_version", "1")),
                        },
                    }
                )
                search["vectors"] = vectors
                spec["search"] = search
                changed = adds_vectors = True
            elif int(mine.get("dims", 0)) != dims or mine.get("metric") != self._metric:
                raise ValueError(
                    f"collection {self.collection_name!r} already holds {mine.get('dims')}-dimension "
                    f"{mine.get('metric')} vectors; use another collection for {dims}-dimension {self._metric}"
                )
        if changed:
            try:
                self.collection.define(spec)
            except Forbidden:
                if adds_vectors:
                    raise
                # A key without the admin role cannot declare specs: the
                # indexes only change speed, never results.
                logger.warning(
                    "EngramStore: could not declare the indexes of %r (needs an admin key)", self.collection_name
                )

    # -- batches -------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Runs get, search, list-namespaces and put operations; reads see
        the state before the batch's puts (as LangGraph's stores do)."""
        ops = list(ops)
        self._validate(ops)
        queries = self._queries(ops)
        query_vectors = {q: self.embeddings.embed_query(q) for q in queries} if queries else {}
        texts = self._texts(ops)
        vectors = self.embeddings.embed_documents([t for _, t in texts]) if texts else []
        return self._execute(ops, query_vectors, self._item_vectors(texts, vectors))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """:meth:`batch`, awaitable: embeddings through the configured
        embeddings' async methods, Engram calls on a worker thread."""
        ops = list(ops)
        self._validate(ops)
        queries = sorted(self._queries(ops))
        query_vectors: dict[str, list[float]] = {}
        if queries:
            found = await asyncio.gather(*(self.embeddings.aembed_query(q) for q in queries))
            query_vectors = dict(zip(queries, found))
        texts = self._texts(ops)
        vectors = await self.embeddings.aembed_documents([t for _, t in texts]) if texts else []
        return await asyncio.to_thread(self._execute, ops, query_vectors, self._item_vectors(texts, vectors))

    @staticmethod
    def _validate(ops: list[Op]) -> None:
        for op in ops:
            if not isinstance(op, (GetOp, PutOp, SearchOp, ListNamespacesOp)):
                raise ValueError(f"unknown operation type: {type(op).__name__}")
            if _validate_op_namespace is not None:
                _validate_op_namespace(op)

    def _queries(self, ops: list[Op]) -> set[str]:
        if self.embeddings is None:
            return set()
        return {op.query for op in ops if isinstance(op, SearchOp) and op.query}

    def _puts(self, ops: list[Op]) -> dict[tuple[tuple[str, ...], str], PutOp]:
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        for op in ops:
            if isinstance(op, PutOp):
                puts.pop((tuple(op.namespace), op.key), None)
                puts[(tuple(op.namespace), op.key)] = op
        return puts

    def _texts(self, ops: list[Op]) -> list[tuple[tuple[tuple[str, ...], str], str]]:
        """(item, text) for every text the batch's puts index."""
        if self.embeddings is None:
            return []
        out = []
        for (namespace, key), op in self._puts(ops).items():
            if op.value is None or op.index is False:
                continue
            fields = self._fields if op.index is None else [(p, tokenize_path(p) if p != "$" else p) for p in op.index]
            for _, tokens in fields:
                for text in get_text_at_path(op.value, tokens):
                    out.append(((namespace, key), text))
        return out

    def _item_vectors(
        self, texts: list[tuple[tuple[tuple[str, ...], str], str]], vectors: list[list[float]]
    ) -> dict[tuple[tuple[str, ...], str], list[float]]:
        if len(vectors) != len(texts):
            raise ValueError(f"the embeddings returned {len(vectors)} vectors for {len(texts)} texts")
        dims = int(self.index_config["dims"]) if self.index_config else 0
        grouped: dict[tuple[tuple[str, ...], str], list[list[float]]] = {}
        for (item, _), vector in zip(texts, vectors):
            vector = [float(x) for x in vector]
            if len(vector) != dims:
                raise ValueError(f"an embedding has {len(vector)} dimensions, the index config says {dims}")
            grouped.setdefault(item, []).append(vector)
        out = {}
        for item, vs in grouped.items():
            if len(vs) == 1:
                combined = vs[0]
            else:
                units = []
                for v in vs:
                    norm = math.sqrt(sum(x * x for x in v))
                    if norm > 0:
                        units.append([x / norm for x in v])
                combined = [sum(col) / len(units) for col in zip(*units)] if units else []
            if combined and any(x != 0.0 for x in combined):
                out[item] = combined
        return out

    def _execute(
        self,
        ops: list[Op],
        query_vectors: dict[str, list[float]],
        item_vectors: dict[tuple[tuple[str, ...], str], list[float]],
    ) -> list[Result]:
        results: list[Result] = [None] * len(ops)
        refresh: dict[str, tuple[float, int]] = {}
        gets = [doc_id(*op.namespace, op.key) for op in ops if isinstance(op, GetOp)]
        fetched = self.collection.get_many(gets) if len(gets) > 1 else None
        for i, op in enumerate(ops):
            if isinstance(op, GetOp):
                doc = self._read(op.namespace, op.key, fetched)
                if doc is not None:
                    results[i] = self._item(doc, Item)
                    self._note_refresh(refresh, op.refresh_ttl, doc)
            elif isinstance(op, SearchOp):
                found = self._search(op, query_vectors)
                results[i] = [item for item, _ in found]
                for _, doc in found:
                    self._note_refresh(refresh, op.refresh_ttl, doc)
            elif isinstance(op, ListNamespacesOp):
                results[i] = self._list_namespaces(op)
        puts = self._puts(ops)
        if puts:
            self._write(puts, item_vectors)
            for namespace, key in puts:
                refresh.pop(doc_id(*namespace, key), None)
        if refresh:
            self._refresh(refresh)
        return results

    # -- reads ---------------------------------------------------------------

    def _read(
        self, namespace: Sequence[str], key: str, fetched: Mapping[str, dict[str, Any]] | None = None
    ) -> dict[str, Any] | None:
        id_ = doc_id(*namespace, key)
        doc = fetched.get(id_) if fetched is not None else self.collection.get(id_)
        if doc is None:
            return None
        body = doc["body"]
        if tuple(body.get("namespace", ())) != tuple(namespace) or body.get("key") != key:
            return None  # a hashed id shared by another item (never seen with SHA-256)
        return doc

    @staticmethod
    def _item(doc: Mapping[str, Any], cls: type = SearchItem, score: float | None = None) -> Any:
        body = doc["body"]
        fields = dict(
            namespace=tuple(body["namespace"]),
            key=body["key"],
            value=body.get("value", {}),
            created_at=datetime.fromisoformat(body["created_at"]),
            updated_at=datetime.fromisoformat(body["updated_at"]),
        )
        if cls is SearchItem:
            return SearchItem(**fields, score=score)
        return Item(**fields)

    @staticmethod
    def _note_refresh(refresh: dict[str, tuple[float, int]], wanted: bool, doc: Mapping[str, Any]) -> None:
        minutes = doc["body"].get("ttl_minutes")
        if wanted and minutes is not None:
            refresh[doc["id"]] = (minutes, doc["version"])

    def _refresh(self, refresh: dict[str, tuple[float, int]]) -> None:
        """Restarts the TTL of items just read, in one transaction per 1,000,
        each guarded by the version read: an item replaced (with its own TTL)
        or deleted meanwhile is left as it is."""
        ops = [
            {
                "op": "patch",
                "collection": self.collection_name,
                "id": id_,
                "patch": {},
                "ttl_seconds": _ttl_seconds(minutes),
                "expect": {"version": version},
            }
            for id_, (minutes, version) in refresh.items()
        ]
        for start in range(0, len(ops), 1000):
            chunk = ops[start : start + 1000]
            try:
                self.space.commit(chunk)
            except (Conflict, NotFound):
                for op in chunk:
                    try:
                        self.space.commit([op])
                    except (Conflict, NotFound):
                        pass

    def _prefix_filter(self, prefix: Sequence[str]) -> list[dict[str, Any]]:
        return [{"ns": {"$prefix": ns_path(prefix)}}] if prefix else []

    def _find(
        self,
        conds: list[dict[str, Any]],
        residual: Mapping[str, Any],
        *,
        skip: int,
        take: int,
        sort: list[dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Documents matching ``conds`` (in Engram) and ``residual`` (in
        Python), in ``sort`` order, after ``skip``, at most ``take``."""
        if take <= 0:
            return []
        flt = {"$and": conds} if len(conds) > 1 else (conds[0] if conds else None)
        out: list[dict[str, Any]] = []
        offset = skip if not residual and skip <= OFFSET_MAX else None
        to_skip = 0 if offset is not None else skip
        cursor = None
        while len(out) < take:
            want = take - len(out) + to_skip
            limit = PAGE_LIMIT_MAX if residual else max(1, min(PAGE_LIMIT_MAX, want))
            page = query(
                self.collection, flt, sort=sort, limit=limit, cursor=cursor, offset=offset if cursor is None else None
            )
            for doc in page["documents"]:
                if residual and not matches(doc["body"].get("value"), residual):
                    continue
                if to_skip:
                    to_skip -= 1
                    continue
                out.append(doc)
                if len(out) >= take:
                    break
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return out

    @staticmethod
    def _order(op: SearchOp) -> list[dict[str, Any]]:
        return _UPDATED_DESC_IN_PREFIX if op.namespace_prefix else _UPDATED_DESC

    def _search(self, op: SearchOp, query_vectors: Mapping[str, list[float]]) -> list[tuple[SearchItem, dict]]:
        conds, residual = translate_filter(op.filter)
        conds = self._prefix_filter(op.namespace_prefix) + conds
        offset, limit = max(0, op.offset), max(0, op.limit)
        if not (op.query and self.embeddings is not None):
            docs = self._find(conds, residual, skip=offset, take=limit, sort=self._order(op))
            return [(self._item(d), d) for d in docs]
        vector = query_vectors[op.query]
        wanted = offset + limit
        k = SEARCH_K_MAX if residual else max(1, min(SEARCH_K_MAX, wanted))
        flt = {"$and": conds} if len(conds) > 1 else (conds[0] if conds else None)
        try:
            hits = self.collection.search(vector=vector, k=k, filter=flt, vector_field=VECTOR_FIELD)["hits"]
        except NotFound:
            hits = []
        scored = []
        for hit in hits:
            doc = hit.get("document")
            if doc is None:
                continue
            if residual and not matches(doc["body"].get("value"), residual):
                continue
            scored.append((self._item(doc, score=float(hit["score"])), doc))
        found = scored[offset:wanted]
        if len(found) < limit and len(hits) < k:
            # Items without a vector (index=False, no text at the fields) come after the scored ones.
            start = max(0, offset - len(scored))
            rest = self._find(
                conds + [{VECTOR_FIELD: {"$exists": False}}],
                residual,
                skip=start,
                take=limit - len(found),
                sort=self._order(op),
            )
            found += [(self._item(d), d) for d in rest]
        return found

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        """Distinct namespaces in order, by skip-scan over the ``ns`` index:
        one indexed query per distinct namespace reached, none for the items
        under it."""
        conditions = [c for c in op.match_conditions or () if c.path]
        literal: tuple[str, ...] = ()
        for c in conditions:
            if c.match_type == "prefix":
                head = []
                for label in c.path:
                    if label == "*":
                        break
                    head.append(label)
                if len(head) > len(literal):
                    literal = tuple(head)
        # The prefix as a key range [start, end): the planner then seeks to
        # the bound of each step instead of rescanning the prefix.
        start = ns_path(literal) if literal else None
        end = start[:-1] + "\x01" if start else None
        depth = op.max_depth
        wanted = max(0, op.offset) + max(0, op.limit)
        out: list[tuple[str, ...]] = []
        bound: dict[str, Any] = {"$gte": start} if start else {}
        while len(out) < wanted:
            cond = dict(bound, **({"$lt": end} if end else {}))
            doc = self._first({"ns": cond} if cond else None, [{"field": "ns"}])
            if doc is None:
                break
            body = doc["body"]
            namespace, ns = tuple(body["namespace"]), body["ns"]
            if all(_namespace_matches(c, namespace) for c in conditions):
                shown = namespace[:depth] if depth is not None else namespace
                if not out or out[-1] != shown:
                    out.append(shown)
                if depth is not None and len(namespace) >= depth:
                    # Everything under the shown prefix shows as it: skip past it.
                    bound = {"$gte": ns_path(shown)[:-1] + "\x01"}
                    continue
            bound = {"$gt": ns}
        return out[max(0, op.offset) : wanted]

    def _first(self, flt: dict[str, Any] | None, sort: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The first matching document (following cursors past pages that
        stopped at Engram's scan bound without one)."""
        cursor = None
        while True:
            page = query(self.collection, flt, sort=sort, limit=1, cursor=cursor)
            if page["documents"]:
                return page["documents"][0]
            cursor = page.get("next_cursor")
            if not cursor:
                return None

    # -- writes --------------------------------------------------------------

    def _write(
        self,
        puts: Mapping[tuple[tuple[str, ...], str], PutOp],
        vectors: Mapping[tuple[tuple[str, ...], str], list[float]],
    ) -> None:
        items = list(puts.items())
        for start in range(0, len(items), PUT_CHUNK):
            chunk = items[start : start + PUT_CHUNK]
            for attempt in range(RETRIES):
                try:
                    self._write_chunk(chunk, vectors)
                    break
                except (Conflict, NotFound):
                    if attempt == RETRIES - 1:
                        raise
                    backoff(attempt)

    def _write_chunk(
        self,
        chunk: list[tuple[tuple[tuple[str, ...], str], PutOp]],
        vectors: Mapping[tuple[tuple[str, ...], str], list[float]],
    ) -> None:
        now = _now()
        tx = self.space.transaction()
        # The items' current versions, in one read (they guard the commit).
        currents = self.collection.get_many(doc_id(*namespace, key) for (namespace, key), _ in chunk)
        for (namespace, key), op in chunk:
            id_ = doc_id(*namespace, key)
            current = currents.get(id_)
            if op.value is None:
                if current is not None:
                    tx.delete(self.collection_name, id_, expect={"version": current["version"]})
                continue
            body: dict[str, Any] = {
                "ns": ns_path(namespace),
                "namespace": list(namespace),
                "key": key,
                "value": dict(op.value),
                "created_at": current["body"].get("created_at", now) if current else now,
                "updated_at": now,
            }
            ttl_seconds = None
            if op.ttl is not None:
                body["ttl_minutes"] = op.ttl
                ttl_seconds = _ttl_seconds(op.ttl)
            vector = vectors.get((namespace, key))
            if vector is not None:
                body[VECTOR_FIELD] = vector
            expect: Any = {"version": current["version"]} if current else "absent"
            tx.put(self.collection_name, id_, body, expect=expect, ttl_seconds=ttl_seconds)
        if tx.ops:
            tx.commit()


__all__ = ["EngramStore", "doc_id", "ns_path", "translate_filter", "matches"]
