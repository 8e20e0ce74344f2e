"""Engram from Python: documents, queries, transactions, search, graph,
facts, streams, queues, objects and the change log, in one storage engine.

``engram.open(path)`` runs the engine in this process on a data directory;
``engram.connect(url, key)`` talks to an ``engram serve`` server. Both
return an :class:`Engram` with the same API and the same errors
(:class:`EngramError` and its subclasses, carrying the problem type and
HTTP status). ``engram.aio`` has the ``asyncio`` variants.
"""

from . import aio
from .client import Engram, connect, open
from .collection import Collection
from .errors import (
    Conflict,
    EngramError,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    RateLimited,
    TooLarge,
    TransportError,
    Unauthorized,
    Unavailable,
)
from .kinds import Queue, Stream
from .space import Space, node
from .transaction import Transaction

__all__ = [
    "Collection",
    "Conflict",
    "Engram",
    "EngramError",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PreconditionFailed",
    "Queue",
    "RateLimited",
    "Space",
    "Stream",
    "TooLarge",
    "Transaction",
    "TransportError",
    "Unauthorized",
    "Unavailable",
    "aio",
    "connect",
    "node",
    "open",
]
