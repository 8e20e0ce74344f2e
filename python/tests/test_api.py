"""The Python API, embedded and remote alike (the ``db`` fixture runs each
test both ways)."""

from __future__ import annotations

import threading

import pytest

import engram
from engram import node


def test_spaces_are_created_listed_and_deleted(db: engram.Engram) -> None:
    name = "sp-" + threading.current_thread().name.replace(" ", "")[:8].lower() + "x"
    db.create_space(name)
    with pytest.raises(engram.Conflict):
        db.create_space(name)
    db.create_space(name, exist_ok=True)
    assert name in [s["name"] for s in db.spaces()]
    db.delete_space(name)
    assert name not in [s["name"] for s in db.spaces()]
    with pytest.raises(engram.NotFound) as e:
        db.space(name, create=False).info()
    assert e.value.status == 404 and "not-found" in e.value.type


def test_document_writes_reads_and_versions(space: engram.Space) -> None:
    notes = space.collection("notes")
    first = notes.put("n1", {"text": "hello", "n": 1})
    assert (first["version"], first["id"]) == (1, "n1")
    assert notes.get("n1") == {"id": "n1", "version": 1, "body": {"text": "hello", "n": 1}}
    assert notes.get("missing") is None
    notes.patch("n1", {"n": 2, "tag": "x"})
    assert notes.get("n1")["body"] == {"text": "hello", "n": 2, "tag": "x"}
    notes.patch("n1", {"tag": None})
    assert "tag" not in notes.get("n1")["body"]
    with pytest.raises(engram.Conflict):
        notes.put("n1", {"text": "again"}, expect="absent")
    with pytest.raises(engram.Conflict):
        notes.put("n1", {"text": "stale"}, expect={"version": 1})
    assert notes.put("n1", {"text": "fresh"}, expect={"version": 3})["version"] == 4
    created = notes.insert({"text": "generated id"})
    assert notes.get(created["id"])["body"] == {"text": "generated id"}
    notes.delete("n1")
    assert notes.get("n1") is None
    with pytest.raises(engram.NotFound):
        notes.delete("n1")


def test_bad_input_raises_with_the_problem(space: engram.Space) -> None:
    notes = space.collection("notes")
    notes.put("a", {"n": 1})
    with pytest.raises(engram.InvalidInput) as e:
        notes.query({"n": {"$gt": {"nested": 1}}})
    assert e.value.status == 400
    assert "filter" in e.value.detail
    with pytest.raises(engram.InvalidInput):
        notes.put("x" * 300, {"a": 1})
    with pytest.raises(engram.InvalidInput) as e:
        notes.define({"indexs": []})
    assert "indexs" in e.value.detail


def test_query_pages_by_cursor_count_and_exists(space: engram.Space) -> None:
    tasks = space.collection("tasks")
    tasks.define(indexes=[{"name": "by_status", "paths": ["status", "rank"]}])
    tasks.bulk_put({f"t{i:03}": {"status": "open" if i % 3 else "done", "rank": i} for i in range(120)})
    assert tasks.count() == 120
    assert tasks.count({"status": "done"}) == 40
    assert tasks.exists({"rank": {"$gte": 119}})
    assert not tasks.exists({"rank": {"$gt": 119}})
    page = tasks.query({"status": "open"}, sort=[{"field": "rank", "order": "desc"}], limit=7)
    assert [d["body"]["rank"] for d in page["documents"]] == [119, 118, 116, 115, 113, 112, 110]
    seen = [d["id"] for d in tasks.find({"status": "open"}, page_size=9)]
    assert len(seen) == 80 and len(set(seen)) == 80
    tasks.bulk_delete([f"t{i:03}" for i in range(10)])
    assert tasks.count() == 110
    # Reads by id in bulk, past one request's 1,000 ids; missing ids are left out.
    wanted = [f"t{i:03}" for i in range(120)] + ["nope"] + [f"x{i}" for i in range(1000)]
    got = tasks.get_many(wanted)
    assert sorted(got) == [f"t{i:03}" for i in range(10, 120)]
    assert got["t050"]["body"] == {"status": "open", "rank": 50}
    assert space.collection("no-such").get_many(["a"]) == {}


