"""@segment/analytics-node (the real library, in Node.js) against the local stack.

tests/e2e/js/node-client.mjs sends the calls through the library (``host`` = the gateway,
``path`` = /v1/batch), flushes and closes it, and reports what it dispatched; the upstream
stand-in must receive exactly those events, enriched, without the write key.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import pytest

from edge.core.secret import fingerprint
from support.analytics_node import LIBRARY, every_type_calls, run_node_client
from support.js import node_with

if TYPE_CHECKING:
    from support.local_stack import LocalStack

pytestmark = pytest.mark.e2e

EVERY_TYPE = ("identify", "track", "page", "screen", "group", "alias")


@pytest.fixture(scope="module")
def node() -> str:
    return node_with(LIBRARY)


def test_every_call_arrives_upstream_with_its_message_id_and_enriched(node: str, stack: LocalStack) -> None:
    write_key = f"wk_node_{uuid.uuid4().hex}"
    calls = every_type_calls("node")
    result = run_node_client(node, stack.api, write_key, calls)

    # The library dispatched every call, the explicit messageIds as given, over /v1/batch.
    assert not result["failed"]
    sent = {s["messageId"]: s["type"] for s in result["sent"]}
    assert len(sent) == len(calls)
    explicit = {c["messageId"]: c["type"] for c in calls if "messageId" in c}
    assert explicit.items() <= sent.items()
    assert result["responses"]
    assert {(r["url"], r["status"]) for r in result["responses"]} == {(f"{stack.api}/v1/batch", 200)}
    assert sum(r["events"] for r in result["responses"]) == len(calls)
    assert all(r["headers"]["Content-Type"] == "application/json" for r in result["requests"])

    received = stack.wait_for(set(sent))
    assert len(received) == len(sent), "an event arrived more than once"
    assert {e["messageId"]: e["type"] for e in received} == sent
    assert {e["type"] for e in received} == set(EVERY_TYPE)
    for event in received:
        assert event["receivedAt"].endswith("Z")
        assert event["context"]["ip"] == "127.0.0.1"
        assert event["context"]["library"]["name"] == "@segment/analytics-node"
        assert "writeKey" not in event
    by_type = {e["type"]: e for e in received if e["messageId"] in explicit}
    assert (by_type["track"]["event"], by_type["track"]["properties"]) == ("Order Completed", {"total": 42})
    assert by_type["identify"]["traits"]["plan"] == "pro"
    assert (by_type["alias"]["userId"], by_type["alias"]["previousId"]) == ("node-user", "node-anon")
    assert by_type["group"]["groupId"] == "node-group"
    assert by_type["screen"]["name"] == "Settings"
    assert by_type["page"]["anonymousId"] == "node-anon"

    assert write_key not in json.dumps(stack.received()["events"])


def test_closed_mode_forwards_with_the_mapped_source_id(node: str, closed_stack: LocalStack) -> None:
    before = len(closed_stack.received()["requests"])
    calls = [c for c in every_type_calls("node-ios") if c["type"] in ("identify", "track", "screen")]
    result = run_node_client(node, closed_stack.api, "pk_ios_91bc", calls)
    sent = {s["messageId"] for s in result["sent"]}
    assert len(sent) == len(calls)

    closed_stack.wait_for(sent)
    received = closed_stack.received()
    delivered = [r for r in received["requests"][before:] if r["status"] == 200]
    assert delivered
    assert {r["source"] for r in delivered} == {fingerprint("SRC_IOS")}
    assert sum(r["events"] for r in delivered) >= len(sent)
    assert "pk_ios_91bc" not in json.dumps(received["events"])
