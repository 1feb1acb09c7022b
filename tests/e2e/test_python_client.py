"""segment-analytics-python against the local stack: what MetaRouter receives, end to end."""

from __future__ import annotations

import json
import uuid

import pytest
from segment.analytics import Client

from edge.core.secret import fingerprint

WRITE_KEY = "pk_web_7f3a"


def _send_every_call(client: Client, tag: str) -> dict[str, str]:
    """One call of every type; returns messageId -> type."""
    calls = {
        "identify": lambda mid: client.identify("u-1", {"plan": "pro"}, message_id=mid),
        "track": lambda mid: client.track("u-1", "Order Completed", {"total": 42}, message_id=mid),
        "page": lambda mid: client.page("u-1", "Docs", "Home", {"url": "https://x"}, message_id=mid),
        "screen": lambda mid: client.screen("u-1", "App", "Settings", message_id=mid),
        "group": lambda mid: client.group("u-1", "g-9", {"name": "Acme"}, message_id=mid),
        "alias": lambda mid: client.alias("u-0", "u-1", message_id=mid),
    }
    sent = {}
    for event_type, call in calls.items():
        message_id = f"{tag}-{event_type}-{uuid.uuid4()}"
        ok, _ = call(message_id)
        assert ok
        sent[message_id] = event_type
    return sent


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_every_call_arrives_upstream_enriched_with_its_message_id(stack, gzip):
    client = Client(WRITE_KEY, host=stack.api, gzip=gzip, sync_mode=True, max_retries=1)
    sent = _send_every_call(client, "py-gzip" if gzip else "py")
    received = stack.wait_for(set(sent))
    assert {e["messageId"]: e["type"] for e in received} == sent
    for event in received:
        assert event["context"]["library"]["name"] == "analytics-python"
        assert event["context"]["ip"] == "127.0.0.1"
        assert event["receivedAt"].endswith("Z")
        assert event["sentAt"]
    track = next(e for e in received if e["type"] == "track")
    assert (track["userId"], track["event"], track["properties"]) == ("u-1", "Order Completed", {"total": 42})
    alias = next(e for e in received if e["type"] == "alias")
    assert (alias["previousId"], alias["userId"]) == ("u-0", "u-1")
    assert WRITE_KEY not in json.dumps(stack.received()["events"])
    assert all(r["source"] == fingerprint("LOCAL_SOURCE_ID") for r in stack.received()["requests"])
    assert "LOCAL_SOURCE_ID" not in json.dumps(stack.received())


def test_closed_mode_forwards_with_the_mapped_source_id(closed_stack):
    client = Client("pk_ios_91bc", host=closed_stack.api, sync_mode=True, max_retries=1)
    sent = _send_every_call(client, "closed")
    closed_stack.wait_for(set(sent))
    requests = closed_stack.received()["requests"]
    assert {r["source"] for r in requests if r["status"] == 200} == {fingerprint("SRC_IOS")}
    assert "pk_ios_91bc" not in json.dumps(closed_stack.received()["events"])


def test_closed_mode_refuses_an_unknown_key(closed_stack):
    client = Client("pk_unknown", host=closed_stack.api, sync_mode=True, max_retries=0)
    with pytest.raises(Exception, match=r"401|invalid_write_key"):
        client.track("u-1", "Nope")


def test_upstream_outage_loses_nothing(stack):
    client = Client(WRITE_KEY, host=stack.api, sync_mode=True, max_retries=1)
    stack.faults({"status": 503, "seconds": 4, "retry_after": 1})
    try:
        sent = {}
        for i in range(20):
            message_id = f"outage-{i}-{uuid.uuid4()}"
            ok, _ = client.track("u-1", "During Outage", {"i": i}, message_id=message_id)
            assert ok  # acknowledged while MetaRouter is down: queued, not lost
            sent[message_id] = "track"
        received = stack.wait_for(set(sent), timeout=90)
    finally:
        stack.faults(None)
    assert {e["properties"]["i"] for e in received} == set(range(20))
    failed = [r for r in stack.received()["requests"] if r["status"] == 503]
    assert failed, "the stand-in never answered 503: the outage was not exercised"


def test_poison_event_is_dead_lettered_while_its_batch_mates_arrive(stack):
    client = Client(
        WRITE_KEY, host=stack.api, sync_mode=False, upload_size=10, upload_interval=0.2, max_retries=1
    )
    poison = f"poison-{uuid.uuid4()}"
    good = [f"good-{i}-{uuid.uuid4()}" for i in range(4)]
    stack.faults({"poison": [poison]})
    try:
        for message_id in [good[0], good[1], poison, good[2], good[3]]:
            client.track("u-1", "Batch Mate", message_id=message_id)
        client.flush()
        stack.wait_for(set(good))
        dead = stack.dead_letter(poison)
    finally:
        stack.faults(None)
        client.shutdown()
    assert dead is not None, "the poison event never reached the dead-letter queue"
    assert poison not in {e["messageId"] for e in stack.received()["events"]}