def test_transactions_are_atomic_across_kinds(space: engram.Space) -> None:
    with space.transaction() as tx:
        tx.put("people", "ada", {"name": "Ada"})
        tx.put("people", "bob", {"name": "Bob"})
        tx.link(node("people", "ada"), node("people", "bob"), "knows", weight=0.5)
        tx.append("episodes", [{"type": "met", "data": {"who": "bob"}}])
        tx.enqueue("work", {"greet": "bob"})
        tx.publish("people.changed", {"id": "ada"})
    assert tx.result is not None and len(tx.result["results"]) >= 2
    # A refused operation rolls the whole transaction back.
    failing = space.transaction()
    failing.put("people", "cyd", {"name": "Cyd"})
    failing.enqueue("work", {"greet": "cyd"})
    failing.put("people", "ada", {"name": "Ada 2"}, expect="absent")
    with pytest.raises(engram.Conflict):
        failing.commit()
    assert space.collection("people").get("cyd") is None
    messages = space.queue("work").receive(10)
    assert [m["body"] for m in messages] == [{"greet": "bob"}]
    # An exception inside the block commits nothing.
    with pytest.raises(RuntimeError):
        with space.transaction() as tx2:
            tx2.put("people", "dan", {"name": "Dan"})
            raise RuntimeError("stop")
    assert space.collection("people").get("dan") is None


def test_idempotency_key_replays_the_first_result(space: engram.Space) -> None:
    notes = space.collection("notes")
    first = notes.put("k", {"v": 1}, idempotency_key="req-1")
    again = notes.put("k", {"v": 1}, idempotency_key="req-1")
    assert again["replayed"] is True and again["version"] == first["version"] == 1
    with pytest.raises(engram.InvalidInput) as e:
        notes.put("k", {"v": 2}, idempotency_key="req-1")
    assert e.value.status == 422


def test_search_text_vector_and_hybrid(space: engram.Space) -> None:
    docs = space.collection("docs")
    docs.define(
        search={
            "text": [{"path": "title", "boost": 2}, {"path": "body"}],
            "vectors": [{"name": "emb", "dims": 3, "metric": "cosine", "model": {"name": "test", "version": "1"}}],
        }
    )
    docs.bulk_put(
        {
            "a": {"title": "rust storage engine", "body": "durable writes", "emb": [1.0, 0.0, 0.0], "lang": "en"},
            "b": {"title": "python bindings", "body": "the storage engine from python", "emb": [0.0, 1.0, 0.0], "lang": "en"},
            "c": {"title": "cuisine", "body": "recettes", "emb": [0.0, 0.0, 1.0], "lang": "fr"},
        }
    )
    text = docs.search("storage engine", k=5)
    assert [h["id"] for h in text["hits"]][:2] == ["a", "b"]
    knn = docs.search(vector=[0.1, 0.9, 0.0], k=1)
    assert [h["id"] for h in knn["hits"]] == ["b"]
    assert knn["plan"]["vector"] in ("hnsw", "exact")
    filtered = docs.search(vector=[0.0, 0.0, 1.0], k=3, filter={"lang": "en"})
    assert {h["id"] for h in filtered["hits"]} == {"a", "b"}
    hybrid = docs.search("python", vector=[0.0, 1.0, 0.0], k=2)
    assert hybrid["hits"][0]["id"] == "b"


