"""Handlers in-process against moto's SQS and Secrets Manager."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from edge.config import IngestSettings
from edge.wiring import build_ingestor
from moto import mock_aws
from support.fakes import FakeLambdaContext

OPEN_SOURCE_ID = "ILoveData123"
CLOSED_SOURCES = {"pk_web_7f3a": "ILoveData123", "pk_ios_91bc": "OtherSource"}


@dataclass
class AwsStack:
    """The queues and secret of one deployment, in moto."""

    sqs: Any
    secrets: Any
    events_url: str
    quarantine_url: str
    dead_letter_url: str
    secret_id: str

    def set_secret(self, value: dict[str, Any]) -> None:
        self.secrets.put_secret_value(SecretId=self.secret_id, SecretString=json.dumps(value))

    def messages(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message body on a queue (received once, not deleted)."""
        bodies: list[dict[str, Any]] = []
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=300,
                MessageAttributeNames=["All"],
            )
            if not answer.get("Messages"):
                return bodies
            bodies.extend(json.loads(m["Body"]) for m in answer["Messages"])

    def queued_events(self) -> list[dict[str, Any]]:
        return [event for body in self.messages(self.events_url) for event in body["events"]]

    def quarantined(self) -> list[dict[str, Any]]:
        return [item for body in self.messages(self.quarantine_url) for item in body["rejected"]]


@pytest.fixture
def aws_stack() -> Iterator[AwsStack]:
    with mock_aws():
        sqs = boto3.client("sqs")
        secrets = boto3.client("secretsmanager")
        dlq = sqs.create_queue(QueueName="edge-dlq")["QueueUrl"]
        events = sqs.create_queue(QueueName="edge-events")["QueueUrl"]
        quarantine = sqs.create_queue(QueueName="edge-quarantine")["QueueUrl"]
        secret = secrets.create_secret(
            Name="edge/secret", SecretString=json.dumps({"writeKey": OPEN_SOURCE_ID})
        )
        yield AwsStack(sqs, secrets, events, quarantine, dlq, secret["ARN"])


@pytest.fixture
def ingest_settings(aws_stack: AwsStack) -> IngestSettings:
    return IngestSettings.from_env(
        {
            "EVENTS_QUEUE_URL": aws_stack.events_url,
            "QUARANTINE_QUEUE_URL": aws_stack.quarantine_url,
            "EDGE_SECRET_ID": aws_stack.secret_id,
            "SECRET_MAX_AGE_SECONDS": "0",
        }
    )


@pytest.fixture
def ingest(aws_stack: AwsStack, ingest_settings: IngestSettings, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Calls the real ingest ``lambda_handler`` wired to this test's moto resources."""
    from ingest import app

    monkeypatch.setattr(app, "ingestor", build_ingestor(ingest_settings))

    def call(event: dict[str, Any]) -> dict[str, Any]:
        return app.lambda_handler(event, FakeLambdaContext())

    return call
