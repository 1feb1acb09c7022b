"""A message as large as ingest ever writes can still be parked whole in the dead-letter queue,
which has the same 256 KiB limit, with the attributes the forwarder adds."""

from __future__ import annotations

import re

import pytest

from edge.core.queueing import PARKING_ROOM
from edge.core.secret import fingerprint
from edge.ingest.limits import MAX_EVENT_BYTES
from support.apigw import api_event, basic_auth
from support.sqs import received_records, sqs_event, sqs_record

QUEUE_LIMIT = 256 * 1024
NOTHING_FAILED = {"batchItemFailures": []}


def _fill_one_message(ingest, aws_stack, key=None, *, events=400, pad=500):
    """Ingest a batch that fills an events message as full as ingest packs them; that record."""
    batch = [
        {"type": "track", "userId": "u", "event": "E", "messageId": f"m-{i}", "properties": {"p": "x" * pad}}
        for i in range(events)
    ]
    headers = {"authorization": basic_auth(key)} if key else {}
    assert ingest(api_event("POST", "/v1/batch", {"batch": batch}, headers=headers))["statusCode"] == 200
    record = max(received_records(aws_stack.sqs, aws_stack.events_url), key=lambda r: len(r["body"]))
    size = len(record["body"].encode())
    assert QUEUE_LIMIT - PARKING_ROOM - 2 * pad - 1024 < size <= QUEUE_LIMIT - PARKING_ROOM
    return record


def _sqs_size(letter) -> int:
    """A message's size as SQS counts it against the limit: body plus every attribute's name,
    type and value."""
    attributes = sum(
        len(name.encode()) + len(kind.encode()) + len(value.encode())
        for name, (kind, value) in letter.typed_attributes.items()
    )
    return len(letter.body.encode()) + attributes


def test_a_full_message_of_an_unmapped_source_is_parked_whole(ingest, forward, aws_stack):
    aws_stack.set_secret({"sources": {"pk_web": "WebSource", "pk_gone": "GoneSource"}})
    record = _fill_one_message(ingest, aws_stack, key="pk_gone")
    aws_stack.set_secret({"sources": {"pk_web": "WebSource"}})  # the key was removed since
    assert forward(sqs_event(record)) == NOTHING_FAILED
    [letter] = aws_stack.dead_letters()
    assert letter.body == record["body"]
    assert letter.attributes["reason"] == "unmapped_source"
    assert _sqs_size(letter) <= QUEUE_LIMIT
    assert fingerprint("pk_gone") in letter.body


@pytest.mark.parametrize(
    "body",
    [
        "not json " * ((QUEUE_LIMIT - PARKING_ROOM) // 9),
        '{"v": 2, "events": ["' + "x" * (QUEUE_LIMIT - PARKING_ROOM - 30) + '"]}',
    ],
)
def test_a_full_message_that_cannot_be_read_is_parked_whole(forward, aws_stack, body):
    assert len(body.encode()) <= QUEUE_LIMIT - PARKING_ROOM
    assert forward(sqs_event(sqs_record(body, message_id="q-full"))) == NOTHING_FAILED
    [letter] = aws_stack.dead_letters()
    assert letter.body == body
    assert letter.attributes["reason"] in ("invalid_message", "unsupported_version")
    assert letter.attributes["originMessageId"] == "q-full"
    assert _sqs_size(letter) <= QUEUE_LIMIT


def test_every_event_of_a_full_message_the_upstream_refuses_is_parked(ingest, forward, aws_stack, httpserver):
    httpserver.expect_request(re.compile(r"^/v1/\w+$"), method="POST").respond_with_json(
        {"error": "refused " + "x" * 2000}, status=400
    )
    record = _fill_one_message(ingest, aws_stack, events=8, pad=MAX_EVENT_BYTES - 1200)
    assert forward(sqs_event(record)) == NOTHING_FAILED
    letters = aws_stack.dead_letters()
    assert sorted(e["messageId"] for letter in letters for e in letter.events) == [f"m-{i}" for i in range(8)]
    assert {letter.attributes["reason"] for letter in letters} == {"upstream_rejected"}
