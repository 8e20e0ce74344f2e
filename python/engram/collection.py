"""A collection of JSON documents: writes, reads, queries with cursors,
counts and search."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

from ._call import SpaceChild, drop_none, seg
from .errors import NotFound


Json = Any

#: Ids one bulk get request reads (the server's limit).
GET_MANY_IDS_MAX = 1_000
Expect = str | Mapping[str, int] | None


class Collection(SpaceChild):
    """Documents under ids in one space. Created on first write, or
    declared with :meth:`define`."""

    _KIND = "collections"

    # -- the spec --------------------------------------------------------

    def define(self, spec: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Declares (or changes) the collection's spec: ``schema``,
        ``default_ttl_seconds``, ``indexes``, ``search``. Unknown fields are
        refused. Needs an admin key (of the space or of all spaces)."""
        return self._call.json("PUT", self._path, {**(spec or {}), **fields})

    def info(self) -> dict[str, Any]:
        """``{name, spec, generation}``; raises NotFound when missing."""
        return self._call.json("GET", self._path)

    def drop(self) -> None:
        """Deletes the collection with its documents (and their edges)."""
        self._call.raw("DELETE", self._path)

    # -- writes ------------------------------------------------------------

    def put(
        self,
        id: str,
        body: Mapping[str, Any],
        *,
        expect: Expect = None,
        ttl_seconds: int | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Creates or replaces document ``id``. ``expect``: ``"absent"``,
        ``"exists"`` or ``{"version": n}``; a mismatch raises
        :class:`~engram.errors.Conflict` and writes nothing. Returns
        ``{collection, id, version, position}``."""
        op = drop_none({"op": "put", "collection": self.name, "id": id, "body": dict(body), "ttl_seconds": ttl_seconds})
        if expect is not None:
            return self._one(dict(op, expect=expect), idempotency_key)
        return self._call.json(
            "PUT",
            f"{self._path}/docs/{seg(id)}",
            dict(body),
            params={"ttl_seconds": ttl_seconds},
            headers=_idem(idempotency_key),
        )

    def insert(
        self, body: Mapping[str, Any], *, ttl_seconds: int | None = None, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Creates a document under a new id (returned in the result)."""
        return self._call.json(
            "POST", f"{self._path}/docs", dict(body), params={"ttl_seconds": ttl_seconds}, headers=_idem(idempotency_key)
        )

    def patch(
        self,
        id: str,
        patch: Mapping[str, Any],
        *,
        expect: Expect = None,
        ttl_seconds: int | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Applies an RFC 7386 merge patch (``None`` removes a field) to an
        existing document."""
        if expect is not None:
            op = drop_none({"op": "patch", "collection": self.name, "id": id, "patch": dict(patch), "expect": expect})
            return self._one(op if ttl_seconds is None else dict(op, ttl_seconds=ttl_seconds), idempotency_key)
        return self._call.json(
            "PATCH",
            f"{self._path}/docs/{seg(id)}",
            dict(patch),
            params={"ttl_seconds": ttl_seconds},
            headers=_idem(idempotency_key),
        )

    def delete(self, id: str, *, expect: Expect = None, idempotency_key: str | None = None) -> dict[str, Any]:
        """Deletes an existing document (raises NotFound when missing)."""
        if expect is not None:
            return self._one({"op": "delete", "collection": self.name, "id": id, "expect": expect}, idempotency_key)
        return self._call.json("DELETE", f"{self._path}/docs/{seg(id)}", headers=_idem(idempotency_key))

    def bulk_put(
        self, documents: Mapping[str, Mapping[str, Any]] | Iterable[tuple[str, Mapping[str, Any]]], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Puts up to 10,000 documents in one transaction (``{id: body}`` or
        ``(id, body)`` pairs)."""
        pairs = documents.items() if isinstance(documents, Mapping) else documents
        body = {"documents": [{"id": i, "body": dict(b)} for i, b in pairs]}
        return self._call.json("POST", f"{self._path}/bulk/put", body, headers=_idem(idempotency_key))

    def bulk_delete(self, ids: Iterable[str], *, idempotency_key: str | None = None) -> dict[str, Any]:
        """Deletes up to 10,000 existing documents in one transaction."""
        return self._call.json("POST", f"{self._path}/bulk/delete", {"ids": list(ids)}, headers=_idem(idempotency_key))

    def _one(self, op: dict[str, Any], idempotency_key: str | None) -> dict[str, Any]:
        done = self.space.commit([op], idempotency_key=idempotency_key)
        result = dict(done["results"][0])
        if done.get("replayed"):
            result["replayed"] = True
        return result

    # -- reads -------------------------------------------------------------

    def get(self, id: str, *, eventual: bool = False) -> dict[str, Any] | None:
        """Document ``id`` as ``{id, version, body, expires_at_ms?}``, or None
        when it (or its collection) does not exist. ``eventual`` allows a
        read replica's answer (remote, PostgreSQL with a replica)."""
        try:
            return self._call.json("GET", f"{self._path}/docs/{seg(id)}", headers=_consistency(eventual))
        except NotFound:
            return None

    def get_many(self, ids: Iterable[str], *, eventual: bool = False) -> dict[str, dict[str, Any]]:
        """The live documents among ``ids``, by id (missing ones are left
        out), read 1,000 per request (``GET_MANY_IDS_MAX``)."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), GET_MANY_IDS_MAX):
            chunk = wanted[start : start + GET_MANY_IDS_MAX]
            got = self._call.json("POST", f"{self._path}/bulk/get", {"ids": chunk}, headers=_consistency(eventual))
            found.update((d["id"], d) for d in got["documents"])
        return found

    def query(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        sort: list[Any] | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        offset: int | None = None,
        eventual: bool = False,
    ) -> dict[str, Any]:
        """One page: ``{documents, next_cursor}``. Pass ``next_cursor`` back
        as ``cursor`` for the next page (stable under concurrent inserts)."""
        body = drop_none({"filter": filter, "sort": sort, "limit": limit, "cursor": cursor, "offset": offset})
        return self._call.json("POST", f"{self._path}/query", body, headers=_consistency(eventual))

    def find(
        self, filter: Mapping[str, Any] | None = None, *, sort: list[Any] | None = None, page_size: int = 500
    ) -> Iterator[dict[str, Any]]:
        """Every matching document, fetched a page at a time by cursor."""
        cursor = None
        while True:
            page = self.query(filter, sort=sort, limit=page_size, cursor=cursor)
            yield from page["documents"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def count(self, filter: Mapping[str, Any] | None = None) -> int:
        """How many documents match."""
        return int(self._call.json("POST", f"{self._path}/count", drop_none({"filter": filter}))["count"])

    def exists(self, filter: Mapping[str, Any] | None = None) -> bool:
        """Whether any document matches."""
        return bool(self._call.json("POST", f"{self._path}/exists", drop_none({"filter": filter}))["exists"])

    def search(
        self,
        text: str | None = None,
        vector: list[float] | None = None,
        *,
        query: str | None = None,
        vector_text: str | None = None,
        k: int | None = None,
        filter: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Full-text (BM25), k-NN, or hybrid search: ``{hits, plan,
        position}``. ``query`` is one string for both sides (words, and
        meaning when the vector field has an embedder); ``vector_text`` is
        embedded by the field's embedder instead of giving ``vector``.
        Other options (``vector_field``, ``ef``, ``plan``, ``fusion``,
        ``text_weight``, ``vector_weight``, ``boosts``,
        ``include_documents``, ``include_vectors``, ``snippets``) pass
        through as the HTTP API names them."""
        body = drop_none(
            {"text": text, "vector": vector, "query": query, "vector_text": vector_text, "k": k, "filter": filter, **options}
        )
        return self._call.json("POST", f"{self._path}/search", body)

    def embeddings(self) -> dict[str, Any]:
        """Each embedded vector field's model, a model switch in progress,
        and how many documents still need embedding."""
        return self._call.json("GET", f"{self._path}/embeddings")

    def backfill_embeddings(self) -> dict[str, Any]:
        """Embeds now what a model switch or a new field left to do (the
        engine also does it in the background); returns what is left."""
        return self._call.json("POST", f"{self._path}/embeddings/backfill", None)

    def search_index(self) -> dict[str, Any]:
        """The state of the collection's search index."""
        return self._call.json("GET", f"{self._path}/search-index")


def _idem(key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": key} if key else {}


def _consistency(eventual: bool) -> dict[str, str]:
    return {"Engram-Consistency": "eventual"} if eventual else {}
