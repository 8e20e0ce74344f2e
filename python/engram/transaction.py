"""Transactions: operations of every kind gathered, then committed at once
(all applied or none)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from ._call import drop_none

if TYPE_CHECKING:
    from .space import Space

#: Operations one transaction may hold (the server's limit).
TRANSACTION_OPS_MAX = 10_000


class Transaction:
    """Gathers operations; :meth:`commit` sends them as one transaction.

    As a context manager it commits when the block ends without an
    exception and discards the operations otherwise::

        with space.transaction() as tx:
            tx.put("notes", "n1", {"text": "hello"})
            tx.enqueue("work", {"note": "n1"})

    Nothing is visible to anyone (this process included) until the commit
    returns; reads inside the block see the state before it. Preconditions
    (``expect``) are how a transaction guards against concurrent writes.
    """

    def __init__(self, space: Space, idempotency_key: str | None = None) -> None:
        self.space = space
        self.ops: list[dict[str, Any]] = []
        self.idempotency_key = idempotency_key
        self.result: dict[str, Any] | None = None

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None and self.ops and self.result is None:
            self.commit()

    def _add(self, op: dict[str, Any]) -> Transaction:
        if self.result is not None:
            raise RuntimeError("this transaction is already committed")
        if len(self.ops) >= TRANSACTION_OPS_MAX:
            raise ValueError(f"a transaction holds at most {TRANSACTION_OPS_MAX} operations (TRANSACTION_OPS_MAX)")
        self.ops.append(op)
        return self

    def put(self, collection: str, id: str, body: Mapping[str, Any], *, expect: Any = None, ttl_seconds: int | None = None) -> Transaction:
        return self._add(drop_none({"op": "put", "collection": collection, "id": id, "body": dict(body), "expect": expect, "ttl_seconds": ttl_seconds}))

    def patch(self, collection: str, id: str, patch: Mapping[str, Any], *, expect: Any = None, ttl_seconds: int | None = None) -> Transaction:
        return self._add(drop_none({"op": "patch", "collection": collection, "id": id, "patch": dict(patch), "expect": expect, "ttl_seconds": ttl_seconds}))

    def delete(self, collection: str, id: str, *, expect: Any = None) -> Transaction:
        return self._add(drop_none({"op": "delete", "collection": collection, "id": id, "expect": expect}))

    def link(self, from_: Mapping[str, str], to: Mapping[str, str], type: str, *, weight: float | None = None, props: Mapping[str, Any] | None = None) -> Transaction:
        edge = drop_none({"from": dict(from_), "to": dict(to), "type": type, "weight": weight, "props": props})
        return self._add({"op": "link", "edge": edge})

    def unlink(self, from_: Mapping[str, str], to: Mapping[str, str], type: str) -> Transaction:
        return self._add({"op": "unlink", "from": dict(from_), "to": dict(to), "type": type})

    def assert_fact(self, subject: Mapping[str, Any], predicate: str, object: Mapping[str, Any], **options: Any) -> Transaction:
        fact = drop_none({"subject": dict(subject), "predicate": predicate, "object": dict(object), **options})
        return self._add({"op": "assert", "fact": fact})

    def retract(self, fact_id: str, *, valid_until_ms: int | None = None) -> Transaction:
        return self._add(drop_none({"op": "retract", "fact_id": fact_id, "valid_until_ms": valid_until_ms}))

    def append(self, stream: str, events: list[Mapping[str, Any]], *, expected_version: Any = None) -> Transaction:
        request = drop_none({"events": [dict(e) for e in events], "expected_version": expected_version})
        return self._add({"op": "append", "stream": stream, "request": request})

    def enqueue(self, queue: str, body: Any, **options: Any) -> Transaction:
        message = dict(drop_none(options), body=body)
        return self._add({"op": "enqueue", "queue": queue, "message": message})

    def publish(self, topic: str, payload: Any) -> Transaction:
        return self._add({"op": "publish", "topic": topic, "payload": payload})

    def put_object(self, key: str, blob: Mapping[str, Any], *, content_type: str | None = None, **options: Any) -> Transaction:
        """References bytes staged with :meth:`Space.stage_blob` under ``key``."""
        obj = drop_none({"blob": dict(blob), "content_type": content_type, **options})
        return self._add({"op": "put_object", "key": key, "object": obj})

    def delete_object(self, key: str) -> Transaction:
        return self._add({"op": "delete_object", "key": key})

    def op(self, op: Mapping[str, Any]) -> Transaction:
        """Any operation as the HTTP API spells it."""
        return self._add(dict(op))

    def commit(self) -> dict[str, Any]:
        """Commits; returns ``{results, position}``. A refused operation
        (a failed ``expect``, a missing edge endpoint…) raises and nothing
        is applied."""
        if self.result is not None:
            return self.result
        self.result = self.space.commit(self.ops, idempotency_key=self.idempotency_key)
        return self.result
