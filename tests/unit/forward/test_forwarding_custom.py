"""MetaRouter's custom events through the forwarder: one ``POST /v1/custom/event`` each, the Source
ID as the metadata's ``writeKey``, and every answer handled as for Segment events."""

from __future__ import annotations

import json
from typing import Any

from edge.core.secret import EdgeSecret, fingerprint
from edge.forward.deadletter import Reason
from edge.forward.upstream import custom_body
from support.forwarding import FakeDeliveryLog, ScriptedUpstream, answer, forward_rig, queued, track

CLOSED = EdgeSecret(sources={"pk_web_7f3a": "ILoveData123", "pk_ios_91bc": "OtherSource"})
WEB = fingerprint("pk_web_7f3a")
MINUTE_MS = 60_000


def custom(n: int, **fields: Any) -> dict[str, Any]:
    """A custom event as ingest queues it, with eventID ``e-<n>``."""
    metadata = {"eventName": "order_paid", "eventID": f"e-{n}", "timestamp": "2024-01-01T00:00:00.000Z"}
    return {
        "type": "custom",
        "messageId": f"e-{n}",
        "receivedAt": "2024-01-01T00:00:00.000Z",
        "body": {
            "order": {"id": n, "type": "track"},
            **fields,
            "_metarouter": {**metadata, "ip": "203.0.113.9"},
        },
    }


def test_a_custom_event_is_posted_alone_to_the_custom_path_with_the_source_id_as_its_write_key() -> None:
    rig = forward_rig(None, CLOSED)
    result = rig.forwarder.forward([queued("q1", [track(1), custom(1), track(2), custom(2)], WEB)], MINUTE_MS)
    assert [(c.path, c.source_id) for c in rig.upstream.calls] == [
        ("/v1/batch", "ILoveData123"),
        ("/v1/custom/event", "ILoveData123"),
        ("/v1/custom/event", "ILoveData123"),
    ]
    assert rig.upstream.calls[0].ids == ["m-1", "m-2"]
    first = rig.upstream.calls[1].body
    assert first == {
        "order": {"id": 1, "type": "track"},
        "_metarouter": {
            "writeKey": "ILoveData123",
            "eventName": "order_paid",
            "eventID": "e-1",
            "timestamp": "2024-01-01T00:00:00.000Z",
            "ip": "203.0.113.9",
        },
    }
    assert result.forwarded == 4
    assert result.failed == frozenset()


def test_the_source_id_replaces_any_write_key_a_queued_custom_event_carries() -> None:
    event = custom(1)
    event["body"]["_metarouter"]["writeKey"] = "pk_web_7f3a"
    body = json.loads(custom_body(json.dumps(event).encode(), "ILoveData123"))
    assert body["_metarouter"]["writeKey"] == "ILoveData123"
    assert "pk_web_7f3a" not in json.dumps(body)


def test_a_custom_event_refused_400_is_dead_lettered_at_once_and_413_too() -> None:
    def respond(call: Any) -> Any:
        return answer(400 if call.body.get("order", {}).get("id") == 1 else 413, {"error": "bad"})

    rig = forward_rig(ScriptedUpstream(respond), CLOSED)
    result = rig.forwarder.forward([queued("q1", [custom(1), custom(2)], WEB)], MINUTE_MS)
    assert len(rig.upstream.calls) == 2
    assert result.dead_lettered == 2
    letters = [(letter.reason, letter.status) for letter in rig.dead_letters.letters]
    assert sorted(letters) == [(Reason.UPSTREAM_REJECTED, 400), (Reason.UPSTREAM_REJECTED, 413)]
    # Parked as queued: a redrive puts them back in the events queue as custom events.
    parked = [e for letter in rig.dead_letters.letters for e in json.loads(letter.body)["events"]]
    assert {e["type"] for e in parked} == {"custom"}


def test_a_custom_event_answered_503_is_retried_and_then_confirmed() -> None:
    rig = forward_rig(ScriptedUpstream([answer(503), answer(200)]), CLOSED)
    result = rig.forwarder.forward([queued("q1", [custom(1)], WEB)], MINUTE_MS)
    assert [c.path for c in rig.upstream.calls] == ["/v1/custom/event"] * 2
    assert (result.forwarded, result.failed) == (1, frozenset())


def test_per_call_mode_still_sends_custom_events_to_their_path() -> None:
    rig = forward_rig(None, CLOSED, per_call=True)
    rig.forwarder.forward([queued("q1", [track(1), custom(1)], WEB)], MINUTE_MS)
    assert sorted(c.path for c in rig.upstream.calls) == ["/v1/custom/event", "/v1/track"]


def test_the_delivery_log_keys_a_custom_event_by_its_event_id() -> None:
    log = FakeDeliveryLog(delivered_keys={"ILoveData123#e-1"})
    rig = forward_rig(None, CLOSED, delivery_log=log)
    result = rig.forwarder.forward([queued("q1", [custom(1), custom(2)], WEB)], MINUTE_MS)
    assert len(rig.upstream.calls) == 1
    assert rig.upstream.calls[0].body["_metarouter"]["eventID"] == "e-2"
    assert result.skipped == 1
    assert "ILoveData123#e-2" in log.delivered_keys
