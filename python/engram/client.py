"""The entry point: :func:`open` a data directory in-process or
:func:`connect` to a server; the same :class:`Engram` API either way."""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

from ._call import Caller, drop_none, seg
from .errors import Conflict, Forbidden
from .space import Space
from .transport import HttpTransport, NativeTransport, Transport


class Engram:
    """A connection to Engram: embedded (:func:`open`) or remote
    (:func:`connect`). Safe to share between threads. Use as a context
    manager, or call :meth:`close`."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._call = Caller(transport)

    def __enter__(self) -> Engram:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Embedded: saves index files and releases the data directory.
        Remote: closes the connections."""
        self._transport.close()

    @property
    def embedded(self) -> bool:
        return isinstance(self._transport, NativeTransport)

    # -- spaces ------------------------------------------------------------

    def space(self, name: str, *, create: bool = True) -> Space:
        """A handle on space ``name``, created if missing (unless ``create=False``)."""
        handle = Space(self._call, name)
        if create:
            self.create_space(name, exist_ok=True)
        return handle

    def create_space(self, name: str, *, exist_ok: bool = False) -> Space:
        """Creates a space; raises Conflict if it exists (unless ``exist_ok``)."""
        space = Space(self._call, name)
        try:
            self._call.json("POST", "/v1/spaces", {"name": name})
        except Conflict:
            if not exist_ok:
                raise
        except Forbidden:
            # Keys that may not create spaces may still use an existing one.
            if not exist_ok:
                raise
            space.info()
        return space

    def spaces(self) -> list[dict[str, Any]]:
        """Every space: ``[{name, created_at_ms}]``."""
        return self._call.json("GET", "/v1/spaces")["spaces"]

    def delete_space(self, name: str) -> None:
        Space(self._call, name).delete()

    # -- keys and health -------------------------------------------------

    def create_key(
        self, name: str, *, role: str = "write", space: str | None = None, expires_in_seconds: int | None = None
    ) -> dict[str, Any]:
        """Creates an API key (``read``, ``write`` or ``admin``; one space
        or all). The answer holds the key itself, shown this once."""
        body = drop_none({"name": name, "role": role, "space": space, "expires_in_seconds": expires_in_seconds})
        return self._call.json("POST", "/v1/keys", body)

    def keys(self) -> list[dict[str, Any]]:
        return self._call.json("GET", "/v1/keys")["keys"]

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        return self._call.json("DELETE", f"/v1/keys/{seg(key_id)}")

    def ready(self) -> dict[str, Any]:
        """The readiness report (backend and object store)."""
        return self._call.json("GET", "/readyz")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Any route of the HTTP API by path (``/v1/…``), JSON in and out."""
        return self._call.json(method, path, body, params=params, headers=headers)


def open(path: str | os.PathLike[str], *, embedders: Sequence[str] = ()) -> Engram:
    """Opens (creating if needed) a data directory in this process.

    One process holds a directory at a time (a second open, here or in a
    server, fails while it is held). Every call releases the GIL, so
    threads run concurrently; a returned write is durable.

    ``embedders`` are the models collections may name in a vector field's
    ``embed`` (as ``engram serve --embedder`` takes them), e.g.
    ``["minilm=local:/models/all-MiniLM-L6-v2"]``: writes then carry text
    and the engine computes and stores the vectors.
    """
    return Engram(NativeTransport(os.fspath(path), list(embedders)))


def connect(url: str, key: str | None = None, *, timeout: float | None = None) -> Engram:
    """Talks to an Engram server at ``url`` with API ``key`` (default: the
    ``ENGRAM_KEY`` environment variable)."""
    key = key if key is not None else os.environ.get("ENGRAM_KEY")
    transport = HttpTransport(url, key) if timeout is None else HttpTransport(url, key, timeout)
    return Engram(transport)
