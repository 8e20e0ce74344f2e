"""LangGraph checkpointer (:class:`~langgraph.checkpoint.base.BaseCheckpointSaver`)
on Engram collections.

Three collections (names from ``collection_prefix``, default
``langgraph_checkpoint``):

* ``<prefix>s``: one document per checkpoint, id ``[thread_id,
  checkpoint_ns, checkpoint_id]``: the checkpoint without its channel
  values (serialized with the saver's ``serde``), its metadata as JSON (so
  ``list(filter=…)`` runs in Engram on ``metadata.<key>``), and the parent's
  id. Indexes: ``(thread_id, checkpoint_ns, checkpoint_id)``,
  ``checkpoint_id``, ``metadata.run_id``.
* ``<prefix>_blobs``: one document per channel value and version, id
  ``[thread_id, checkpoint_ns, channel, version]`` (a checkpoint names the
  versions it holds; an unchanged channel is not stored again).
* ``<prefix>_writes``: one document per pending write, id ``[thread_id,
  checkpoint_ns, checkpoint_id, task_id, idx]``.

A checkpoint and its new channel values commit in one Engram transaction, as
do the writes of one ``put_writes`` call. Serialized values are stored base64
in the documents up to 384 KiB; a larger value (a document holds at most
1 MiB) is stored as an Engram **object** (``langgraph/<collection>/<sha256
of the document id>``), staged first and committed by the same transaction
(``put_object``), so a checkpoint of any size (up to Engram's 32 MiB per
transaction of inline data, 5 GiB per object) is atomic; deleting a thread
deletes its objects in the same transaction as their documents.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    SerializerProtocol,
    get_checkpoint_id,
    get_checkpoint_metadata,
)

from ..errors import Conflict, Forbidden, NotFound
from .store import _addressable, _conditions, backoff, doc_id, find, matches, query, sync_space

logger = logging.getLogger(__name__)

#: Largest serialized value kept inside a document (base64 adds a third).
INLINE_BYTES_MAX = 384 * 1024
#: Inline bytes one transaction carries before further values go to objects
#: (Engram takes 32 MiB per transaction).
TX_INLINE_BYTES_MAX = 16 * 1024 * 1024
#: Operations per transaction when deleting or copying many documents.
TX_OPS_MAX = 2000
#: Attempts of an operation whose reads went stale meanwhile.
RETRIES = 20
#: Checkpoints fetched per page by ``list``.
LIST_PAGE = 100

_DESC = [{"field": "checkpoint_id", "order": "desc"}]


def _writes_key(doc: dict[str, Any]) -> tuple[str, str, int]:
    b = doc["body"]
    return (b.get("task_path", ""), b["task_id"], int(b["idx"]))


def _json_metadata(metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The metadata as Engram takes it (JSON, integers within 64 bits), or
    None when some value is not."""

    def ok(v: Any) -> bool:
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return True
        if isinstance(v, int):
            return -(2**63) <= v < 2**64
        if isinstance(v, float):
            return v == v and v not in (float("inf"), float("-inf"))
        if isinstance(v, (list, tuple)):
            return all(ok(x) for x in v)
        if isinstance(v, dict):
            return all(isinstance(k, str) and ok(x) for k, x in v.items())
        return False

    if not ok(metadata):
        return None
    return json.loads(json.dumps(metadata))


class EngramSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer on an Engram space, embedded
    (``engram.open``) or remote (``engram.connect``), sync and async.

    Args:
        space: The :class:`engram.Space` (or ``engram.aio`` async space)
            holding the checkpoints.
        serde: The serializer (LangGraph's ``JsonPlusSerializer`` by
            default); every value is stored as its ``dumps_typed`` pair.
        collection_prefix: Prefix of the three collections' names.

    Implements ``get_tuple``, ``list``, ``put``, ``put_writes``,
    ``delete_thread``, ``delete_for_runs``, ``copy_thread`` and ``prune``,
    each with its ``a``-prefixed async variant (run on a worker thread).
    Passes ``langgraph-checkpoint-conformance`` in full.
    """

    def __init__(
        self,
        space: Any,
        *,
        serde: SerializerProtocol | None = None,
        collection_prefix: str = "langgraph_checkpoint",
    ) -> None:
        super().__init__(serde=serde)
        self.space = sync_space(space)
        self.checkpoints_name = f"{collection_prefix}s"
        self.blobs_name = f"{collection_prefix}_blobs"
        self.writes_name = f"{collection_prefix}_writes"
        self.checkpoints = self.space.collection(self.checkpoints_name)
        self.blobs = self.space.collection(self.blobs_name)
        self.writes = self.space.collection(self.writes_name)
        self.setup()

    def setup(self) -> None:
        """Declares the collections' indexes (keeping any others).
        Idempotent; run by the constructor."""
        wanted = {
            self.checkpoints: [
                ("by_thread", ["thread_id", "checkpoint_ns", "checkpoint_id"]),
                ("by_checkpoint_id", ["checkpoint_id"]),
                ("by_run", ["metadata.run_id"]),
            ],
            self.blobs: [("by_thread", ["thread_id", "checkpoint_ns", "channel"])],
            self.writes: [("by_checkpoint", ["thread_id", "checkpoint_ns", "checkpoint_id"])],
        }
        for coll, indexes in wanted.items():
            try:
                spec = dict(coll.info().get("spec") or {})
            except NotFound:
                spec = {}
            have = [{"name": i["name"], "paths": list(i["paths"])} for i in spec.get("indexes") or []]
            names = {i["name"] for i in have}
            missing = [{"name": n, "paths": p} for n, p in indexes if n not in names]
            if missing:
                spec["indexes"] = have + missing
                try:
                    coll.define(spec)
                except Forbidden:
                    # Without the admin role specs cannot be declared; the
                    # indexes change speed, never results.
                    logger.warning("EngramSaver: could not declare the indexes of %r (needs an admin key)", coll.name)

    # -- values --------------------------------------------------------------

    def _object_key(self, collection: str, id_: str) -> str:
        return f"langgraph/{collection}/{hashlib.sha256(id_.encode()).hexdigest()}"

    def _dump(self, value: Any, collection: str, id_: str, tx: Any, budget: list[int]) -> dict[str, Any]:
        """A value as document fields: ``{type, data}`` inline, or ``{type,
        object, size}`` with the bytes staged and put in ``tx``."""
        type_, data = self.serde.dumps_typed(value)
        return self._dump_raw(type_, data, collection, id_, tx, budget)

    def _dump_raw(
        self, type_: str, data: bytes, collection: str, id_: str, tx: Any, budget: list[int]
    ) -> dict[str, Any]:
        if len(data) <= INLINE_BYTES_MAX and budget[0] + len(data) <= TX_INLINE_BYTES_MAX:
            budget[0] += len(data)
            return {"type": type_, "data": base64.b64encode(data).decode("ascii")}
        key = self._object_key(collection, id_)
        staged = self.space.stage_blob(data)
        tx.put_object(key, staged, content_type="application/octet-stream")
        return {"type": type_, "object": key, "size": len(data)}

    def _raw(self, fields: dict[str, Any]) -> tuple[str, bytes]:
        if "object" in fields:
            return fields["type"], self.space.get_object(fields["object"])
        return fields["type"], base64.b64decode(fields.get("data") or "")

    def _load(self, fields: dict[str, Any]) -> Any:
        return self.serde.loads_typed(self._raw(fields))

    # -- reads ---------------------------------------------------------------

    @staticmethod
    def _ids(config: RunnableConfig) -> tuple[str, str]:
        conf = config["configurable"]
        return str(conf["thread_id"]), str(conf.get("checkpoint_ns") or "")

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint named by ``config`` (``thread_id``,
        ``checkpoint_ns``, and ``checkpoint_id``, else the thread's latest),
        with its channel values and pending writes, or None."""
        thread_id, ns = self._ids(config)
        checkpoint_id = get_checkpoint_id(config)
        if checkpoint_id:
            doc = self.checkpoints.get(doc_id(thread_id, ns, checkpoint_id))
            if doc is None or (
                doc["body"]["thread_id"],
                doc["body"]["checkpoint_ns"],
                doc["body"]["checkpoint_id"],
            ) != (
                thread_id,
                ns,
                checkpoint_id,
            ):
                return None
        else:
            docs = query(self.checkpoints, {"thread_id": thread_id, "checkpoint_ns": ns}, sort=_DESC, limit=1)
            if not docs["documents"]:
                return None
            doc = docs["documents"][0]
        return self._tuple(doc)

    def _tuple(self, doc: dict[str, Any]) -> CheckpointTuple:
        body = doc["body"]
        thread_id, ns, checkpoint_id = body["thread_id"], body["checkpoint_ns"], body["checkpoint_id"]
        checkpoint: Checkpoint = self._load(body["checkpoint"])
        checkpoint = {**checkpoint, "channel_values": self._channel_values(thread_id, ns, checkpoint)}
        metadata = self._load(body["metadata_typed"]) if "metadata_typed" in body else body.get("metadata", {})
        writes = find(self.writes, {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id})
        pending = [
            (w["body"]["task_id"], w["body"]["channel"], self._load(w["body"]["value"]))
            for w in sorted(writes, key=_writes_key)
        ]
        parent = body.get("parent_checkpoint_id")
        return CheckpointTuple(
            config={"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}},
            checkpoint=checkpoint,
            metadata=metadata,
            parent_config=(
                {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": parent}}
                if parent
                else None
            ),
            pending_writes=pending,
        )

    def _channel_values(self, thread_id: str, ns: str, checkpoint: Checkpoint) -> dict[str, Any]:
        values = {}
        versions = checkpoint.get("channel_versions", {})
        ids = {channel: doc_id(thread_id, ns, channel, str(version)) for channel, version in versions.items()}
        # Every channel's value in one read.
        docs = self.blobs.get_many(ids.values()) if ids else {}
        for channel in versions:
            doc = docs.get(ids[channel])
            if doc is None:
                continue
            fields = doc["body"]["value"]
            if fields["type"] == "empty":
                continue
            values[channel] = self._load(fields)
        return values

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first: of ``config``'s thread (and namespace,
        and checkpoint id, when given) or of every thread, whose metadata
        holds every ``filter`` entry, older than ``before``, at most ``limit``."""
        for page in self._pages(config, filter=filter, before=before, limit=limit):
            yield from page

    def _pages(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Iterator[list[CheckpointTuple]]:
        conds: list[dict[str, Any]] = []
        if config is not None:
            conf = config["configurable"]
            if conf.get("thread_id") is not None:
                conds.append({"thread_id": str(conf["thread_id"])})
            if conf.get("checkpoint_ns") is not None:
                conds.append({"checkpoint_ns": str(conf["checkpoint_ns"])})
            if checkpoint_id := get_checkpoint_id(config):
                conds.append({"checkpoint_id": checkpoint_id})
        if before is not None and (before_id := get_checkpoint_id(before)):
            conds.append({"checkpoint_id": {"$lt": before_id}})
        residual: dict[str, Any] = {}
        for key, value in (filter or {}).items():
            parts = _conditions(["metadata", key], value) if _addressable(key, nested=False) else None
            if parts is None:
                residual[key] = value
            else:
                conds.extend(parts)
        flt = {"$and": conds} if len(conds) > 1 else (conds[0] if conds else None)
        sort = _DESC
        if config is not None and config["configurable"].get("thread_id") is not None:
            if config["configurable"].get("checkpoint_ns") is None:
                # A tiebreaker, so the planner takes the thread's index range
                # (not the checkpoint_id index over every thread).
                sort = _DESC + [{"field": "checkpoint_ns", "order": "desc"}]
        remaining = limit if limit is not None else -1
        cursor = None
        while remaining != 0:
            # Each checkpoint costs reads of its values and writes: small pages.
            size = LIST_PAGE if remaining < 0 or residual else max(1, min(LIST_PAGE, remaining))
            page = query(self.checkpoints, flt, sort=sort, limit=size, cursor=cursor)
            out = []
            for doc in page["documents"]:
                tup = self._tuple(doc)
                if residual and not matches(tup.metadata, residual):
                    continue
                out.append(tup)
                remaining -= 1
                if remaining == 0:
                    break
            if out:
                yield out
            cursor = page.get("next_cursor")
            if not cursor:
                return

    # -- writes --------------------------------------------------------------

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Stores a checkpoint and the values of the channels in
        ``new_versions``, in one transaction; returns its config."""
        thread_id, ns = self._ids(config)
        parent = config["configurable"].get("checkpoint_id")
        c = dict(checkpoint)
        values = c.pop("channel_values", {}) or {}
        tx = self.space.transaction()
        budget = [0]
        for channel, version in new_versions.items():
            id_ = doc_id(thread_id, ns, channel, str(version))
            if channel in values:
                value = self._dump(values[channel], self.blobs_name, id_, tx, budget)
            else:
                value = {"type": "empty"}
            body = {
                "thread_id": thread_id,
                "checkpoint_ns": ns,
                "channel": channel,
                "version": str(version),
                "value": value,
            }
            tx.put(self.blobs_name, id_, body)
        id_ = doc_id(thread_id, ns, checkpoint["id"])
        md = get_checkpoint_metadata(config, metadata)
        body: dict[str, Any] = {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint["id"],
            "parent_checkpoint_id": parent,
            "ts": checkpoint.get("ts"),
            "checkpoint": self._dump(c, self.checkpoints_name, id_, tx, budget),
        }
        as_json = _json_metadata(md)
        if as_json is not None:
            body["metadata"] = as_json
        else:
            body["metadata"] = {k: v for k, v in md.items() if _json_metadata({k: v}) is not None}
            body["metadata_typed"] = self._dump(md, self.checkpoints_name, id_ + "#metadata", tx, budget)
        tx.put(self.checkpoints_name, id_, body)
        tx.commit()
        return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint["id"]}}

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Stores a task's pending writes for a checkpoint, in one
        transaction. A write already stored under (task, index) is kept,
        except the special channels (errors, interrupts…), which replace."""
        if not writes:
            return
        thread_id, ns = self._ids(config)
        checkpoint_id = str(config["configurable"]["checkpoint_id"])
        replace = all(channel in WRITES_IDX_MAP for channel, _ in writes)
        serialized = [(channel, self.serde.dumps_typed(value)) for channel, value in writes]
        for attempt in range(RETRIES):
            mine = {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id, "task_id": task_id}
            existing = {d["id"]: d for d in find(self.writes, mine)}
            tx = self.space.transaction()
            budget = [0]
            done: set[str] = set()
            for idx, (channel, (type_, data)) in enumerate(serialized):
                widx = WRITES_IDX_MAP.get(channel, idx)
                id_ = doc_id(thread_id, ns, checkpoint_id, task_id, str(widx))
                current = existing.get(id_)
                if id_ in done or (current is not None and not replace):
                    continue
                done.add(id_)
                value = self._dump_raw(type_, data, self.writes_name, id_, tx, budget)
                old = current["body"]["value"].get("object") if current else None
                if old and "object" not in value:
                    tx.delete_object(old)
                body = {
                    "thread_id": thread_id,
                    "checkpoint_ns": ns,
                    "checkpoint_id": checkpoint_id,
                    "task_id": task_id,
                    "task_path": task_path,
                    "idx": widx,
                    "channel": channel,
                    "value": value,
                }
                expect: Any = {"version": current["version"]} if current else "absent"
                tx.put(self.writes_name, id_, body, expect=expect)
            if not tx.ops:
                return
            try:
                tx.commit()
                return
            except (Conflict, NotFound):
                if attempt == RETRIES - 1:
                    raise
                backoff(attempt)

    # -- deletes, copies, pruning --------------------------------------------

    def _delete_docs(self, collection: str, docs: list[dict[str, Any]]) -> None:
        """Deletes documents (and the objects they hold) in transactions of
        up to TX_OPS_MAX operations; ones already gone are skipped."""
        ops: list[dict[str, Any]] = []
        for d in docs:
            ops.append({"op": "delete", "collection": collection, "id": d["id"]})
            ops += [{"op": "delete_object", "key": k} for k in _objects([d])]
        for start in range(0, len(ops), TX_OPS_MAX):
            chunk = ops[start : start + TX_OPS_MAX]
            try:
                self.space.commit(chunk)
            except NotFound:
                for op in chunk:
                    try:
                        self.space.commit([op])
                    except NotFound:
                        pass

    def _thread_docs(self, thread_id: str) -> list[tuple[str, list[dict[str, Any]]]]:
        """A thread's documents: checkpoints, writes, values (the order
        deletes go in, so an interrupted delete never leaves a checkpoint
        without its values; copies go in the reverse order)."""
        flt = {"thread_id": thread_id}
        return [
            (name, list(find(coll, flt)))
            for name, coll in (
                (self.checkpoints_name, self.checkpoints),
                (self.writes_name, self.writes),
                (self.blobs_name, self.blobs),
            )
        ]

    def delete_thread(self, thread_id: str) -> None:
        """Deletes every checkpoint, channel value and write of a thread (in
        one transaction up to 1,000 documents; beyond, in several, checkpoints
        first)."""
        thread_id = str(thread_id)
        groups = self._thread_docs(thread_id)
        total = sum(len(docs) for _, docs in groups)
        if total and total <= TX_OPS_MAX // 2:
            ops: list[dict[str, Any]] = []
            for name, docs in groups:
                ops += [{"op": "delete", "collection": name, "id": d["id"]} for d in docs]
                ops += [{"op": "delete_object", "key": k} for k in _objects(docs)]
            try:
                self.space.commit(ops)
                return
            except NotFound:
                groups = self._thread_docs(thread_id)  # something went meanwhile: per document
        for name, docs in groups:
            self._delete_docs(name, docs)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Deletes the checkpoints whose metadata ``run_id`` is one of
        ``run_ids``, with their writes and the channel values no remaining
        checkpoint of their thread uses."""
        touched: set[tuple[str, str]] = set()
        for run_id in dict.fromkeys(str(r) for r in run_ids):
            # Equality (not $in), so the metadata.run_id index serves it.
            docs = list(find(self.checkpoints, {"metadata.run_id": run_id}))
            self._delete_checkpoints(docs)
            touched |= {(d["body"]["thread_id"], d["body"]["checkpoint_ns"]) for d in docs}
        for thread_id, ns in sorted(touched):
            self._collect_blobs(thread_id, ns)

    def _delete_checkpoints(self, docs: list[dict[str, Any]]) -> None:
        writes: list[dict[str, Any]] = []
        for d in docs:
            b = d["body"]
            of = {"thread_id": b["thread_id"], "checkpoint_ns": b["checkpoint_ns"], "checkpoint_id": b["checkpoint_id"]}
            writes += find(self.writes, of)
        self._delete_docs(self.checkpoints_name, docs)
        self._delete_docs(self.writes_name, writes)

    def _collect_blobs(self, thread_id: str, ns: str) -> None:
        """Deletes the channel values of (thread, namespace) that no
        checkpoint of it names."""
        used: set[tuple[str, str]] = set()
        for d in find(self.checkpoints, {"thread_id": thread_id, "checkpoint_ns": ns}):
            checkpoint = self._load(d["body"]["checkpoint"])
            used |= {(ch, str(v)) for ch, v in checkpoint.get("channel_versions", {}).items()}
        blobs = find(self.blobs, {"thread_id": thread_id, "checkpoint_ns": ns})
        unused = [b for b in blobs if (b["body"]["channel"], b["body"]["version"]) not in used]
        self._delete_docs(self.blobs_name, unused)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copies every checkpoint, channel value and write of a thread to
        another thread id (objects are copied without moving bytes): in one
        transaction up to 2,000 documents; beyond, in several, values
        first."""
        source, target = str(source_thread_id), str(target_thread_id)
        ops: list[dict[str, Any]] = []
        key_fields = {
            self.checkpoints_name: ("checkpoint_ns", "checkpoint_id"),
            self.blobs_name: ("checkpoint_ns", "channel", "version"),
            self.writes_name: ("checkpoint_ns", "checkpoint_id", "task_id", "idx"),
        }
        for name, docs in reversed(self._thread_docs(source)):
            for d in docs:
                body = dict(d["body"], thread_id=target)
                id_ = doc_id(target, *(str(body[f]) for f in key_fields[name]))
                for field in ("value", "checkpoint", "metadata_typed"):
                    fields = body.get(field)
                    if isinstance(fields, dict) and fields.get("object"):
                        suffix = "#metadata" if field == "metadata_typed" else ""
                        key = self._object_key(name, id_ + suffix)
                        ops.append({"op": "copy_object", "from": fields["object"], "to": key})
                        body[field] = dict(fields, object=key)
                ops.append({"op": "put", "collection": name, "id": id_, "body": body})
        for start in range(0, len(ops), TX_OPS_MAX):
            self.space.commit(ops[start : start + TX_OPS_MAX])

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """``keep_latest``: keeps each namespace's latest checkpoint of the
        threads (with its writes and channel values), deletes the rest;
        ``delete``: deletes the threads. A namespace whose latest checkpoint
        tracks delta channels (``counters_since_delta_snapshot``) is left
        whole: its ancestors hold the history those channels are rebuilt from."""
        if strategy not in ("keep_latest", "delete"):
            raise ValueError(f"unknown prune strategy {strategy!r} (keep_latest or delete)")
        for thread_id in thread_ids:
            thread_id = str(thread_id)
            if strategy == "delete":
                self.delete_thread(thread_id)
                continue
            by_ns: dict[str, list[dict[str, Any]]] = {}
            for d in find(self.checkpoints, {"thread_id": thread_id}):
                by_ns.setdefault(d["body"]["checkpoint_ns"], []).append(d)
            for ns, docs in sorted(by_ns.items()):
                docs.sort(key=lambda d: d["body"]["checkpoint_id"], reverse=True)
                latest = docs[0]["body"]
                if latest.get("metadata", {}).get("counters_since_delta_snapshot"):
                    logger.warning("prune: kept the history of %s/%r (delta channels)", thread_id, ns)
                    continue
                if len(docs) > 1:
                    self._delete_checkpoints(docs[1:])
                self._collect_blobs(thread_id, ns)

    # -- versions --------------------------------------------------------------

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Channel versions as ``"<32-digit counter>.<random>"`` strings (as
        LangGraph's Postgres and SQLite savers make them): they sort as they
        increase."""
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(str(current).split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"

    # -- async ---------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """:meth:`get_tuple` on a worker thread."""
        return await asyncio.to_thread(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """:meth:`list`, fetched a page at a time on a worker thread."""
        pages = self._pages(config, filter=filter, before=before, limit=limit)
        while True:
            page = await asyncio.to_thread(next, pages, None)
            if page is None:
                return
            for tup in page:
                yield tup

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """:meth:`put` on a worker thread."""
        return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """:meth:`put_writes` on a worker thread."""
        await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """:meth:`delete_thread` on a worker thread."""
        await asyncio.to_thread(self.delete_thread, thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """:meth:`delete_for_runs` on a worker thread."""
        await asyncio.to_thread(self.delete_for_runs, run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """:meth:`copy_thread` on a worker thread."""
        await asyncio.to_thread(self.copy_thread, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """:meth:`prune` on a worker thread."""
        await asyncio.to_thread(self.prune, thread_ids, strategy=strategy)


def _objects(docs: list[dict[str, Any]]) -> list[str]:
    keys = []
    for d in docs:
        for field in ("value", "checkpoint", "metadata_typed"):
            fields = d["body"].get(field)
            if isinstance(fields, dict) and fields.get("object"):
                keys.append(fields["object"])
    return keys


__all__ = ["EngramSaver"]
