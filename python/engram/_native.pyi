"""The engine in-process (Rust). Use :func:`engram.open` instead."""

RESPONSE_BYTES_MAX: int

class Engine:
    def __init__(self, path: str) -> None: ...
    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: list[tuple[str, str]] = ...,
    ) -> tuple[int, list[tuple[str, str]], bytes]: ...
    def noop(self) -> None: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
