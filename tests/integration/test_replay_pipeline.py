"""make replay against moto's S3 and SQS and the real handlers: a window, then a filter, sent again
through the forwarder with the original messageIds; not archived again; the delivery log bypassed
unless only undelivered events are asked for."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from edge.core.queueing import REPLAY, REPLAY_UNDELIVERED
from edge_local.aws import create_delivered_table
from edge_ops.replay import Filters, Pacer, Replayer, Target, plan
from support.apigw import api_event
from support.sqs import received_records, sqs_event
from support.upstream import received

# The API Gateway samples' request time: every event's receivedAt.
RECEIVED = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
HOUR = RECEIVED.replace(minute=0, second=0)


def _accept_everything(httpserver: Any) -> None:
    httpserver.expect_request(re.compile(r"^/v1/\w+$"), method="POST").respond_with_json({"success": True})


def _archive_some_traffic(
    ingest: Any, forward: Any, archive: Any, aws_stack: Any, **forward_env: str
) -> None:
    """Two track events and a page through ingest, the forwarder and the archive function."""
    batch = [
        {"type": "track", "userId": "u", "event": "Order Completed", "messageId": "t-1"},
        {"type": "track", "userId": "u", "event": "Clicked", "messageId": "t-2"},
        {"type": "page", "userId": "u", "name": "Home", "messageId": "p-1"},
    ]
    assert ingest(api_event("POST", "/v1/batch", {"batch": batch}))["statusCode"] == 200
    forward.configure(ARCHIVE_QUEUE_URL=aws_stack.archive_url, **forward_env)
    assert forward(sqs_event(*received_records(aws_stack.sqs, aws_stack.events_url))) == {
        "batchItemFailures": []
    }
    assert archive.drain() == {"batchItemFailures": []}


def _replay(aws_stack: Any, filters: Filters, *, kind: str = REPLAY, delivery_log: bool = False) -> int:
    target = Target(
        "test",
        aws_stack.s3,
        aws_stack.bucket,
        aws_stack.sqs,
        aws_stack.events_url,
        aws_stack.archive_url,
        delivery_log,
    )
    replayer = Replayer(target, filters, kind=kind, pacer=Pacer(10_000), state=None)
    return sum(replayer.run(plan(aws_stack.s3, aws_stack.bucket, filters), dry_run=False).sent.values())


def _sent(httpserver: Any) -> Counter[str]:
    return Counter(m for request in received(httpserver) for m in request.ids)


def test_a_window_is_sent_again_through_the_forwarder_and_not_archived_again(
    ingest, forward, archive, aws_stack, httpserver
):
    _accept_everything(httpserver)
    _archive_some_traffic(ingest, forward, archive, aws_stack)
    first = {e["messageId"]: e for request in received(httpserver) for e in request.events}

    assert _replay(aws_stack, Filters(HOUR, HOUR.replace(hour=23))) == 3
    records = received_records(aws_stack.sqs, aws_stack.events_url)
    assert forward(sqs_event(*records)) == {"batchItemFailures": []}
    assert _sent(httpserver) == Counter({"t-1": 2, "t-2": 2, "p-1": 2})
    again = [e for request in received(httpserver)[1:] for e in request.events]
    assert again == [first[m] for m in ("t-1", "t-2", "p-1")]  # the events as MetaRouter first got them
    assert aws_stack.records(aws_stack.archive_url) == []  # nothing new for the archive


def test_a_filter_sends_only_its_events_and_an_empty_window_nothing(
    ingest, forward, archive, aws_stack, httpserver
):
    _accept_everything(httpserver)
    _archive_some_traffic(ingest, forward, archive, aws_stack)
    window = Filters(HOUR, HOUR.replace(hour=23), type="track", event="Order Completed")
    assert _replay(aws_stack, window) == 1
    assert _replay(aws_stack, Filters(HOUR.replace(hour=23), HOUR.replace(day=15))) == 0
    assert _replay(aws_stack, Filters(HOUR, RECEIVED)) == 0  # receivedAt is the end: excluded
    assert forward(sqs_event(*received_records(aws_stack.sqs, aws_stack.events_url))) == {
        "batchItemFailures": []
    }
    assert _sent(httpserver) == Counter({"t-1": 2, "t-2": 1, "p-1": 1})


@pytest.mark.parametrize(("kind", "again"), [(REPLAY, 2), (REPLAY_UNDELIVERED, 1)])
def test_a_replay_passes_the_delivery_log_unless_only_undelivered_events_are_asked_for(
    ingest, forward, archive, aws_stack, httpserver, kind, again
):
    _accept_everything(httpserver)
    table = create_delivered_table(boto3.client("dynamodb"))
    log = {"DEDUPE_WINDOW_HOURS": "24", "DEDUPE_TABLE_NAME": table}
    _archive_some_traffic(ingest, forward, archive, aws_stack, **log)
    assert _replay(aws_stack, Filters(HOUR, HOUR.replace(hour=23)), kind=kind, delivery_log=True) == 3
    assert forward(sqs_event(*received_records(aws_stack.sqs, aws_stack.events_url))) == {
        "batchItemFailures": []
    }
    assert _sent(httpserver) == Counter({"t-1": again, "t-2": again, "p-1": again})
