"""Fixtures: every API test runs twice, embedded (``engram.open``) and
remote (``engram.connect`` to a real ``engram serve`` on loopback).

The server binary is ``$ENGRAM_BIN`` or the workspace's
``target/debug/engram``. Without it the remote tests fail when
``ENGRAM_REQUIRE_SERVER=1`` (as in ``.ci/run``) and are skipped with a
message otherwise.
"""

from __future__ import annotations

import os
import pathlib
import secrets
import subprocess
import sys
import uuid
from typing import Iterator

import pytest

import engram

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _binary() -> pathlib.Path | None:
    named = os.environ.get("ENGRAM_BIN")
    path = pathlib.Path(named) if named else ROOT / "target" / "debug" / "engram"
    return path if path.is_file() else None


class Server:
    """A running ``engram serve`` with an admin key."""

    def __init__(self, binary: pathlib.Path, data_dir: pathlib.Path, extra: list[str] | None = None) -> None:
        self.key = "egtest_" + secrets.token_hex(16)
        self.process = subprocess.Popen(
            [str(binary), "serve", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0",
             "--admin-key", self.key, "--rate-limit-per-key", "0", *(extra or [])],
            stdout=subprocess.PIPE,
            stderr=sys.stderr,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if "listening on" in line:
                self.url = line.split("listening on ", 1)[1].split()[0]
                break
        else:
            raise RuntimeError(f"engram serve exited with {self.process.wait()} before listening")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def require_binary() -> pathlib.Path:
    """The engram binary; without it, fails under ENGRAM_REQUIRE_SERVER=1
    and skips (with the reason) otherwise."""
    binary = _binary()
    if binary is None:
        message = "no engram binary (set ENGRAM_BIN or run `cargo build`): these tests run it"
        if os.environ.get("ENGRAM_REQUIRE_SERVER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return binary


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(require_binary(), tmp_path_factory.mktemp("server-data"))
    yield srv
    srv.stop()


def minilm_dir() -> str:
    """all-MiniLM-L6-v2's directory (``scripts/ensure-minilm``); without it,
    fails under ENGRAM_REQUIRE_SERVER=1 and skips otherwise."""
    path = os.environ.get("ENGRAM_MINILM_DIR")
    if not path:
        message = "ENGRAM_MINILM_DIR is not set (export ENGRAM_MINILM_DIR=$(bash scripts/ensure-minilm))"
        if os.environ.get("ENGRAM_REQUIRE_SERVER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def embed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with the local MiniLM embedder configured as ``minilm``."""
    extra = ["--embedder", f"minilm=local:{minilm_dir()}"]
    srv = Server(require_binary(), tmp_path_factory.mktemp("embed-server-data"), extra)
    yield srv
    srv.stop()


@pytest.fixture(params=["embedded", "remote"])
def embed_db(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[engram.Engram]:
    """An Engram connection whose engine has the ``minilm`` embedder."""
    if request.param == "embedded":
        conn = engram.open(tmp_path / "data", embedders=[f"minilm=local:{minilm_dir()}"])
    else:
        srv: Server = request.getfixturevalue("embed_server")
        conn = engram.connect(srv.url, srv.key)
    yield conn
    conn.close()


@pytest.fixture(params=["embedded", "remote"])
def db(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[engram.Engram]:
    """An Engram connection, embedded in a fresh directory or remote."""
    if request.param == "embedded":
        conn = engram.open(tmp_path / "data")
    else:
        srv: Server = request.getfixturevalue("server")
        conn = engram.connect(srv.url, srv.key)
    yield conn
    conn.close()


@pytest.fixture
def space(db: engram.Engram) -> engram.Space:
    """A new space of its own (the remote server is shared by the tests)."""
    return db.space("t-" + uuid.uuid4().hex[:12])


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    """Prints how many tests passed in each mode (the CI log shows both ran)."""
    passed = terminalreporter.stats.get("passed", [])
    counts = {"embedded": 0, "remote": 0, "other": 0}
    for report in passed:
        mode = "embedded" if "[embedded" in report.nodeid else "remote" if "[remote" in report.nodeid else "other"
        counts[mode] += 1
    terminalreporter.write_line(
        f"python tests passed: {counts['embedded']} embedded, {counts['remote']} remote, {counts['other']} in one mode"
    )