def test_graph_links_neighbors_and_paths(space: engram.Space) -> None:
    people = space.collection("people")
    people.bulk_put({p: {"name": p} for p in ["a", "b", "c", "d"]})
    for x, y in [("a", "b"), ("b", "c"), ("c", "d")]:
        space.link(node("people", x), node("people", y), "knows")
    near = space.neighbors(node("people", "a"), depth=2)
    assert {n["node"]["id"] for n in near["nodes"]} == {"b", "c"}
    path = space.path(node("people", "a"), node("people", "d"))
    assert path["found"] is True
    assert [n["id"] for n in path["nodes"]] == ["a", "b", "c", "d"]
    with pytest.raises(engram.EngramError) as e:
        space.link(node("people", "a"), node("people", "ghost"), "knows")
    assert 400 <= e.value.status < 500
    space.unlink(node("people", "a"), node("people", "b"), "knows")
    assert space.neighbors(node("people", "a"))["nodes"] == []


def test_facts_supersede_functional_values(space: engram.Space) -> None:
    space.collection("people").put("ada", {"name": "Ada"})
    space.assert_fact(node("people", "ada"), "lives_in", {"value": "London"}, functional=True)
    space.assert_fact(node("people", "ada"), "lives_in", {"value": "Paris"}, functional=True)
    now = space.facts(subject=node("people", "ada"), predicate="lives_in")["facts"]
    assert [f["object"]["value"] for f in now] == ["Paris"]
    every = space.facts(subject=node("people", "ada"), predicate="lives_in", all_valid_times=True)["facts"]
    assert len(every) >= 2
    space.retract(now[0]["id"])
    assert space.facts(subject=node("people", "ada"), predicate="lives_in")["facts"] == []


def test_streams_append_read_and_expected_versions(space: engram.Space) -> None:
    episode = space.stream("agent/session-1")
    assert episode.info() is None
    done = episode.append([{"type": "said", "data": {"n": i}} for i in range(5)], expected_version="no_stream")
    assert done["version"] == 5
    with pytest.raises(engram.Conflict):
        episode.append([{"type": "said", "data": {}}], expected_version={"exact": 3})
    forward = episode.read(limit=3)
    assert [e["data"]["n"] for e in forward["events"]] == [0, 1, 2]
    backward = episode.read(direction="backward", limit=2)
    assert [e["data"]["n"] for e in backward["events"]] == [4, 3]
    episode.save_snapshot(5, {"count": 5})
    assert episode.snapshot()["state"] == {"count": 5}
    assert episode.info()["version"] == 5


def test_queue_lease_ack_nack_and_dead_letters(space: engram.Space) -> None:
    q = space.queue("jobs")
    q.configure(max_attempts=2, retry_base_ms=1, retry_max_ms=2)
    first = q.enqueue({"job": 1}, dedup_key="one")
    assert q.enqueue({"job": "dup"}, dedup_key="one") == first
    q.enqueue({"job": 2}, priority=9)
    got = q.receive(2, visibility_timeout_seconds=30)
    assert [m["body"] for m in got] == [{"job": 2}, {"job": 1}]
    q.ack(got[0]["receipt"])
    q.nack(got[1]["receipt"], delay_seconds=0)
    again = q.receive(1, wait_seconds=2)
    assert again[0]["body"] == {"job": 1} and again[0]["attempts"] == 2
    q.nack(again[0]["receipt"], delay_seconds=0, error="boom")
    assert q.receive(1) == []
    dead = q.dead_letters()
    assert len(dead) == 1
    assert q.redrive() == 1
    assert q.receive(1)[0]["body"] == {"job": 1}
    assert q.stats()["in_flight"] == 1


def test_objects_round_trip_with_ranges_and_conditions(space: engram.Space) -> None:
    data = bytes(range(256)) * 100
    put = space.put_object("files/a.bin", data, content_type="application/x-test", metadata={"owner": "ada"})
    assert put["size"] == len(data)
    assert space.get_object("files/a.bin") == data
    assert space.get_object("files/a.bin", range=(10, 19)) == data[10:20]
    head = space.head_object("files/a.bin")
    assert head is not None and head["content-type"] == "application/x-test"
    assert head["x-engram-meta-owner"] == "ada"
    with pytest.raises(engram.PreconditionFailed):
        space.put_object("files/a.bin", b"other", if_none_match=True)
    space.copy_object("files/a.bin", "files/b.bin")
    listed = space.list_objects(prefix="files/")
    assert [o["key"] for o in listed["objects"]] == ["files/a.bin", "files/b.bin"]
    space.delete_object("files/a.bin")
    assert space.head_object("files/a.bin") is None
    assert space.get_object("files/b.bin") == data
    blob = space.stage_blob(b"in a transaction")
    with space.transaction() as tx:
        tx.put("notes", "with-file", {"file": "files/c.txt"})
        tx.put_object("files/c.txt", blob, content_type="text/plain")
    assert space.get_object("files/c.txt") == b"in a transaction"


