"""The fast paths for ids and path segments agree with the standard
library on every string (they only skip work)."""

from __future__ import annotations

import json
import random
import urllib.parse

import pytest

from engram._call import seg

ALPHABET = 'ab/"\\,[]%é ~-._\t\x00\u2028{}:'


def strings(n: int) -> list[str]:
    rng = random.Random(5)
    return [s for s in ("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 8))) for _ in range(n)) if s]


def test_segments_are_quoted_as_urllib_quotes_them() -> None:
    for name in strings(3000) + ["abc", "a/b", '["x","y"]', "é/ü", "a b%", "~-._"]:
        assert seg(name) == urllib.parse.quote(name, safe=""), name


def test_langgraph_ids_are_the_json_arrays() -> None:
    store = pytest.importorskip("engram.langgraph.store", reason="needs langgraph")
    words = strings(3000) + ['"', '","', ""]
    rng = random.Random(9)
    for _ in range(3000):
        parts = [rng.choice(words) for _ in range(rng.randint(1, 4))]
        expected = json.dumps(parts, ensure_ascii=True, separators=(",", ":"))
        if len(expected) <= 256:
            assert store.doc_id(*parts) == expected, parts
