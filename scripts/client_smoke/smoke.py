"""Smoke test of the Python client generated from docs/openapi.json.

Run by scripts/client-smoke with ENGRAM_URL and ENGRAM_KEY set and the
generated package `engram_client` on PYTHONPATH. Every call goes through the
generated functions and models; any unexpected status, type or value fails
the run with a message naming the call.
"""

import json
import os
import sys
from http import HTTPStatus

from engram_client import AuthenticatedClient
from engram_client.api.changes import list_changes
from engram_client.api.collections import get_collection, put_collection
from engram_client.api.documents import (
    delete_document,
    get_document,
    list_documents,
    patch_document,
    put_document,
)
from engram_client.api.facts import assert_fact, query_facts
from engram_client.api.feed import create_consumer, poll_consumer, publish_message
from engram_client.api.queues import ack_messages, enqueue_messages, receive_messages
from engram_client.api.spaces import create_space, get_space
from engram_client.api.streams import append_events, read_events
from engram_client.models import (
    AckRequest,
    AckResult,
    ConsumerInfo,
    EnqueueRequest,
    EnqueueResult,
    FeedFilter,
    FeedPage,
    FeedSource,
    MessageInput,
    NewConsumer,
    PollBody,
    PublishBody,
    Published,
    ReceiveRequest,
    ReceiveResult,
    AppendRequest,
    AppendResult,
    ChangesPage,
    CollectionInfo,
    CollectionSpec,
    Document,
    EventInput,
    EventPage,
    Fact,
    FactInput,
    FactQuery,
    Facts,
    IndexSpec,
    NewSpace,
    Page,
    PatchDocumentBody,
    Problem,
    PutDocumentBody,
    ReadDirection,
    SpaceInfo,
    WriteResult,
)

SPACE = "smoke"
COLL = "tasks"


def expect(what, response, status, model):
    """The response has this status and parsed into this generated model."""
    if response.status_code != status:
        body = response.content.decode(errors="replace")
        raise AssertionError(f"{what}: status {int(response.status_code)}, expected {int(status)}: {body}")
    if not isinstance(response.parsed, model):
        raise AssertionError(f"{what}: parsed as {type(response.parsed).__name__}, expected {model.__name__}")
    return response.parsed


def check(what, condition, detail=""):
    if not condition:
        raise AssertionError(f"{what}: {detail}")


def spaces(c):
    created = expect("create space", create_space.sync_detailed(client=c, body=NewSpace(name=SPACE)),
                     HTTPStatus.CREATED, SpaceInfo)
    check("create space", created.name == SPACE, created)
    expect("get space", get_space.sync_detailed(SPACE, client=c), HTTPStatus.OK, SpaceInfo)


def collection(c):
    spec = CollectionSpec.from_dict({
        "default_ttl_seconds": 3600,
        "indexes": [{"name": "by_status", "paths": ["status"]}],
        "search": {
            "text": [{"path": "title", "boost": 2}],
            "vectors": [{"name": "v", "dims": 2, "metric": "cosine",
                         "model": {"name": "toy", "version": "1"}}],
            "default_vector": "v",
        },
    })
    check("spec model", isinstance(spec.indexes[0], IndexSpec), spec.indexes)
    info = expect("put collection", put_collection.sync_detailed(SPACE, COLL, client=c, body=spec),
                  HTTPStatus.CREATED, CollectionInfo)
    got = expect("get collection", get_collection.sync_detailed(SPACE, COLL, client=c), HTTPStatus.OK,
                 CollectionInfo)
    check("spec round trip", got.spec.to_dict() == info.spec.to_dict(), got.spec.to_dict())
    check("search spec", got.spec.to_dict()["search"]["default_vector"] == "v", got.spec.to_dict())


def documents(c):
    for i, status in enumerate(["open", "done", "open", "open"]):
        body = PutDocumentBody.from_dict({"title": f"task {i}", "status": status, "n": i, "v": [1.0, float(i)]})
        r = put_document.sync_detailed(SPACE, COLL, f"t{i}", client=c, body=body, ttl_seconds=600)
        expect(f"put t{i}", r, HTTPStatus.CREATED, WriteResult)
    doc = expect("get t1", get_document.sync_detailed(SPACE, COLL, "t1", client=c), HTTPStatus.OK, Document)
    check("get t1", doc.body.to_dict()["status"] == "done", doc.body.to_dict())
    check("ttl_seconds is a query parameter", doc.expires_at_ms is not None, doc)
    patched = expect("patch t1", patch_document.sync_detailed(
        SPACE, COLL, "t1", client=c, body=PatchDocumentBody.from_dict({"status": "open", "n": None})),
        HTTPStatus.OK, WriteResult)
    check("patch t1", patched.version == 2, patched)
    doc = expect("get patched", get_document.sync_detailed(SPACE, COLL, "t1", client=c), HTTPStatus.OK, Document)
    check("merge patch", "n" not in doc.body.to_dict() and doc.body.to_dict()["status"] == "open", doc.body)
    expect("delete t3", delete_document.sync_detailed(SPACE, COLL, "t3", client=c), HTTPStatus.OK, WriteResult)


