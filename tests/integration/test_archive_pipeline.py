"""The archive in one process: ingest → SQS → forward → archive queue → archive function → S3
(moto), an S3 outage and its recovery, and an archive queue that refuses its messages."""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import EndpointConnectionError

from edge.core.archive import source_hash
from support.apigw import api_event, basic_auth
from support.sqs import received_records, sqs_event
from support.upstream import received

CLOSED_SOURCES = {"pk_web_7f3a": "ILoveData123", "pk_ios_91bc": "OtherSource"}
HOUR = "events/source={source}/dt=2023-11-14/hour=22/"


def _accept_everything(httpserver: Any) -> None:
    httpserver.expect_request(re.compile(r"^/v1/\w+$"), method="POST").respond_with_json({"success": True})


def _send(ingest: Any, key: str, ids: list[str]) -> None:
    batch = [{"type": "track", "userId": "u", "event": "Viewed", "messageId": m} for m in ids]
    response = ingest(
        api_event("POST", "/v1/batch", {"batch": batch}, headers={"authorization": basic_auth(key)})
    )
    assert response["statusCode"] == 200


def _forward_everything(forward: Any, aws_stack: Any) -> None:
    records = received_records(aws_stack.sqs, aws_stack.events_url)
    assert forward(sqs_event(*records)) == {"batchItemFailures": []}


def test_what_metarouter_received_is_archived_per_source_and_hour_exactly_as_sent(
    ingest, forward, archive, aws_stack, httpserver
):
    _accept_everything(httpserver)
    aws_stack.set_secret({"sources": CLOSED_SOURCES, "labels": {"ILoveData123": "web"}})
    _send(ingest, "pk_web_7f3a", ["w-1", "w-2", "w-3"])
    _send(ingest, "pk_ios_91bc", ["i-1"])
    forward.configure(ARCHIVE_QUEUE_URL=aws_stack.archive_url)
    _forward_everything(forward, aws_stack)

    assert archive.drain() == {"batchItemFailures": []}
    objects = aws_stack.archived()
    sent = {e["messageId"]: e for request in received(httpserver) for e in request.events}
    by_prefix = {key.rsplit("/", 1)[0] + "/": events for key, events in objects.items()}
    assert sorted(by_prefix) == sorted(
        [HOUR.format(source="web"), HOUR.format(source=source_hash("OtherSource"))]
    )
    assert [e["messageId"] for e in by_prefix[HOUR.format(source="web")]] == ["w-1", "w-2", "w-3"]
    archived = sorted((e for events in objects.values() for e in events), key=lambda e: e["messageId"])
    assert archived == [sent[m] for m in sorted(sent)]
    assert not [key for key in objects if "ILoveData123" in key or "OtherSource" in key]
    assert all(key.endswith(".jsonl.gz") for key in objects)


def test_an_s3_outage_delays_the_archive_and_loses_nothing(ingest, forward, archive, aws_stack, httpserver):
    _accept_everything(httpserver)
    _send(ingest, "k", [f"e-{n}" for n in range(5)])
    forward.configure(ARCHIVE_QUEUE_URL=aws_stack.archive_url)
    _forward_everything(forward, aws_stack)
    assert len(received(httpserver)) == 1  # delivery did not wait for S3

    archive.s3 = _S3Down(aws_stack.s3)
    for _ in range(3):  # retried, as SQS hands the messages out again
        answer = archive.drain()
        assert len(answer["batchItemFailures"]) == 1
    assert aws_stack.archived() == {}

    archive.s3 = None  # S3 is back
    assert archive.drain() == {"batchItemFailures": []}
    [events] = aws_stack.archived().values()
    assert [e["messageId"] for e in events] == [f"e-{n}" for n in range(5)]
    assert aws_stack.records(aws_stack.archive_url) == []


def test_what_the_archive_queue_refuses_travels_through_the_events_queue(
    ingest, forward, archive, aws_stack, httpserver
):
    _accept_everything(httpserver)
    _send(ingest, "k", ["r-1", "r-2"])
    records = received_records(aws_stack.sqs, aws_stack.events_url)
    missing = aws_stack.archive_url + "-gone"
    forward.configure(ARCHIVE_QUEUE_URL=missing, EVENTS_QUEUE_URL=aws_stack.events_url)
    assert forward(sqs_event(*records)) == {"batchItemFailures": []}  # delivered, and the copy is safe
    [relay] = received_records(aws_stack.sqs, aws_stack.events_url)
    assert relay["body"].startswith('{"v":1,"kind":"archive",')

    forward.configure(ARCHIVE_QUEUE_URL=aws_stack.archive_url, EVENTS_QUEUE_URL=aws_stack.events_url)
    assert forward(sqs_event(relay)) == {"batchItemFailures": []}
    assert len(received(httpserver)) == 1  # relayed, not sent to MetaRouter again
    assert archive.drain() == {"batchItemFailures": []}
    [events] = aws_stack.archived().values()
    assert [e["messageId"] for e in events] == ["r-1", "r-2"]


class _S3Down:
    """An S3 client whose writes fail as in an outage (botocore's retries spent)."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def put_object(self, **_: Any) -> Any:
        raise EndpointConnectionError(endpoint_url="https://s3.us-east-1.amazonaws.com")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)
