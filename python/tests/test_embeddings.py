"""Embeddings computed by the engine, from Python: a collection whose
vector field has an embedder (all-MiniLM-L6-v2, run by the engine) takes
text only, and searches by meaning from one string; embedded and remote."""

from __future__ import annotations

import uuid

import engram

SPEC = {
    "search": {
        "text": [{"path": "text"}],
        "vectors": [{"name": "emb", "metric": "cosine", "embed": {"from": ["text"], "model": "minilm"}}],
    }
}

NOTES = {
    "cat": "The cat sat on the warm windowsill all afternoon.",
    "rust": "Rust programs compile to fast native code without a garbage collector.",
    "paris": "Paris is the capital of France, on the river Seine.",
    "rain": "Heavy rain is expected across the region tomorrow morning.",
}


def _notes(embed_db: engram.Engram) -> engram.Collection:
    space = embed_db.space("e-" + uuid.uuid4().hex[:12])
    notes = space.collection("notes")
    info = notes.define(SPEC)
    field = info["spec"]["search"]["vectors"][0]
    assert field["dims"] == 384 and field["model"]["name"] == "minilm"
    assert field["model"]["version"].startswith("blake3:")
    for id, text in NOTES.items():
        notes.put(id, {"text": text})
    return notes


def test_writes_carry_text_and_the_engine_stores_the_vector(embed_db: engram.Engram) -> None:
    notes = _notes(embed_db)
    doc = notes.get("cat")
    entry = doc["body"]["emb"]["g1"]
    assert len(entry["vector"]) == 384
    assert entry["model"] == "minilm" and entry["source"].startswith("blake3:")
    status = notes.embeddings()
    assert status["fields"][0]["documents"] == 4 and status["fields"][0]["pending"] == 0


def test_search_by_meaning_from_one_string(embed_db: engram.Engram) -> None:
    notes = _notes(embed_db)
    # No word in common with the note: found by meaning.
    hits = notes.search(vector_text="Which city is the French capital?", k=1)["hits"]
    assert hits[0]["id"] == "paris"
    hits = notes.search(query="a kitten resting by the window", k=2)["hits"]
    assert hits[0]["id"] == "cat"
    hits = notes.search(query="weather forecast: showers", k=1)["hits"]
    assert hits[0]["id"] == "rain"


def test_changed_text_is_embedded_again(embed_db: engram.Engram) -> None:
    notes = _notes(embed_db)
    before = notes.get("rust")["body"]["emb"]["g1"]
    notes.patch("rust", {"text": "Bread is baked in a hot oven."})
    after = notes.get("rust")["body"]["emb"]["g1"]
    assert after["source"] != before["source"] and after["vector"] != before["vector"]
    hits = notes.search(vector_text="baking bread", k=1)["hits"]
    assert hits[0]["id"] == "rust"
