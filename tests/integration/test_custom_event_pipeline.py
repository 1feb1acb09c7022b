"""MetaRouter's custom events through both handlers: ingest handler → SQS (moto) → forward handler →
a local MetaRouter; the metadata from each of its places, the key replaced, the fill-ins kept."""

from __future__ import annotations

import json
import re
import uuid

from support.apigw import api_event, basic_auth
from support.sqs import received_records, sqs_event
from support.upstream import received

CLOSED_SOURCES = {"pk_web_7f3a": "ILoveData123", "pk_ios_91bc": "OtherSource"}
RECEIVED_AT = "2023-11-14T22:13:20.000Z"


def test_custom_events_reach_metarouter_one_per_call_with_the_source_id_and_the_visitor_s_facts(
    ingest, forward, aws_stack, httpserver
):
    httpserver.expect_request(re.compile(r"^/v1/[\w/]+$"), method="POST").respond_with_json({"success": True})
    aws_stack.set_secret({"sources": CLOSED_SOURCES})
    requests = [
        api_event(
            "POST",
            "/v1/custom/event",
            {"cart": {"items": 2}, "_metarouter": {"writeKey": "pk_web_7f3a", "eventName": "cart_viewed"}},
        ),
        api_event(
            "POST",
            "/v1/custom/event",
            {"plan": "pro", "writeKey": "pk_ios_91bc"},
            headers={
                "authorization": basic_auth("pk_ios_91bc"),
                "x-event-metadata": json.dumps({"eventName": "renewed", "userID": "u-1", "eventID": "e-1"}),
            },
            source_ip="198.51.100.23",
        ),
        api_event(
            "POST",
            "/v1/custom/event",
            {"id": "evt_1", "type": "invoice.paid"},
            query={"writeKey": "pk_web_7f3a", "eventName": "$.type", "timestamp": "2023-11-14T20:00:00Z"},
        ),
        api_event("POST", "/v1/track", {"userId": "u-1", "event": "Clicked", "writeKey": "pk_web_7f3a"}),
    ]
    assert [ingest(request)["statusCode"] for request in requests] == [200, 200, 200, 200]
    records = received_records(aws_stack.sqs, aws_stack.events_url)
    queued = json.dumps([record["body"] for record in records])
    assert "pk_web_7f3a" not in queued
    assert "ILoveData123" not in queued

    assert forward(sqs_event(*records)) == {"batchItemFailures": []}

    calls = received(httpserver)
    assert sorted(call.path for call in calls) == ["/v1/batch"] + ["/v1/custom/event"] * 3
    custom = {
        call.body["_metarouter"]["eventName"]: call for call in calls if call.path == "/v1/custom/event"
    }
    web, ios, hook = custom["cart_viewed"], custom["renewed"], custom["$.type"]
    assert {web.authorization, hook.authorization} == {basic_auth("ILoveData123")}
    assert ios.authorization == basic_auth("OtherSource")
    assert web.body["cart"] == {"items": 2}
    assert web.body["_metarouter"]["writeKey"] == "ILoveData123"
    assert web.body["_metarouter"]["timestamp"] == RECEIVED_AT
    assert web.body["_metarouter"]["ip"] == "203.0.113.7"
    assert uuid.UUID(web.body["_metarouter"]["eventID"]).version == 4
    assert ios.body == {
        "plan": "pro",
        "_metarouter": {
            "writeKey": "OtherSource",
            "eventName": "renewed",
            "userID": "u-1",
            "eventID": "e-1",
            "timestamp": RECEIVED_AT,
            "ip": "198.51.100.23",
        },
    }
    assert hook.body["type"] == "invoice.paid"
    assert hook.body["_metarouter"]["timestamp"] == "2023-11-14T20:00:00Z"
    assert "pk_web_7f3a" not in json.dumps([call.body for call in calls])


def test_a_redelivered_custom_event_keeps_its_filled_in_event_id(ingest, forward, aws_stack, httpserver):
    httpserver.expect_oneshot_request("/v1/custom/event", method="POST").respond_with_json({}, status=503)
    httpserver.expect_request("/v1/custom/event", method="POST").respond_with_json({"success": True})
    body = {"x": 1, "_mrSchema": {"eventName": "legacy_event"}}
    assert ingest(api_event("POST", "/v1/custom/event", body))["statusCode"] == 200
    records = received_records(aws_stack.sqs, aws_stack.events_url)
    forward.configure(UPSTREAM_MAX_ATTEMPTS="1")
    first = forward(sqs_event(*records))
    assert len(first["batchItemFailures"]) == 1
    assert forward(sqs_event(*records)) == {"batchItemFailures": []}
    calls = received(httpserver)
    assert len(calls) == 2
    assert calls[0].body == calls[1].body
    assert "_mrSchema" not in calls[1].body
    assert calls[1].body["_metarouter"]["eventName"] == "legacy_event"


def test_a_custom_event_without_an_event_name_is_a_400_naming_the_field_and_nothing_is_queued(
    ingest, aws_stack
):
    response = ingest(api_event("POST", "/v1/custom/event", {"_metarouter": {"userID": "u"}}))
    assert response["statusCode"] == 400
    error = json.loads(response["body"])["error"]
    assert error["code"] == "invalid_metadata"
    [detail] = error["details"]
    assert detail["field"] == "_metarouter.eventName"
    assert detail["message"].startswith("is required")
    response = ingest(api_event("POST", "/v1/custom/event", {}, headers={"x-event-metadata": "{oops"}))
    assert json.loads(response["body"])["error"]["details"][0]["field"] == "X-Event-Metadata"
    response = ingest(
        api_event("POST", "/v1/custom/event", ["not", "an", "object"], query={"eventName": "x"})
    )
    assert (response["statusCode"], json.loads(response["body"])["error"]["code"]) == (400, "invalid_json")
    assert received_records(aws_stack.sqs, aws_stack.events_url) == []
