"""How calls reach the engine: in-process (:class:`NativeTransport`) or over
HTTP (:class:`HttpTransport`). Both take the same requests (method, path
with query, JSON or raw body) and give the same answers, so everything
above them behaves alike embedded and remote."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import TransportError, from_problem

#: Longest a remote call waits for its answer, in seconds (long polls add
#: their own wait on top).
HTTP_TIMEOUT_SECONDS = 60.0


@dataclass
class Response:
    """One answer: status, headers (lower-case names) and raw body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        # Decoded first: json.loads on bytes sniffs the encoding each time.
        return json.loads(self.body.decode()) if self.body else None


class Transport(Protocol):
    """Sends one request and returns the answer (any status)."""

    def send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str], timeout: float | None
    ) -> Response: ...

    def close(self) -> None: ...


def check(response: Response) -> Response:
    """The response if it succeeded (2xx or 304); else raises its problem."""
    if 200 <= response.status < 300 or response.status == 304:
        return response
    try:
        problem = json.loads(response.body) if response.body else {}
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    problem.setdefault("status", response.status)
    problem.setdefault("detail", response.body[:200].decode("utf-8", "replace") or f"HTTP {response.status}")
    if "retry-after" in response.headers:
        try:
            problem.setdefault("retry_after", float(response.headers["retry-after"]))
        except ValueError:
            pass
    raise from_problem(response.status, problem)


class NativeTransport:
    """The engine in this process, on a data directory it holds (one
    process at a time). Calls release the GIL: threads run concurrently."""

    def __init__(self, path: str, embedders: list[str] | None = None) -> None:
        from . import _native

        self._engine = _native.Engine(str(path), embedders or [])

    def send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str], timeout: float | None
    ) -> Response:
        try:
            status, pairs, raw = self._engine.call(method, path, body, list(headers.items()))
        except RuntimeError as e:
            raise TransportError(str(e)) from None
        return Response(status, dict(pairs), raw)

    def noop(self) -> None:
        """Crosses into Rust and back (measures the binding's overhead)."""
        self._engine.noop()

    def close(self) -> None:
        self._engine.close()


class HttpTransport:
    """An Engram server at ``url`` with API key ``key``. One keep-alive
    connection per thread."""

    def __init__(self, url: str, key: str | None, timeout: float = HTTP_TIMEOUT_SECONDS) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
        self._scheme = parsed.scheme
        self._host = parsed.hostname
        self._port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self._base = parsed.path.rstrip("/")
        self._key = key
        self._timeout = timeout
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        if self._scheme == "https":
            conn = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn, False

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str], timeout: float | None
    ) -> Response:
        headers = dict(headers)
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        # A kept-alive connection the server closed while idle fails before
        # the request reaches it: retried once on a fresh connection.
        for attempt in (0, 1):
            conn, reused = self._connection()
            conn.timeout = self._timeout + (timeout or 0.0)
            if conn.sock is not None:
                conn.sock.settimeout(conn.timeout)
            try:
                conn.request(method, self._base + path, body=body, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                self._drop()
                if reused and attempt == 0:
                    continue
                raise TransportError(f"{method} {path}: {e}") from None
            except (OSError, http.client.HTTPException) as e:
                self._drop()
                raise TransportError(f"{method} {path}: {e}") from None
            if resp.getheader("connection", "").lower() == "close":
                self._drop()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw)
        raise TransportError(f"{method} {path}: no answer")

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