def test_change_log_feed_and_chain(space: engram.Space) -> None:
    notes = space.collection("notes")
    for i in range(5):
        notes.put(f"n{i}", {"i": i})
    entries = list(space.iter_changes(page_size=2))
    positions = [e["position"] for e in entries]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert [e["doc_id"] for e in entries if e["op"] == "put"] == [f"n{i}" for i in range(5)]
    report = space.verify_changes()
    assert report["entries"] == len(entries) and report["head_position"] == positions[-1]
    assert report["head_hash"] == entries[-1]["hash"]
    feed = space.feed(after=0, collections=["notes"], include_documents=True)
    assert [e["document"]["i"] for e in feed["entries"]] == list(range(5))
    # A long poll wakes on a write.
    waiting: dict = {}

    def poll() -> None:
        waiting["page"] = space.feed(after=feed["next_after"], collections=["notes"], wait_seconds=10)

    t = threading.Thread(target=poll)
    t.start()
    notes.put("late", {"i": 99})
    t.join(15)
    assert [e["id"] for e in waiting["page"]["entries"]] == ["late"]


def test_audit_entries_name_their_actor_and_receipts_verify(space: engram.Space) -> None:
    notes = space.collection("notes")
    for i in range(3):
        notes.put(f"a{i}", {"i": i})
    entries = list(space.iter_changes())
    # Embedded calls are the library's own; remote ones name their key.
    actors = {e["actor"] for e in entries}
    assert len(actors) == 1 and (actors == {"local"} or next(iter(actors)).startswith("key:")), actors
    assert all(e["request_id"] for e in entries)
    head = entries[-1]["position"]
    checkpoint = space.checkpoint()
    assert checkpoint["tree_size"] == head and checkpoint["head_hash"] == entries[-1]["hash"]
    receipt = space.receipt(2)
    assert receipt["entry"]["position"] == 2 and receipt["checkpoint"]["tree_size"] == head
    assert receipt["entry"]["hash"] == entries[1]["hash"] and receipt["inclusion_proof"]
    proof = space.audit_consistency(2)
    assert proof["old_size"] == 2 and proof["new_size"] == head
    report = space.audit_verify()
    assert report["head_position"] == head and report["documents"] >= 3
    with pytest.raises(engram.EngramError) as bad:
        space.receipt(head + 10)
    assert bad.value.status == 404


def test_threads_share_one_connection(space: engram.Space) -> None:
    notes = space.collection("notes")
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(25):
                notes.put(f"w{w}-{i}", {"w": w, "i": i})
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert notes.count() == 200


def test_asyncio_variant(db: engram.Engram) -> None:
    import asyncio
    import uuid

    async def main() -> None:
        adb = engram.aio.AsyncEngram(db)
        space = await adb.space("async-" + uuid.uuid4().hex[:8])
        notes = space.collection("notes")
        await notes.put("a", {"v": 1})
        got = await asyncio.gather(*(notes.get("a") for _ in range(10)))
        assert all(g["body"] == {"v": 1} for g in got)
        async with space.transaction() as tx:
            tx.put("notes", "b", {"v": 2}).enqueue("q", {"b": True})
        assert (await notes.count()) == 2
        assert [d["id"] async for d in notes.find(page_size=1)] == ["a", "b"]
        assert [m["body"] for m in await space.queue("q").receive(5)] == [{"b": True}]

    asyncio.run(main())
