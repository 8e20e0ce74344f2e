"""``asyncio`` variants: the same API, every call awaitable.

Each call runs the synchronous one on a worker thread
(:func:`asyncio.to_thread`); embedded calls release the GIL there, so the
event loop keeps running while the engine works. Handles (spaces,
collections, streams, queues, transactions) are returned as they are made,
without awaiting::

    async with engram.aio.open("data") as db:
        notes = db.space("agent").collection("notes")
        await notes.put("n1", {"text": "hello"})
        doc = await notes.get("n1")
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
from typing import Any, Sequence

from . import client
from .client import Engram
from .collection import Collection
from .kinds import Queue, Stream
from .space import Space
from .transaction import Transaction

# Methods that make a handle locally (no call): returned wrapped, not awaited.
_HANDLES = {"collection", "stream", "queue", "transaction"}


class _Async:
    """Wraps a synchronous handle: its calls become coroutines."""

    _sync: Any

    def __init__(self, sync: Any) -> None:
        object.__setattr__(self, "_sync", sync)

    def __repr__(self) -> str:
        return f"Async{self._sync!r}"

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._sync, name)
        if not callable(attr):
            return attr
        if name in _HANDLES:
            return lambda *a, **k: wrap(attr(*a, **k))
        if inspect.isgeneratorfunction(getattr(type(self._sync), name, None)):
            # `async for doc in collection.find(…)`: each step on a worker thread.
            return lambda *a, **k: AsyncIterator(lambda: attr(*a, **k))

        @functools.wraps(attr)
        async def call(*args: Any, **kwargs: Any) -> Any:
            return wrap(await asyncio.to_thread(attr, *args, **kwargs))

        return call


class AsyncIterator:
    """A synchronous iterator (pages fetched by cursor) stepped on worker
    threads, so the event loop never blocks on a request."""

    _DONE = object()

    def __init__(self, make: Any) -> None:
        self._make = make
        self._it: Any = None

    def __aiter__(self) -> AsyncIterator:
        return self

    async def __anext__(self) -> Any:
        if self._it is None:
            self._it = await asyncio.to_thread(self._make)
        item = await asyncio.to_thread(next, self._it, self._DONE)
        if item is self._DONE:
            raise StopAsyncIteration
        return item


class AsyncSpace(_Async):
    """:class:`~engram.space.Space`, awaitable."""


class AsyncCollection(_Async):
    """:class:`~engram.collection.Collection`, awaitable."""


class AsyncStream(_Async):
    """:class:`~engram.kinds.Stream`, awaitable."""


class AsyncQueue(_Async):
    """:class:`~engram.kinds.Queue`, awaitable."""


class AsyncTransaction(_Async):
    """:class:`~engram.transaction.Transaction`: gathering is local, ``commit`` is awaited."""

    async def __aenter__(self) -> AsyncTransaction:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None and self._sync.ops and self._sync.result is None:
            await asyncio.to_thread(self._sync.commit)

    def __getattr__(self, name: str) -> Any:
        if name == "commit":
            return super().__getattr__(name)
        attr = getattr(self._sync, name)
        if not callable(attr):
            return attr

        def gather(*args: Any, **kwargs: Any) -> AsyncTransaction:
            attr(*args, **kwargs)
            return self

        return gather


class AsyncEngram(_Async):
    """:class:`~engram.client.Engram`, awaitable."""

    async def __aenter__(self) -> AsyncEngram:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await asyncio.to_thread(self._sync.close)

    def space(self, name: str, *, create: bool = True) -> Any:
        """A coroutine when ``create`` (the space is created if missing);
        the handle itself otherwise."""
        if not create:
            return AsyncSpace(self._sync.space(name, create=False))

        async def make() -> AsyncSpace:
            return AsyncSpace(await asyncio.to_thread(self._sync.space, name))

        return make()


_WRAPPERS: list[tuple[type, type]] = [
    (Space, AsyncSpace),
    (Collection, AsyncCollection),
    (Stream, AsyncStream),
    (Queue, AsyncQueue),
    (Transaction, AsyncTransaction),
    (Engram, AsyncEngram),
]


def wrap(value: Any) -> Any:
    for sync_type, async_type in _WRAPPERS:
        if isinstance(value, sync_type):
            return async_type(value)
    return value


async def open(path: str | os.PathLike[str], *, embedders: Sequence[str] = ()) -> AsyncEngram:
    """:func:`engram.open`, awaitable (opening loads index files and models)."""
    return AsyncEngram(await asyncio.to_thread(client.open, path, embedders=embedders))


def connect(url: str, key: str | None = None) -> AsyncEngram:
    """:func:`engram.connect` (no call is made until the first request)."""
    return AsyncEngram(client.connect(url, key))
