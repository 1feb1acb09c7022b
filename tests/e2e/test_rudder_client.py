"""rudder-sdk-python against the local stack: gzip bodies with the key in Basic auth only."""

from __future__ import annotations

import json
import uuid

from rudderstack.analytics.client import Client

WRITE_KEY = "rudder-write-key"


def test_gzip_batches_with_basic_auth_only_arrive_with_their_message_ids(stack):
    client = Client(WRITE_KEY, host=stack.api, sync_mode=True, gzip=True, max_retries=1)
    sent = {}
    for event_type, call in {
        "identify": lambda mid: client.identify("u-r", {"plan": "team"}, message_id=mid),
        "track": lambda mid: client.track("u-r", "Rudder Event", {"n": 1}, message_id=mid),
        "page": lambda mid: client.page("u-r", "Docs", "Home", message_id=mid),
        "screen": lambda mid: client.screen("u-r", "App", "Home", message_id=mid),
        "group": lambda mid: client.group("u-r", "g-r", message_id=mid),
        "alias": lambda mid: client.alias("u-prev", "u-r", message_id=mid),
    }.items():
        message_id = f"rudder-{event_type}-{uuid.uuid4()}"
        ok, _ = call(message_id)  # rudder-sdk-python counts only a 200 as success, else raises
        assert ok
        sent[message_id] = event_type
    received = stack.wait_for(set(sent))
    assert {e["messageId"]: e["type"] for e in received} == sent
    assert all(e["context"]["ip"] == "127.0.0.1" for e in received)
    assert WRITE_KEY not in json.dumps(stack.received()["events"])
