"""The one call every handle makes: path segments quoted, query encoded,
JSON in and out, errors raised as :class:`~engram.errors.EngramError`."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any, Mapping

from .transport import Response, Transport, check


# Printable ASCII outside RFC 3986's unreserved set, percent-encoded: a
# table for str.translate (C speed; names are quoted on every call).
_QUOTE = {c: f"%{c:02X}" for c in range(0x20, 0x7F) if not (chr(c).isalnum() or chr(c) in "-._~")}


def seg(name: str) -> str:
    """One path segment, percent-encoded (a ``/`` in a name stays inside it)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a name must be a non-empty string, got {name!r}")
    if name.isascii() and name.isprintable():
        return name.translate(_QUOTE)
    return urllib.parse.quote(name, safe="")


def query_string(params: Mapping[str, Any] | None) -> str:
    """``?a=1&b=x`` from the parameters that are not None (lists joined by
    commas, booleans as true/false, dicts and lists of dicts as JSON)."""
    if not params:
        return ""
    pairs = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (dict,)):
            value = json.dumps(value, separators=(",", ":"))
        elif isinstance(value, (list, tuple)):
            if any(isinstance(v, (dict, list)) for v in value):
                value = json.dumps(list(value), separators=(",", ":"))
            else:
                value = ",".join(str(v) for v in value)
        pairs.append((key, str(value)))
    return "?" + urllib.parse.urlencode(pairs) if pairs else ""


def drop_none(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body without the options left unset (the server's defaults apply)."""
    return {k: v for k, v in body.items() if v is not None}


class Caller:
    """Sends requests through a transport."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def raw(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Any request; raises the problem of a failed answer."""
        sent = self.transport.send(method, path + query_string(params), body, dict(headers or {}), timeout)
        return check(sent)

    def json(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """A JSON request (``body`` None sends none); the decoded answer."""
        raw = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        return self.raw(method, path, params=params, body=raw, headers=headers, timeout=timeout).json()


class SpaceChild:
    """A named thing of a space (collection, stream, queue): its path under
    the space's, and the space's caller. No call is made until it is used."""

    _KIND = ""  # the path segment naming the kind, e.g. "collections"

    def __init__(self, space: Any, name: str) -> None:
        self.space = space
        self.name = name
        self._path = f"{space._path}/{self._KIND}/{seg(name)}"
        self._call = space._call

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.space.name!r}, {self.name!r})"
