"""Partial progress survives redelivery: ingest → SQS (moto) → forward handler → a local upstream
that fails selected requests. Confirmed events are never sent again; the dead-letter rule holds."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from werkzeug import Request, Response

from support.apigw import api_event
from support.sqs import EventSourceMapping
from support.upstream import received, respond

REQUEUE = {"REQUEUE_DELAY_SECONDS": "0", "UPSTREAM_MAX_ATTEMPTS": "1"}


def track(n: int) -> dict[str, str]:
    return {"type": "track", "event": "Clicked", "userId": "u-1", "messageId": f"m-{n}"}


def accepted(httpserver) -> Counter[str]:
    """Times each event was in a request the upstream answered 200."""
    counts: Counter[str] = Counter()
    for (_, response), got in zip(httpserver.log, received(httpserver), strict=True):
        if response.status_code == 200:
            counts.update(got.ids)
    return counts


def sent(httpserver) -> Counter[str]:
    """Times each event was sent at all."""
    return Counter(m for got in received(httpserver) for m in got.ids)


def refusing(httpserver, is_refused):
    """The upstream answers 503 to a request when ``is_refused(ids)`` says so, else 200."""

    def handler(request: Request) -> Response:
        ids = [e["messageId"] for e in json.loads(request.get_data())["batch"]]
        return respond(503) if is_refused(ids) else respond(200, {"success": True})

    httpserver.expect_request(re.compile(r"^/v1/\w+$"), method="POST").respond_with_handler(handler)


def queue_batch(ingest, events) -> None:
    assert ingest(api_event("POST", "/v1/batch", {"batch": events}))["statusCode"] == 200


def test_a_600_event_batch_with_one_refused_request_sends_each_confirmed_event_exactly_once(
    ingest, forward, aws_stack, httpserver
):
    # The upstream refuses the request carrying m-250 for its first five deliveries (a minute or
    # so of an outage that only that request runs into), then takes it.
    tries = Counter[str]()

    def is_refused(ids):
        if "m-250" in ids:
            tries["m-250"] += 1
            return tries["m-250"] <= 5
        return False

    refusing(httpserver, is_refused)
    queue_batch(ingest, [track(i) for i in range(600)])
    forward.configure(
        EVENTS_QUEUE_URL=aws_stack.events_url,
        MAX_RECEIVE_COUNT="10",
        UPSTREAM_MAX_BATCH_EVENTS="100",
        **REQUEUE,
    )
    esm = EventSourceMapping(aws_stack.sqs, aws_stack.events_url, forward)
    assert esm.drain() == 6

    everything = {f"m-{i}" for i in range(600)}
    assert set(accepted(httpserver)) == everything
    assert set(accepted(httpserver).values()) == {1}  # each accepted exactly once
    times = sent(httpserver)
    refused_request = {m for m, n in times.items() if n > 1}
    assert "m-250" in refused_request
    assert len(refused_request) == 100  # only the events of the one refused request were resent
    assert all(times[m] == 1 for m in everything - refused_request)
    assert aws_stack.dead_letters() == []


def test_events_that_keep_failing_are_parked_after_max_receive_count_deliveries_with_the_reason(
    ingest, forward, aws_stack, httpserver
):
    dead_arn = aws_stack.sqs.get_queue_attributes(
        QueueUrl=aws_stack.dead_letter_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    aws_stack.sqs.set_queue_attributes(  # the template's redrive policy, with maxReceiveCount 3
        QueueUrl=aws_stack.events_url,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": "3"})},
    )
    refusing(httpserver, lambda ids: "m-5" in ids)
    queue_batch(ingest, [track(i) for i in range(20)])
    forward.configure(
        EVENTS_QUEUE_URL=aws_stack.events_url,
        MAX_RECEIVE_COUNT="3",
        UPSTREAM_MAX_BATCH_EVENTS="5",
        **REQUEUE,
    )
    EventSourceMapping(aws_stack.sqs, aws_stack.events_url, forward).drain()

    times = sent(httpserver)
    failing = {f"m-{i}" for i in range(5, 10)}
    assert {m: times[m] for m in failing} == dict.fromkeys(failing, 3)  # three deliveries, as today
    assert {times[f"m-{i}"] for i in range(20) if f"m-{i}" not in failing} == {1}
    [letter] = aws_stack.dead_letters()
    assert {e["messageId"] for e in letter.events} == failing
    assert letter.attributes["reason"] == "attempts_exhausted"
    assert letter.attributes["upstreamStatus"] == "503"
    assert letter.attributes["detail"] == "Not delivered after 3 deliveries; the upstream last answered 503."
    assert "deliveryAttempts" not in letter.attributes  # a redrive starts the count over


def test_a_redriven_letter_is_a_message_like_any_other(ingest, forward, aws_stack, httpserver):
    refusing(httpserver, lambda ids: "m-1" in ids)
    queue_batch(ingest, [track(0), track(1)])
    forward.configure(
        EVENTS_QUEUE_URL=aws_stack.events_url, MAX_RECEIVE_COUNT="2", UPSTREAM_MAX_BATCH_EVENTS="1", **REQUEUE
    )
    esm = EventSourceMapping(aws_stack.sqs, aws_stack.events_url, forward)
    esm.drain()
    [letter] = aws_stack.dead_letters()
    assert [e["messageId"] for e in letter.events] == ["m-1"]

    # The operator fixes the cause and redrives: the letter goes back with its attributes.
    httpserver.clear()
    refusing(httpserver, lambda ids: False)
    aws_stack.sqs.send_message(
        QueueUrl=aws_stack.events_url,
        MessageBody=letter.body,
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in letter.attributes.items()},
    )
    assert esm.drain() == 1
    assert sent(httpserver) == Counter({"m-1": 1})
    assert aws_stack.dead_letters() == []


def test_a_redriven_letter_gets_the_attempts_of_a_fresh_message(ingest, forward, aws_stack, httpserver):
    refusing(httpserver, lambda ids: "m-1" in ids)
    aws_stack.sqs.send_message(
        QueueUrl=aws_stack.events_url,
        MessageBody=json.dumps({"v": 1, "source": None, "events": [track(0), track(1)]}),
        MessageAttributes={
            "reason": {"DataType": "String", "StringValue": "attempts_exhausted"},
            "originMessageId": {"DataType": "String", "StringValue": "q-old"},
        },
    )
    forward.configure(
        EVENTS_QUEUE_URL=aws_stack.events_url, MAX_RECEIVE_COUNT="3", UPSTREAM_MAX_BATCH_EVENTS="1", **REQUEUE
    )
    EventSourceMapping(aws_stack.sqs, aws_stack.events_url, forward).drain()
    assert sent(httpserver) == Counter({"m-0": 1, "m-1": 3})
    [letter] = aws_stack.dead_letters()
    assert letter.attributes["reason"] == "attempts_exhausted"


def test_a_remainder_that_cannot_be_queued_leaves_the_original_to_sqs(ingest, forward, aws_stack, httpserver):
    refusing(httpserver, lambda ids: "m-1" in ids)
    queue_batch(ingest, [track(0), track(1)])
    forward.configure(
        EVENTS_QUEUE_URL=aws_stack.events_url.replace("edge-events", "no-such-queue"),
        UPSTREAM_MAX_BATCH_EVENTS="1",
        **REQUEUE,
    )
    esm = EventSourceMapping(aws_stack.sqs, aws_stack.events_url, forward)
    assert esm.poll() == 1
    # Reported in batchItemFailures: the whole message is on the queue again, nothing lost.
    records = aws_stack.queued_events()
    assert [e["messageId"] for e in records] == ["m-0", "m-1"]


@pytest.mark.parametrize("delay", ["0", "7"])
def test_a_remainder_waits_as_long_as_a_redelivery_and_carries_its_attempts(
    ingest, forward, aws_stack, httpserver, delay
):
    refusing(httpserver, lambda ids: "m-1" in ids)
    queue_batch(ingest, [track(0), track(1)])
    forward.configure(
        EVENTS_QUEUE_URL=aws_stack.events_url,
        UPSTREAM_MAX_BATCH_EVENTS="1",
        UPSTREAM_MAX_ATTEMPTS="1",
        REQUEUE_DELAY_SECONDS=delay,
    )
    esm = EventSourceMapping(aws_stack.sqs, aws_stack.events_url, forward)
    assert esm.poll() == 1
    answer = aws_stack.sqs.receive_message(
        QueueUrl=aws_stack.events_url, MessageAttributeNames=["All"], MaxNumberOfMessages=10
    )
    if delay != "0":
        assert "Messages" not in answer  # not visible before the delay is over
        return
    [message] = answer["Messages"]
    assert [e["messageId"] for e in json.loads(message["Body"])["events"]] == ["m-1"]
    assert message["MessageAttributes"]["deliveryAttempts"] == {"DataType": "Number", "StringValue": "1"}
