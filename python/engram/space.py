"""A space: one tenant's isolated data (collections, graph, facts, streams,
queues, objects) with its own change log."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from ._call import Caller, drop_none, seg
from .collection import Collection
from .errors import NotFound
from .kinds import Queue, Stream
from .transaction import Transaction


def node(collection: str, id: str) -> dict[str, str]:
    """A document as a graph node or fact subject: ``{collection, id}``."""
    return {"collection": collection, "id": id}


class Space:
    """A handle on a space (no call is made until it is used)."""

    def __init__(self, call: Caller, name: str) -> None:
        self.name = name
        self._call = call
        self._path = f"/v1/spaces/{seg(name)}"

    def __repr__(self) -> str:
        return f"Space({self.name!r})"

    def info(self) -> dict[str, Any]:
        """``{name, created_at_ms}``; raises NotFound when missing."""
        return self._call.json("GET", self._path)

    def delete(self) -> None:
        """Deletes the space and everything in it; its keys stop working."""
        self._call.raw("DELETE", self._path)

    # -- documents ---------------------------------------------------------

    def collection(self, name: str) -> Collection:
        return Collection(self, name)

    def collections(self) -> list[dict[str, Any]]:
        return self._call.json("GET", f"{self._path}/collections")["collections"]

    def transaction(self, *, idempotency_key: str | None = None) -> Transaction:
        """Operations of every kind, committed together (see :class:`Transaction`)."""
        return Transaction(self, idempotency_key)

    def commit(self, ops: list[Mapping[str, Any]], *, idempotency_key: str | None = None) -> dict[str, Any]:
        """Commits operations as the HTTP API spells them, atomically."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._call.json("POST", f"{self._path}/transactions", {"ops": [dict(o) for o in ops]}, headers=headers)

    # -- change log and feed ---------------------------------------------

    def changes(self, *, after: int = 0, limit: int | None = None) -> dict[str, Any]:
        """Change-log entries after a position: ``{entries, next_after}``."""
        return self._call.json("GET", f"{self._path}/changes", params={"after": after, "limit": limit})

    def iter_changes(self, *, after: int = 0, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every entry after ``after`` up to the head, page by page."""
        while True:
            page = self.changes(after=after, limit=page_size)
            yield from page["entries"]
            if not page["entries"] or page["next_after"] == after:
                return
            after = page["next_after"]

    def verify_changes(self) -> dict[str, Any]:
        """Checks the log's hash chain end to end."""
        return self._call.json("GET", f"{self._path}/changes/verify")

    # -- audit -------------------------------------------------------------

    def checkpoint(self, *, size: int | None = None) -> dict[str, Any]:
        """A checkpoint of the log's first ``size`` entries (default: all),
        signed with the server's Ed25519 audit key: ``{space, space_id,
        tree_size, root_hash, head_hash, timestamp_ms, key_id, signature}``.
        Keep (publish) them: a later log must prove itself consistent."""
        return self._call.json("GET", f"{self._path}/audit/checkpoint", params={"size": size})

    def receipt(self, position: int, *, size: int | None = None) -> dict[str, Any]:
        """The entry at ``position`` with its inclusion proof in a signed
        checkpoint: ``{entry, checkpoint, inclusion_proof}``. Anyone with the
        public key checks it offline (``engram audit verify --receipt``)."""
        return self._call.json("GET", f"{self._path}/changes/{int(position)}/receipt", params={"size": size})

    def audit_consistency(self, old: int, *, new: int | None = None) -> dict[str, Any]:
        """Proof that the log's first ``old`` entries are a prefix of its
        first ``new`` (default: all): ``{old_size, new_size, proof, checkpoint}``."""
        return self._call.json("GET", f"{self._path}/audit/consistency", params={"old": old, "new": new})

    def audit_verify(self) -> dict[str, Any]:
        """The full audit (admin keys): the chain and every stored document
        against the last change the log records for it. Raises
        :class:`engram.EngramError` naming the position of the first fault."""
        return self._call.json("POST", f"{self._path}/audit/verify")

    def feed(self, *, after: int = 0, wait_seconds: float | None = None, **selection: Any) -> dict[str, Any]:
        """Selected log entries after a position (``source``,
        ``collections``, ``ops``, ``topics``, ``include_documents``,
        ``limit``); ``wait_seconds`` long-polls. ``{entries, next_after, head}``."""
        params = {"after": after, "wait_seconds": wait_seconds, **selection}
        return self._call.json("GET", f"{self._path}/feed", params=params, timeout=wait_seconds)

    def publish(self, topic: str, payload: Any) -> dict[str, Any]:
        """Writes one outbox message on its own."""
        return self._call.json("POST", f"{self._path}/outbox", {"topic": topic, "payload": payload})

    # -- graph ---------------------------------------------------------------

    def link(
        self,
        from_: Mapping[str, str],
        to: Mapping[str, str],
        type: str,
        *,
        weight: float | None = None,
        props: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Creates or replaces the edge (from, type, to) between live documents."""
        edge = drop_none({"from": dict(from_), "to": dict(to), "type": type, "weight": weight, "props": props})
        return self._call.json("POST", f"{self._path}/graph/edges", edge)

    def edge(self, edge_id: str) -> dict[str, Any] | None:
        try:
            return self._call.json("GET", f"{self._path}/graph/edges/{seg(edge_id)}")
        except NotFound:
            return None

    def delete_edge(self, edge_id: str) -> None:
        self._call.raw("DELETE", f"{self._path}/graph/edges/{seg(edge_id)}")

    def unlink(self, from_: Mapping[str, str], to: Mapping[str, str], type: str) -> dict[str, Any]:
        """Deletes the edge (from, type, to)."""
        return self.transaction().unlink(from_, to, type).commit()

    def neighbors(self, from_: Mapping[str, str], **options: Any) -> dict[str, Any]:
        """Breadth-first neighbours (``depth``, ``direction``, ``types``,
        ``collections``, ``filter``, ``limit``, ``include_documents``)."""
        return self._call.json("POST", f"{self._path}/graph/neighbors", {"from": dict(from_), **drop_none(options)})

    def path(self, from_: Mapping[str, str], to: Mapping[str, str], **options: Any) -> dict[str, Any]:
        """A shortest path (``max_depth``, ``direction``, ``types``, ``weighted``)."""
        body = {"from": dict(from_), "to": dict(to), **drop_none(options)}
        return self._call.json("POST", f"{self._path}/graph/path", body)

    def strengthen(self, edge_id: str, delta: float) -> dict[str, Any]:
        return self._call.json("POST", f"{self._path}/graph/edges/{seg(edge_id)}/strengthen", {"delta": delta})

    def decay(self, factor: float, *, floor: float | None = None, types: list[str] | None = None) -> dict[str, Any]:
        body = drop_none({"factor": factor, "floor": floor, "types": types})
        return self._call.json("POST", f"{self._path}/graph/decay", body)

    # -- facts ---------------------------------------------------------------

    def assert_fact(
        self, subject: Mapping[str, Any], predicate: str, object: Mapping[str, Any], **options: Any
    ) -> dict[str, Any]:
        """Records a fact; subject and object are :func:`node` or
        ``{"value": …}`` (``valid_from_ms``, ``valid_until_ms``, ``functional``)."""
        body = {"subject": dict(subject), "predicate": predicate, "object": dict(object), **drop_none(options)}
        return self._call.json("POST", f"{self._path}/facts", body)

    def facts(self, **query: Any) -> dict[str, Any]:
        """Facts by ``subject``, ``predicate``, ``valid_at_ms``,
        ``all_valid_times``, ``known_at_ms``, ``limit``: ``{facts, truncated}``."""
        return self._call.json("POST", f"{self._path}/facts/query", drop_none(query))

    def retract(self, fact_id: str, *, valid_until_ms: int | None = None) -> dict[str, Any]:
        body = drop_none({"valid_until_ms": valid_until_ms})
        return self._call.json("POST", f"{self._path}/facts/{seg(fact_id)}/retract", body)

    # -- streams and queues ------------------------------------------------

    def stream(self, name: str) -> Stream:
        return Stream(self, name)

    def queue(self, name: str) -> Queue:
        return Queue(self, name)

    def queues(self) -> list[dict[str, Any]]:
        return self._call.json("GET", f"{self._path}/queues")["queues"]

    # -- objects ---------------------------------------------------------------

    def put_object(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        ttl_seconds: int | None = None,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> dict[str, Any]:
        """Stores bytes under ``key``; ``if_none_match`` creates only,
        ``if_match`` replaces only that ETag (else PreconditionFailed)."""
        headers = {"Content-Type": content_type or "application/octet-stream"}
        for name, value in (metadata or {}).items():
            headers[f"x-engram-meta-{name}"] = value
        if if_none_match:
            headers["If-None-Match"] = "*"
        if if_match:
            headers["If-Match"] = if_match if if_match.startswith('"') or if_match == "*" else f'"{if_match}"'
        path = f"{self._path}/objects/{seg(key)}"
        return self._call.raw("PUT", path, params={"ttl_seconds": ttl_seconds}, body=bytes(data), headers=headers).json()

    def get_object(self, key: str, *, range: tuple[int, int] | None = None) -> bytes:
        """The object's bytes (``range`` = (first, last) byte, inclusive)."""
        headers = {"Range": f"bytes={range[0]}-{range[1]}"} if range else None
        return self._call.raw("GET", f"{self._path}/objects/{seg(key)}", headers=headers).body

    def head_object(self, key: str) -> dict[str, str] | None:
        """The object's headers (``etag``, ``content-length``,
        ``content-type``, ``x-engram-meta-*``), or None when missing."""
        try:
            return self._call.raw("HEAD", f"{self._path}/objects/{seg(key)}").headers
        except NotFound:
            return None

    def delete_object(self, key: str) -> dict[str, Any]:
        return self._call.raw("DELETE", f"{self._path}/objects/{seg(key)}").json()

    def copy_object(self, from_key: str, to_key: str) -> dict[str, Any]:
        return self._call.json("POST", f"{self._path}/object-copy", {"from": from_key, "to": to_key})

    def list_objects(
        self, *, prefix: str | None = None, delimiter: str | None = None, after: str | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        """``{objects, prefixes, next_after}`` in key order."""
        params = {"prefix": prefix, "delimiter": delimiter, "after": after, "limit": limit}
        return self._call.json("GET", f"{self._path}/objects", params=params)

    def stage_blob(self, data: bytes) -> dict[str, Any]:
        """Uploads bytes for a :meth:`Transaction.put_object` (within the grace period)."""
        headers = {"Content-Type": "application/octet-stream"}
        return self._call.raw("POST", f"{self._path}/blobs", body=bytes(data), headers=headers).json()
