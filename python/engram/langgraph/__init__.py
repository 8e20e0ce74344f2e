"""LangGraph on Engram: :class:`EngramStore` (long-term memory, a
``BaseStore``) and :class:`EngramSaver` (checkpoints, a
``BaseCheckpointSaver``), embedded or remote.

Needs the ``langgraph`` package (``pip install langgraph``)::

    import engram
    from engram.langgraph import EngramSaver, EngramStore

    db = engram.open("engram-data")            # or engram.connect(url, key)
    space = db.space("agents")
    graph = builder.compile(checkpointer=EngramSaver(space), store=EngramStore(space))
"""

from .checkpoint import EngramSaver
from .store import EngramStore

__all__ = ["EngramSaver", "EngramStore"]
