"""`engram mcp` driven by the official MCP client (PyPI ``mcp``) as an agent
host would: over stdio (a data directory in the server's process, or a
remote Engram server) and over streamable HTTP with an API key."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any, AsyncIterator, Callable

import pytest

mcp = pytest.importorskip("mcp", reason="the MCP tests need the PyPI package mcp") if not os.environ.get("CI") else __import__("mcp")
from mcp import Client, StdioServerParameters  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared._httpx_utils import create_mcp_http_client  # noqa: E402

from conftest import require_binary  # noqa: E402

TOOLS = {
    "remember", "recall", "get", "update", "forget", "link", "neighbors",
    "assert_fact", "query_facts", "append_episode", "read_episode",
}


def _engram() -> str:
    return str(require_binary())


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    """A tool's JSON answer; fails the test on a tool error."""
    result = await client.call_tool(tool, arguments)
    text = result.content[0].text
    assert not result.is_error, f"{tool} failed: {text}"
    return json.loads(text)


async def refused(client: Client, tool: str, **arguments: Any) -> str:
    """The refusal text of a tool call that must fail."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} should have failed: {result.content[0].text}"
    return result.content[0].text


async def agent_session(client: Client) -> None:
    """What an agent does with its memory, checked step by step."""
    listed = await client.list_tools()
    names = {t.name for t in listed.tools}
    assert TOOLS <= names, names
    recall_tool = next(t for t in listed.tools if t.name == "recall")
    assert "query" in recall_tool.input_schema["properties"]
    assert len(recall_tool.description) > 40

    paris = await call(client, "remember", text="The user moved to Paris in 2024", metadata={"topic": "home", "importance": 5})
    await call(client, "remember", text="The user likes strong black coffee", metadata={"topic": "food", "importance": 2})
    await call(client, "remember", id="trip", text="Planning a trip to Kyoto next spring", metadata={"topic": "travel"})

    found = await call(client, "recall", query="where does the user live Paris")
    assert found["memories"][0]["id"] == paris["id"]
    assert found["memories"][0]["memory"]["text"].startswith("The user moved")
    filtered = await call(client, "recall", query="user", filter={"importance": {"$gte": 3}}, k=10)
    assert [m["id"] for m in filtered["memories"]] == [paris["id"]]

    got = await call(client, "get", id="trip")
    assert got["body"]["topic"] == "travel" and got["version"] == 1
    await call(client, "update", id="trip", text="Trip to Kyoto moved to autumn", metadata={"topic": None, "status": "planned"})
    got = await call(client, "get", id="trip")
    assert got["body"] == {"text": "Trip to Kyoto moved to autumn", "status": "planned"}

    await call(client, "link", **{"from": paris["id"], "to": "trip", "relation": "related_to"})
    near = await call(client, "neighbors", id=paris["id"])
    assert [n["node"]["id"] for n in near["nodes"]] == ["trip"]

    await call(client, "assert_fact", subject="user", predicate="lives_in", object="Lyon", functional=True)
    await call(client, "assert_fact", subject="user", predicate="lives_in", object="Paris", functional=True)
    now = await call(client, "query_facts", subject="user", predicate="lives_in")
    assert [f["object"]["value"] for f in now["facts"]] == ["Paris"]
    history = await call(client, "query_facts", subject="user", predicate="lives_in", history=True)
    assert {f["object"]["value"] for f in history["facts"]} == {"Lyon", "Paris"}

    appended = await call(
        client, "append_episode", episode="session-1",
        events=[{"type": "user_said", "data": {"text": "hi"}}, {"type": "agent_said", "data": {"text": "hello"}}],
    )
    assert appended["length"] == 2
    latest = await call(client, "read_episode", episode="session-1", limit=1, latest_first=True)
    assert [e["type"] for e in latest["events"]] == ["agent_said"]

    await call(client, "forget", id="trip")
    assert "not-found" in await refused(client, "get", id="trip")
    again = await call(client, "recall", query="Kyoto trip")
    assert all(m["id"] != "trip" for m in again["memories"])
    assert "invalid edge type" in (await refused(client, "link", **{"from": paris["id"], "to": paris["id"], "relation": "bad relation!"}))


def run(session: Callable[[], Any]) -> None:
    asyncio.run(asyncio.wait_for(session(), timeout=120))


def test_stdio_on_a_data_directory(tmp_path: pathlib.Path) -> None:
    params = StdioServerParameters(command=_engram(), args=["mcp", "--data-dir", str(tmp_path / "d"), "--space", "agent-1"])

    async def session() -> None:
        async with Client(params) as client:
            await agent_session(client)

    run(session)
    # The memories are in the directory, in the space the server was given.
    import engram

    with engram.open(tmp_path / "d") as db:
        assert db.space("agent-1", create=False).collection("memories").count() == 2


def test_stdio_on_a_remote_server(server) -> None:  # type: ignore[no-untyped-def]
    args = ["mcp", "--server", server.url, "--key", server.key, "--space", "agent-" + secrets.token_hex(4)]
    params = StdioServerParameters(command=_engram(), args=args)

    async def session() -> None:
        async with Client(params) as client:
            await agent_session(client)

    run(session)


class HttpMcp:
    """`engram mcp --http` on a data directory, with an admin key."""

    def __init__(self, data_dir: pathlib.Path) -> None:
        self.key = "mcp-admin-" + secrets.token_hex(12)
        self.process = subprocess.Popen(
            [_engram(), "mcp", "--http", "127.0.0.1:0", "--data-dir", str(data_dir), "--admin-key", self.key, "--space", "agent-http"],
            stdout=subprocess.PIPE, stderr=sys.stderr, text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert "listening on" in line, line
        self.url = line.split("listening on ", 1)[1].split()[0]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


@pytest.fixture
def http_mcp(tmp_path: pathlib.Path) -> AsyncIterator[HttpMcp]:
    srv = HttpMcp(tmp_path / "d")
    yield srv  # type: ignore[misc]
    srv.stop()


def test_streamable_http_with_a_key(http_mcp: HttpMcp) -> None:
    async def session() -> None:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {http_mcp.key}"})
        async with http, Client(streamable_http_client(http_mcp.url, http_client=http)) as client:
            await agent_session(client)

    run(session)


def test_streamable_http_refuses_missing_and_wrong_keys(http_mcp: HttpMcp) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}).encode()
    request = urllib.request.Request(http_mcp.url, data=body, headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=10)
    assert e.value.code == 401

    async def session() -> None:
        http = create_mcp_http_client(headers={"Authorization": "Bearer egk_not_a_real_key"})
        async with http, Client(streamable_http_client(http_mcp.url, http_client=http)) as client:
            # The protocol works; every tool is refused by the engine's key check.
            assert "unauthorized" in await refused(client, "recall", query="anything")

    run(session)


def test_hybrid_recall_with_vectors(tmp_path: pathlib.Path) -> None:
    """With --vector-dims, remember stores a vector and recall fuses it
    with the words (hybrid search)."""
    args = ["mcp", "--data-dir", str(tmp_path / "d"), "--space", "agent-v", "--vector-dims", "3"]
    params = StdioServerParameters(command=_engram(), args=args)

    async def session() -> None:
        async with Client(params) as client:
            a = await call(client, "remember", text="notes about the garden", vector=[1.0, 0.0, 0.0])
            b = await call(client, "remember", text="notes about the kitchen", vector=[0.0, 1.0, 0.0])
            # No word matches: the vector alone ranks.
            near_b = await call(client, "recall", query="zebra", vector=[0.1, 0.9, 0.0], k=2)
            assert [m["id"] for m in near_b["memories"]] == [b["id"], a["id"]]
            near_a = await call(client, "recall", query="zebra", vector=[0.9, 0.1, 0.0], k=2)
            assert [m["id"] for m in near_a["memories"]] == [a["id"], b["id"]]
            # Words and vector agree on the kitchen: it leads.
            both = await call(client, "recall", query="kitchen", vector=[0.0, 1.0, 0.0], k=2)
            assert [m["id"] for m in both["memories"]][0] == b["id"]
            assert all("embedding" not in m["memory"] for m in near_a["memories"])
            assert "dimensions" in await refused(client, "remember", text="bad", vector=[1.0, 0.0])

    run(session)


def test_recall_by_meaning_with_an_engine_embedder(tmp_path: pathlib.Path) -> None:
    """With --embedder, remember stores text only (the engine embeds it)
    and recall finds a memory by meaning from the query alone."""
    from conftest import minilm_dir

    args = [
        "mcp", "--data-dir", str(tmp_path / "d"), "--space", "agent-e",
        "--embedder", f"minilm=local:{minilm_dir()}",
    ]
    params = StdioServerParameters(command=_engram(), args=args)

    async def session() -> None:
        async with Client(params) as client:
            pet = await call(client, "remember", text="The user's dog is a golden retriever named Biscuit.")
            await call(client, "remember", text="The user prefers aisle seats on long flights.")
            await call(client, "remember", text="The quarterly report is due on Friday.")
            # No word in common with the pet memory: found by meaning.
            found = await call(client, "recall", query="what kind of puppy do they have?", k=1)
            assert found["memories"][0]["id"] == pet["id"], found
            assert "embedding" not in found["memories"][0]["memory"]

    run(session)