def query(c):
    page = expect("list documents", list_documents.sync_detailed(
        SPACE, COLL, client=c, filter_=json.dumps({"status": "open"}), sort="-n", limit=1), HTTPStatus.OK, Page)
    ids = [d.id for d in page.documents]
    check("filter, sort and limit", ids == ["t2"], ids)
    check("a next cursor", isinstance(page.next_cursor, str), page)
    rest = expect("next page", list_documents.sync_detailed(
        SPACE, COLL, client=c, filter_=json.dumps({"status": "open"}), sort="-n", limit=5,
        cursor=page.next_cursor), HTTPStatus.OK, Page)
    # t1 lost `n` to the merge patch; a missing field sorts below numbers.
    check("cursor", [d.id for d in rest.documents] == ["t0", "t1"], [d.id for d in rest.documents])


def changes(c):
    first = expect("changes", list_changes.sync_detailed(SPACE, client=c, after=0, limit=2), HTTPStatus.OK,
                   ChangesPage)
    check("limit", len(first.entries) == 2, first.entries)
    nxt = expect("changes after", list_changes.sync_detailed(SPACE, client=c, after=first.next_after, limit=100),
                 HTTPStatus.OK, ChangesPage)
    positions = [e.to_dict()["position"] for e in nxt.entries]
    check("after", positions and positions[0] == first.next_after + 1, positions)


def facts(c):
    fact = FactInput.from_dict({"subject": {"collection": COLL, "id": "t0"}, "predicate": "estimate",
                                "object": {"value": [3, "days"]}})
    made = expect("assert fact", assert_fact.sync_detailed(SPACE, client=c, body=fact), HTTPStatus.CREATED, Fact)
    check("a non-object value", made.object_.to_dict() == {"value": [3, "days"]}, made.object_)
    q = FactQuery.from_dict({"subject": {"collection": COLL, "id": "t0"}})
    got = expect("query facts", query_facts.sync_detailed(SPACE, client=c, body=q), HTTPStatus.OK, Facts)
    check("query facts", [f.id for f in got.facts] == [made.id], got)


def events(c):
    req = AppendRequest(events=[EventInput(type_=f"step{i}", data=i if i % 2 else {"i": i}) for i in range(4)])
    expect("append", append_events.sync_detailed(SPACE, "run/1", client=c, body=req), HTTPStatus.OK, AppendResult)
    back = expect("read backward", read_events.sync_detailed(
        SPACE, "run/1", client=c, from_version=3, direction=ReadDirection.BACKWARD, limit=2), HTTPStatus.OK,
        EventPage)
    check("version parameters", [e.version for e in back.events] == [3, 2], back.events)
    # Version v holds step v-1: objects at odd versions, numbers at even ones.
    check("any data", back.events[0].data == {"i": 2} and back.events[1].data == 1, back.events)
    timed = expect("read by time", read_events.sync_detailed(SPACE, "run/1", client=c, from_ms=0, limit=10),
                   HTTPStatus.OK, EventPage)
    check("time parameters", len(timed.events) == 4, timed.events)


def queues(c):
    req = EnqueueRequest(messages=[MessageInput(body={"job": i}, priority=i) for i in range(3)])
    made = expect("enqueue", enqueue_messages.sync_detailed(SPACE, "jobs", client=c, body=req), HTTPStatus.OK,
                  EnqueueResult)
    check("three ids", len(made.messages) == 3 and all(not m.deduplicated for m in made.messages), made)
    got = expect("receive", receive_messages.sync_detailed(
        SPACE, "jobs", client=c, body=ReceiveRequest(max_messages=10, wait_seconds=1)), HTTPStatus.OK, ReceiveResult)
    check("priority order", [m.body["job"] for m in got.messages] == [2, 1, 0], got.messages)
    acked = expect("ack", ack_messages.sync_detailed(
        SPACE, "jobs", client=c, body=AckRequest(receipts=[m.receipt for m in got.messages])), HTTPStatus.OK,
        AckResult)
    check("acked", all(r.acked for r in acked.results), acked)


def feed(c):
    expect("create consumer", create_consumer.sync_detailed(
        SPACE, "mailer", client=c, body=NewConsumer(filter_=FeedFilter(source=FeedSource.OUTBOX, topics=["t.a"]))),
        HTTPStatus.CREATED, ConsumerInfo)
    expect("publish", publish_message.sync_detailed(
        SPACE, client=c, body=PublishBody(topic="t.a", payload={"n": 1})), HTTPStatus.CREATED, Published)
    page = expect("poll", poll_consumer.sync_detailed(SPACE, "mailer", client=c, body=PollBody(limit=10)),
                  HTTPStatus.OK, FeedPage)
    check("the outbox message", [e.topic for e in page.entries] == ["t.a"], page.entries)


def problem(c):
    r = get_document.sync_detailed(SPACE, COLL, "absent", client=c)
    err = expect("missing document", r, HTTPStatus.NOT_FOUND, Problem)
    check("problem+json", r.headers.get("content-type") == "application/problem+json", r.headers)
    check("problem type", err.type_ == "urn:engram:problem:not-found", err)


def main():
    c = AuthenticatedClient(base_url=os.environ["ENGRAM_URL"], token=os.environ["ENGRAM_KEY"],
                            raise_on_unexpected_status=True)
    for step in (spaces, collection, documents, query, changes, facts, events, queues, feed, problem):
        step(c)
        print(f"client-smoke: {step.__name__} ok")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"client-smoke: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
