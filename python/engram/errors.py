"""Errors: every failed call raises an :class:`EngramError` carrying the
server's RFC 9457 problem (``type``, ``title``, ``status``, ``detail``)."""

from __future__ import annotations

from typing import Any


class EngramError(Exception):
    """A call Engram refused or could not complete.

    ``status`` is the HTTP status (the same embedded and remote), ``type``
    the problem type (``not-found``, ``conflict``, ``invalid-input``…),
    ``detail`` the explanation naming what was wrong, ``problem`` the whole
    problem document.
    """

    status: int
    type: str
    title: str
    detail: str
    problem: dict[str, Any]

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.type = str(problem.get("type", "about:blank"))
        self.title = str(problem.get("title", ""))
        self.detail = str(problem.get("detail", problem.get("title", "")))
        super().__init__(f"{self.detail} (HTTP {status}, {self.type})")


class InvalidInput(EngramError):
    """400/422: the request is malformed or breaks a rule (the detail says which)."""


class Unauthorized(EngramError):
    """401: no key, or a key that is unknown, revoked or expired."""


class Forbidden(EngramError):
    """403: the key's role or space does not allow this call."""


class NotFound(EngramError):
    """404: the space, collection, document or other resource does not exist."""


class Conflict(EngramError):
    """409: a precondition on versions failed (``expect``, expected stream version)."""


class PreconditionFailed(EngramError):
    """412: an ``If-Match`` / ``If-None-Match`` condition failed."""


class TooLarge(EngramError):
    """413: a body or value exceeds a named limit."""


class RateLimited(EngramError):
    """429: too many requests; ``retry_after`` seconds is when to try again."""

    @property
    def retry_after(self) -> float | None:
        value = self.problem.get("retry_after")
        return float(value) if isinstance(value, (int, float)) else None


class Unavailable(EngramError):
    """503: overloaded, timed out, or a backend is down; retry later."""


class TransportError(EngramError):
    """The call never got an answer (connection refused, closed engine…)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, {"type": "transport", "title": "no answer", "detail": message})


_BY_STATUS: dict[int, type[EngramError]] = {
    400: InvalidInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    413: TooLarge,
    422: InvalidInput,
    429: RateLimited,
    503: Unavailable,
}


def from_problem(status: int, problem: dict[str, Any]) -> EngramError:
    """The exception for a problem answer."""
    return _BY_STATUS.get(status, EngramError)(status, problem)
