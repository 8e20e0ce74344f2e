"""What differs between the modes: an embedded directory's ownership and
persistence; a remote server's keys."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

import engram


def test_embedded_data_survives_close_and_reopen(tmp_path: pathlib.Path) -> None:
    with engram.open(tmp_path / "d") as db:
        db.space("s").collection("c").put("a", {"v": 1})
    with engram.open(tmp_path / "d") as db:
        assert db.space("s", create=False).collection("c").get("a")["body"] == {"v": 1}


def test_embedded_directory_is_held_by_one_process(tmp_path: pathlib.Path) -> None:
    with engram.open(tmp_path / "d") as db:
        db.space("s")
        probe = "import engram, sys; engram.open(sys.argv[1])"
        other = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "d")], capture_output=True, text=True)
        assert other.returncode != 0
        assert "held" in other.stderr or "lock" in other.stderr, other.stderr


def test_embedded_write_survives_kill(tmp_path: pathlib.Path) -> None:
    # A returned write is durable: the writer is killed (SIGKILL) without closing.
    script = (
        "import engram, os, sys, signal\n"
        "db = engram.open(sys.argv[1])\n"
        "db.space('s').collection('c').put('a', {'v': 42})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(tmp_path / "d")])
    assert killed.returncode == -9
    with engram.open(tmp_path / "d") as db:
        assert db.space("s", create=False).collection("c").get("a")["body"] == {"v": 42}


def test_closed_engine_refuses_calls(tmp_path: pathlib.Path) -> None:
    db = engram.open(tmp_path / "d")
    db.close()
    with pytest.raises(engram.TransportError) as e:
        db.spaces()
    assert "closed" in e.value.detail


def test_binding_overhead_call_exists(tmp_path: pathlib.Path) -> None:
    with engram.open(tmp_path / "d") as db:
        transport = db._transport
        assert isinstance(transport, engram.transport.NativeTransport)
        transport.noop()


def test_remote_keys_are_scoped_to_their_space(server) -> None:  # type: ignore[no-untyped-def]
    admin = engram.connect(server.url, server.key)
    admin.space("tenant-a").collection("c").put("x", {"secret": 1})
    admin.space("tenant-b")
    created = admin.create_key("a-writer", role="write", space="tenant-a")
    scoped = engram.connect(server.url, created["key"])
    assert scoped.space("tenant-a", create=False).collection("c").get("x")["body"] == {"secret": 1}
    with pytest.raises(engram.Forbidden):
        scoped.space("tenant-b", create=False).collection("c").put("y", {})
    with pytest.raises(engram.Unauthorized):
        engram.connect(server.url, "egk_wrong").spaces()
    admin.revoke_key(created["id"])
    with pytest.raises(engram.Unauthorized):
        scoped.space("tenant-a", create=False).collection("c").get("x")


def test_remote_unreachable_server_is_a_transport_error() -> None:
    db = engram.connect("http://127.0.0.1:9", "k")
    with pytest.raises(engram.TransportError):
        db.spaces()
