"""The payloads every figure uses: the 1 KB track event of ``events/apigw-track.json``."""

from __future__ import annotations

import copy
import json
import uuid
from functools import cache
from typing import Any

from bench.lambda_env import ROOT

__all__ = [
    "api_batch_event",
    "api_track_event",
    "enriched_event",
    "segment_event",
    "sqs_event",
    "sqs_records",
]


@cache
def _sample() -> dict[str, Any]:
    sample: dict[str, Any] = json.loads((ROOT / "events" / "apigw-track.json").read_text())
    return sample


def api_track_event() -> dict[str, Any]:
    """``POST /v1/track`` with one ~1.1 KB event, as API Gateway (payload v2) hands it over."""
    return copy.deepcopy(_sample())


def segment_event() -> dict[str, Any]:
    """The event of the sample request, parsed."""
    body: dict[str, Any] = json.loads(_sample()["body"])
    return body


def api_batch_event(size: int, first: int = 0) -> dict[str, Any]:
    """``POST /v1/batch`` with ``size`` copies of the sample event, each with its own messageId
    (``first``, ``first + 1``, … as UUIDs)."""
    items = []
    for index in range(first, first + size):
        item = segment_event()
        item["type"] = "track"
        item["messageId"] = f"{uuid.UUID(int=index)}"
        items.append(item)
    event = api_track_event()
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/batch"
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /v1/batch"
    event["body"] = json.dumps({"batch": items, "sentAt": "2023-11-14T22:13:19.900Z"}, separators=(",", ":"))
    event["headers"]["content-length"] = str(len(event["body"]))
    return event


def enriched_event(index: int) -> dict[str, Any]:
    """The sample event as ingest queues it (type, ids, clocks and context filled in)."""
    event = segment_event()
    event.update(
        type="track",
        messageId=f"{uuid.UUID(int=index)}",
        receivedAt="2023-11-14T22:13:20.000Z",
        originalTimestamp=event["timestamp"],
    )
    event["context"]["ip"] = "203.0.113.7"
    return event


def sqs_event(events: list[dict[str, Any]]) -> dict[str, Any]:
    """One SQS record per event, each a version-1 events message, as the event source hands them over."""
    return sqs_records(
        [json.dumps({"v": 1, "source": None, "events": [event]}, separators=(",", ":")) for event in events]
    )


def sqs_records(bodies: list[str]) -> dict[str, Any]:
    """The SQS event Lambda hands the forwarder for these message bodies (first deliveries)."""
    records = []
    for index, body in enumerate(bodies):
        records.append(
            {
                "messageId": f"{uuid.UUID(int=index + 1)}",
                "receiptHandle": f"rh-{index}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1700000000000",
                    "SenderId": "AROAEXAMPLE:edge-ingest",
                    "ApproximateFirstReceiveTimestamp": "1700000000100",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:edge-events",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}
