"""One process, end to end: ingest handler → SQS (moto) → forward handler → local upstream."""

from __future__ import annotations

import re

import pytest

from support.apigw import api_event, basic_auth
from support.sqs import received_records, sqs_event
from support.upstream import received

CLOSED_SOURCES = {"pk_web_7f3a": "ILoveData123", "pk_ios_91bc": "OtherSource"}
SEED_EVENTS = [
    ("identify", {"userId": "1234qwerty", "traits": {"name": "Arthur Dent", "hasTowel": True}}),
    ("track", {"userId": "1234qwerty", "event": "Added File", "properties": {"fileSize": "42kb"}}),
    ("page", {"userId": "1234qwerty", "name": "10 Questions with Marvin", "properties": {"referrer": "x"}}),
    ("group", {"userId": "1234qwerty", "groupId": "5678dvorak", "traits": {"name": "The Hitchhikers"}}),
    ("alias", {"previousId": "anonymous_id", "userId": "assigned_id_or_email"}),
    ("screen", {"anonymousId": "a-1", "name": "Settings"}),
]


def _accept_everything(httpserver):
    httpserver.expect_request(re.compile(r"^/v1/\w+$"), method="POST").respond_with_json({"success": True})


@pytest.mark.parametrize("mode", ["batch", "per-call"])
def test_every_seed_event_type_reaches_the_upstream_enriched_with_the_source_id(
    ingest, forward, aws_stack, httpserver, mode
):
    _accept_everything(httpserver)
    aws_stack.set_secret({"sources": CLOSED_SOURCES})
    for event_type, event in SEED_EVENTS:
        body = {**event, "messageId": f"m-{event_type}", "writeKey": "pk_web_7f3a"}
        response = ingest(
            api_event("POST", f"/v1/{event_type}", body, headers={"authorization": basic_auth("pk_web_7f3a")})
        )
        assert response["statusCode"] == 200

    records = received_records(aws_stack.sqs, aws_stack.events_url)
    assert len(records) == len(SEED_EVENTS)
    forward.configure(FORWARD_MODE=mode)
    assert forward(sqs_event(*records)) == {"batchItemFailures": []}

    requests = received(httpserver)
    assert {r.authorization for r in requests} == {basic_auth("ILoveData123")}
    assert {r.content_type for r in requests} == {"application/json"}
    if mode == "batch":
        assert [r.path for r in requests] == ["/v1/batch"]
    else:
        assert sorted(r.path for r in requests) == sorted(f"/v1/{t}" for t, _ in SEED_EVENTS)
    forwarded = {e["messageId"]: e for r in requests for e in r.events}
    assert sorted(forwarded) == sorted(f"m-{t}" for t, _ in SEED_EVENTS)
    for event_type, event in SEED_EVENTS:
        sent = forwarded[f"m-{event_type}"]
        assert {k: sent[k] for k in event} == event
        assert sent["type"] == event_type
        assert sent["receivedAt"] == sent["timestamp"] == "2023-11-14T22:13:20.000Z"
        assert sent["context"] == {"ip": "203.0.113.7", "userAgent": "test-agent/1.0"}
    raw = b"".join(r.raw for r in requests)
    assert b"pk_web_7f3a" not in raw
    assert b"writeKey" not in raw
    assert b"ILoveData123" not in raw


def test_a_batch_from_two_sources_goes_out_once_per_source_id(ingest, forward, aws_stack, httpserver):
    _accept_everything(httpserver)
    aws_stack.set_secret({"sources": CLOSED_SOURCES})
    for key, n in (("pk_web_7f3a", 3), ("pk_ios_91bc", 2)):
        batch = [{"type": "track", "userId": "u", "event": "E", "messageId": f"{key}-{i}"} for i in range(n)]
        assert ingest(api_event("POST", "/v1/batch", {"batch": batch, "writeKey": key}))["statusCode"] == 200

    assert forward(sqs_event(*received_records(aws_stack.sqs, aws_stack.events_url))) == {
        "batchItemFailures": []
    }
    by_auth = {r.authorization: r.ids for r in received(httpserver)}
    assert by_auth == {
        basic_auth("ILoveData123"): [f"pk_web_7f3a-{i}" for i in range(3)],
        basic_auth("OtherSource"): [f"pk_ios_91bc-{i}" for i in range(2)],
    }
