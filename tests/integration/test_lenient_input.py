"""Liberal with what the edge does not need: what real clients send that can be repaired without
guessing is repaired, counted and forwarded; only what cannot be forwarded meaningfully is a 4xx.

The handler receives every request at 2023-11-14T22:13:20.000Z (the events' ``timeEpoch``)."""

from __future__ import annotations

import json

import pytest

from support.apigw import api_event

RECEIVED = "2023-11-14T22:13:20.000Z"


def _one(ingest, aws_stack, path, body, status=200):
    response = ingest(api_event("POST", path, body))
    assert response["statusCode"] == status, response["body"]
    return aws_stack.queued_events()


def _repairs(capsys) -> dict[str, float]:
    counted: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        record = json.loads(line) if line.startswith('{"_aws"') else {}
        if "EventsRepaired" in record:
            counted[record["repair"]] = counted.get(record["repair"], 0) + record["EventsRepaired"][0]
    return counted


def test_a_capitalised_type_on_its_own_route_is_folded_and_counted(ingest, aws_stack, capsys):
    [event] = _one(ingest, aws_stack, "/v1/track", {"type": "Track", "userId": "u", "event": "E"})
    assert event["type"] == "track"
    assert _repairs(capsys) == {"type_case": 1}


def test_batch_items_with_capitalised_types_are_accepted(ingest, aws_stack):
    batch = [{"type": "Identify", "userId": "u"}, {"type": "PAGE", "anonymousId": "a", "name": "Home"}]
    events = _one(ingest, aws_stack, "/v1/batch", {"batch": batch})
    assert [e["type"] for e in events] == ["identify", "page"]


def test_numeric_ids_and_message_id_are_forwarded_as_strings(ingest, aws_stack, capsys):
    body = {"userId": 42, "groupId": 7, "messageId": 1234567890123}
    [event] = _one(ingest, aws_stack, "/v1/group", body)
    assert (event["userId"], event["groupId"], event["messageId"]) == ("42", "7", "1234567890123")
    assert _repairs(capsys) == {"id_number": 3}


def test_epoch_millisecond_timestamps_become_iso8601_and_feed_the_skew_correction(ingest, aws_stack):
    # Happened at 22:13:10.000, sent at 22:13:15.000 by a clock 5 s slow: corrected to 22:13:15.000.
    body = {"userId": "u", "event": "E", "timestamp": 1_699_999_990_000, "sentAt": 1_699_999_995_000}
    [event] = _one(ingest, aws_stack, "/v1/track", body)
    assert event["originalTimestamp"] == "2023-11-14T22:13:10.000Z"
    assert event["sentAt"] == "2023-11-14T22:13:15.000Z"
    assert event["timestamp"] == "2023-11-14T22:13:15.000Z"


def test_an_unusable_timestamp_is_dropped_so_received_at_stands_in(ingest, aws_stack, capsys):
    body = {"userId": "u", "event": "E", "timestamp": "last tuesday", "context": {"locale": "en"}}
    [event] = _one(ingest, aws_stack, "/v1/track", body)
    assert event["timestamp"] == event["receivedAt"] == RECEIVED
    assert "originalTimestamp" not in event
    assert event["context"]["edgeRepairs"] == {"timestamp": "last tuesday"}
    assert event["context"]["locale"] == "en"
    assert _repairs(capsys) == {"time_dropped": 1}


def test_an_infinite_timestamp_is_dropped_not_a_reason_to_refuse_the_event(ingest, aws_stack):
    raw = '{"userId": "u", "event": "E", "timestamp": 1e400}'
    response = ingest(api_event("POST", "/v1/track", raw_body=raw))
    assert response["statusCode"] == 200, response["body"]
    [event] = aws_stack.queued_events()
    assert event["timestamp"] == RECEIVED
    assert event["context"]["edgeRepairs"] == {"timestamp": "inf"}


def test_an_unusable_sent_at_is_left_out_of_the_skew_correction(ingest, aws_stack):
    body = {"userId": "u", "event": "E", "timestamp": "2023-11-14T22:13:10.000Z", "sentAt": "n/a"}
    [event] = _one(ingest, aws_stack, "/v1/track", body)
    assert "sentAt" not in event
    assert event["timestamp"] == event["originalTimestamp"] == "2023-11-14T22:13:10.000Z"


@pytest.mark.parametrize(
    ("sent_at", "timestamp", "repairs"),
    [
        ("garbage", "2023-11-14T22:13:10.000Z", {"time_dropped": 1}),  # the client's timestamp stands
        (1_699_999_995_000, "2023-11-14T22:13:15.000Z", {"epoch_time": 1}),  # sent 5 s after it happened
        ("2023-11-14T22:13:15.000Z", "2023-11-14T22:13:15.000Z", {}),  # nothing to repair
    ],
)
def test_a_batch_s_unusable_sent_at_is_ignored_and_an_epoch_one_is_used(
    ingest, aws_stack, capsys, sent_at, timestamp, repairs
):
    batch = [{"type": "track", "userId": "u", "event": "E", "timestamp": "2023-11-14T22:13:10.000Z"}]
    [event] = _one(ingest, aws_stack, "/v1/batch", {"batch": batch, "sentAt": sent_at})
    assert event["timestamp"] == timestamp
    assert _repairs(capsys) == repairs


def test_php_s_empty_arrays_for_objects_are_accepted(ingest, aws_stack):
    body = {
        "batch": [{"type": "track", "userId": "u", "event": "E", "properties": [], "context": []}],
        "context": [],
    }
    [event] = _one(ingest, aws_stack, "/v1/batch", body)
    assert event["properties"] == {}


def test_php_s_empty_arrays_for_the_batch_s_context_and_integrations_are_repaired_and_counted(
    ingest, aws_stack, capsys
):
    body = {"batch": [{"type": "track", "userId": "u", "event": "E"}], "context": [], "integrations": []}
    [event] = _one(ingest, aws_stack, "/v1/batch", body)
    assert event["userId"] == "u"
    assert _repairs(capsys) == {"empty_array": 2}


def test_a_string_cut_inside_an_emoji_is_forwarded_with_a_replacement_character(ingest, aws_stack):
    raw = '{"userId": "u", "event": "E", "properties": {"title": "Great \\ud83d"}}'
    response = ingest(api_event("POST", "/v1/track", raw_body=raw))
    assert response["statusCode"] == 200
    [event] = aws_stack.queued_events()
    assert event["properties"]["title"] == "Great \ufffd"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/track", {"event": "E"}, "userId"),
        ("/v1/track", {"userId": "u"}, "event"),
        ("/v1/group", {"userId": "u"}, "groupId"),
        ("/v1/alias", {"userId": "u"}, "previousId"),
        ("/v1/track", {"userId": "u", "event": "E", "properties": "x"}, "properties"),
        ("/v1/identify", {"userId": "u", "traits": [1]}, "traits"),
        ("/v1/page", {"userId": "u", "context": 3}, "context"),
        ("/v1/track", {"userId": True, "event": "E"}, "userId"),
    ],
)
def test_what_cannot_be_forwarded_meaningfully_is_still_a_400(ingest, aws_stack, path, body, field):
    response = ingest(api_event("POST", path, body))
    assert response["statusCode"] == 400
    assert field in [d["field"] for d in json.loads(response["body"])["error"]["details"]]
    assert aws_stack.queued_events() == []
