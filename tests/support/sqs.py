"""Builds SQS events the way the event source mapping hands them to the forward function."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from edge_local.poller import lambda_attributes

REGION = "us-east-1"
EVENTS_QUEUE_ARN = f"arn:aws:sqs:{REGION}:123456789012:edge-events"


def message_body(events: list[dict[str, Any]], source: str | None = None, version: int = 1) -> str:
    """A version-1 events message, as the ingest function writes it."""
    return json.dumps({"v": version, "source": source, "events": events})


def sqs_record(
    body: str,
    *,
    message_id: str | None = None,
    receipt_handle: str | None = None,
    receive_count: int = 1,
    attributes: dict[str, str] | None = None,
    message_attributes: dict[str, Any] | None = None,
    queue_arn: str = EVENTS_QUEUE_ARN,
) -> dict[str, Any]:
    """One record of an SQS event."""
    message_id = message_id or str(uuid.uuid4())
    return {
        "messageId": message_id,
        "receiptHandle": receipt_handle or f"rh-{message_id}",
        "body": body,
        "attributes": attributes
        or {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1700000000000",
            "SenderId": "AROAEXAMPLE:edge-ingest",
            "ApproximateFirstReceiveTimestamp": "1700000000100",
        },
        "messageAttributes": lambda_attributes(message_attributes or {}),
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def received_records(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message on a queue, received (not deleted) and shaped as event source mapping records."""
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    records: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300, AttributeNames=["All"]
        )
        if not answer.get("Messages"):
            return records
        records.extend(
            sqs_record(
                m["Body"],
                message_id=m["MessageId"],
                receipt_handle=m["ReceiptHandle"],
                attributes=m.get("Attributes"),
                queue_arn=queue_arn,
            )
            for m in answer["Messages"]
        )


def batch_item_failures(*message_ids: str) -> dict[str, Any]:
    """The partial batch response that reports ``message_ids``."""
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in message_ids]}


class EventSourceMapping:
    """Drives a forward handler from a queue like Lambda's SQS event source mapping: receive,
    invoke, delete what was not reported failed, and make the failed ones visible again at once
    (a visibility timeout of zero, so redeliveries need no waiting)."""

    def __init__(self, sqs: Any, queue_url: str, forward: Any) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.forward = forward
        self.arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.invocations = 0

    def poll(self) -> int:
        """One invocation with every message visible now; how many records it had."""
        messages: list[dict[str, Any]] = []
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=300,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            if not answer.get("Messages"):
                break
            messages.extend(answer["Messages"])
        if not messages:
            return 0
        records = [
            sqs_record(
                m["Body"],
                message_id=m["MessageId"],
                receipt_handle=m["ReceiptHandle"],
                attributes=m.get("Attributes"),
                message_attributes=m.get("MessageAttributes"),
                queue_arn=self.arn,
            )
            for m in messages
        ]
        self.invocations += 1
        response = self.forward(sqs_event(*records))
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] in failed:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return len(messages)

    def drain(self, most: int = 50) -> int:
        """Poll until the queue is empty (at most ``most`` invocations); how many there were."""
        for count in range(most):
            if not self.poll():
                return count
        raise AssertionError(f"the queue was not empty after {most} invocations")
