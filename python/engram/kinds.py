"""Event streams and queues of a space."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ._call import SpaceChild, drop_none, seg
from .errors import NotFound



class Stream(SpaceChild):
    """An append-only stream of events (an agent's episode, a session…)."""

    _KIND = "streams"

    def append(
        self,
        events: Iterable[Mapping[str, Any]],
        *,
        expected_version: str | Mapping[str, int] | None = None,
        dedup_window_seconds: int | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Appends events (``{type, data, metadata?}``) atomically.
        ``expected_version``: ``"any"``, ``"no_stream"``, ``"exists"`` or
        ``{"exact": n}`` (a mismatch raises Conflict)."""
        body = drop_none(
            {"events": [dict(e) for e in events], "expected_version": expected_version, "dedup_window_seconds": dedup_window_seconds}
        )
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._call.json("POST", f"{self._path}/events", body, headers=headers)

    def read(
        self,
        *,
        from_version: int | None = None,
        direction: str | None = None,
        from_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """A page of events ``{events, next_version}``, forward (default) or
        ``direction="backward"``, from a version or over a time range."""
        params = {"from_version": from_version, "direction": direction, "from_ms": from_ms, "until_ms": until_ms, "limit": limit}
        return self._call.json("GET", f"{self._path}/events", params=params)

    def info(self) -> dict[str, Any] | None:
        """``{stream, version, …}``, or None for a stream never written."""
        try:
            return self._call.json("GET", self._path)
        except NotFound:
            return None

    def save_snapshot(self, version: int, state: Any) -> dict[str, Any]:
        """Saves the state folded from the events up to ``version``."""
        return self._call.json("PUT", f"{self._path}/snapshot", {"version": version, "state": state})

    def snapshot(self, *, at_or_before: int | None = None) -> dict[str, Any] | None:
        """The latest snapshot (at or before a version), or None."""
        try:
            return self._call.json("GET", f"{self._path}/snapshot", params={"at_or_before": at_or_before})
        except NotFound:
            return None


class Queue(SpaceChild):
    """A work queue with leases, retries, groups, dedup keys and a
    dead-letter list."""

    _KIND = "queues"

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Sets ``visibility_timeout_seconds``, ``max_attempts``,
        ``retry_base_ms``, ``retry_max_ms``."""
        return self._call.json("PUT", self._path, settings)

    def enqueue(
        self,
        body: Any,
        *,
        delay_seconds: int | None = None,
        priority: int | None = None,
        group: str | None = None,
        dedup_key: str | None = None,
    ) -> str:
        """Enqueues one message (any JSON); returns its id (the first
        message's id when ``dedup_key`` is already held)."""
        message = drop_none(
            {"body": body, "delay_seconds": delay_seconds, "priority": priority, "group": group, "dedup_key": dedup_key}
        )
        # A JSON null body is a message too.
        message["body"] = body
        return str(self.enqueue_many([message])[0]["id"])

    def enqueue_many(self, messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Enqueues messages (``{body, delay_seconds?, priority?, group?,
        dedup_key?}``) atomically; one result per message."""
        return self._call.json("POST", f"{self._path}/messages", {"messages": [dict(m) for m in messages]})["messages"]

    def receive(
        self,
        max_messages: int | None = None,
        *,
        visibility_timeout_seconds: int | None = None,
        wait_seconds: float | None = None,
    ) -> list[dict[str, Any]]:
        """Leases up to ``max_messages`` (≤ 100); with ``wait_seconds`` (≤
        20) waits for one to arrive. Each has ``id``, ``receipt``, ``body``,
        ``attempts``."""
        body = drop_none(
            {"max_messages": max_messages, "visibility_timeout_seconds": visibility_timeout_seconds, "wait_seconds": wait_seconds}
        )
        return self._call.json("POST", f"{self._path}/receive", body, timeout=wait_seconds)["messages"]

    def ack(self, *receipts: str) -> dict[str, Any]:
        """Removes delivered messages by receipt."""
        return self._call.json("POST", f"{self._path}/ack", {"receipts": list(receipts)})

    def nack(self, receipt: str, *, delay_seconds: int | None = None, error: str | None = None) -> dict[str, Any]:
        """Returns a message for a retry (after a backoff, or ``delay_seconds``)."""
        body = drop_none({"receipt": receipt, "delay_seconds": delay_seconds, "error": error})
        return self._call.json("POST", f"{self._path}/nack", body)

    def extend(self, receipt: str, visibility_timeout_seconds: int) -> dict[str, Any]:
        """Extends a lease to ``visibility_timeout_seconds`` from now."""
        body = {"receipt": receipt, "visibility_timeout_seconds": visibility_timeout_seconds}
        return self._call.json("POST", f"{self._path}/extend", body)

    def stats(self) -> dict[str, Any]:
        """Ready, delayed, in flight, waiting, dead, oldest ready age."""
        return self._call.json("GET", self._path)

    def dead_letters(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Messages given up on, with their reasons."""
        return self._call.json("GET", f"{self._path}/dead-letters", params={"limit": limit})["messages"]

    def redrive(self, *, limit: int | None = None) -> int:
        """Returns dead letters to the queue with fresh attempts; how many."""
        return int(self._call.json("POST", f"{self._path}/redrive", drop_none({"limit": limit}))["count"])

    def purge(self, *, dead_letters: bool | None = None) -> int:
        """Removes every waiting message (and dead letters if asked); how many."""
        return int(self._call.json("POST", f"{self._path}/purge", drop_none({"dead_letters": dead_letters}))["count"])

    def delete(self) -> int:
        """Deletes the queue with its messages; how many messages went."""
        return int(self._call.json("DELETE", self._path)["count"])
