"""Handlers in-process against moto's SQS and Secrets Manager."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from edge.core.config import ForwardSettings, IngestSettings
from edge.forward.forwarding import Forwarder
from edge.forward.wiring import build_forwarder
from edge.ingest.wiring import build_ingestor
from edge_local.context import LocalContext

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
    s3: Any = None
    archive_url: str = ""
    bucket: str = ""

    def set_secret(self, value: dict[str, Any]) -> None:
        self.secrets.put_secret_value(SecretId=self.secret_id, SecretString=json.dumps(value))

    def raw_bodies(self, queue_url: str) -> list[str]:
        """Every message body on a queue as SQS holds it (received once, not deleted)."""
        bodies: list[str] = []
        while answer := self.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300
        ).get("Messages"):
            bodies.extend(m["Body"] for m in answer)
        return bodies

    def messages(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message body on a queue, parsed (received once, not deleted)."""
        return [json.loads(body) for body in self.raw_bodies(queue_url)]

    def records(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message on a queue as the event source mapping hands it over (received, not
        deleted: hidden for five minutes)."""
        records: list[dict[str, Any]] = []
        while answer := self.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300, AttributeNames=["All"]
        ).get("Messages"):
            records += [
                {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"]}
                for m in answer
            ]
        return records

    def archived(self) -> dict[str, list[dict[str, Any]]]:
        """Every object in the archive bucket: its key and its events, decoded."""
        from edge.core.archive import read_lines

        found: dict[str, list[dict[str, Any]]] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                data = self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                found[item["Key"]] = [json.loads(line) for line in read_lines(data)]
        return found

    def queued_events(self) -> list[dict[str, Any]]:
        return [event for body in self.messages(self.events_url) for event in body["events"]]

    def quarantined(self) -> list[dict[str, Any]]:
        return [item for body in self.messages(self.quarantine_url) for item in body["rejected"]]

    def dead_letters(self) -> list[DeadLetterMessage]:
        """Every message on the dead-letter queue with its attributes (received once, not deleted)."""
        letters: list[DeadLetterMessage] = []
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=self.dead_letter_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=300,
                MessageAttributeNames=["All"],
            )
            if not answer.get("Messages"):
                return letters
            letters.extend(
                DeadLetterMessage(
                    m["Body"],
                    {k: (v["DataType"], v["StringValue"]) for k, v in m.get("MessageAttributes", {}).items()},
                )
                for m in answer["Messages"]
            )


@dataclass
class DeadLetterMessage:
    body: str
    typed_attributes: dict[str, tuple[str, str]]

    @property
    def attributes(self) -> dict[str, str]:
        return {name: value for name, (_, value) in self.typed_attributes.items()}

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(json.loads(self.body)["events"])


@pytest.fixture
def aws_stack() -> Iterator[AwsStack]:
    with mock_aws():
        sqs = boto3.client("sqs")
        secrets = boto3.client("secretsmanager")
        limits = {"MaximumMessageSize": "262144"}  # as template.yaml sets on all three queues
        dlq = sqs.create_queue(QueueName="edge-dlq", Attributes=limits)["QueueUrl"]
        events = sqs.create_queue(QueueName="edge-events", Attributes=limits)["QueueUrl"]
        quarantine = sqs.create_queue(QueueName="edge-quarantine", Attributes=limits)["QueueUrl"]
        secret = secrets.create_secret(
            Name="edge/secret", SecretString=json.dumps({"writeKey": OPEN_SOURCE_ID})
        )
        archive = sqs.create_queue(QueueName="edge-archive", Attributes=limits)["QueueUrl"]
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="edge-archive")
        yield AwsStack(sqs, secrets, events, quarantine, dlq, secret["ARN"], s3, archive, "edge-archive")


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

    monkeypatch.setattr(app.api, "ingestor", build_ingestor(ingest_settings))

    def call(event: dict[str, Any]) -> dict[str, Any]:
        return app.lambda_handler(event, LocalContext("edge-test", 60))

    return call


@dataclass
class ForwardHarness:
    """The real forward ``lambda_handler`` wired to moto and a local upstream; backoff only recorded."""

    aws: AwsStack
    endpoint: str
    monkeypatch: pytest.MonkeyPatch
    sleeps: list[float] = field(default_factory=list)
    forwarder: Forwarder | None = None

    def configure(self, **env: str) -> Forwarder:
        """A fresh forwarder (a new execution environment) with these variables over the defaults."""
        from forward import app

        self.close()
        settings = ForwardSettings.from_env(
            {
                "EDGE_SECRET_ID": self.aws.secret_id,
                "DEAD_LETTER_QUEUE_URL": self.aws.dead_letter_url,
                "METAROUTER_ENDPOINT": self.endpoint,
                "UPSTREAM_BACKOFF_BASE_SECONDS": "0.01",
                "FORWARD_TIME_MARGIN_SECONDS": "0.5",
                **env,
            }
        )
        self.forwarder = build_forwarder(settings, sleep=self.sleeps.append)
        self.monkeypatch.setattr(app, "forwarder", self.forwarder)
        return self.forwarder

    def __call__(self, event: dict[str, Any], *, remaining_ms: int = 60_000) -> dict[str, Any]:
        from forward import app

        if self.forwarder is None:
            self.configure()
        return dict(app.lambda_handler(event, LocalContext("edge-test", remaining_ms / 1000)))

    def close(self) -> None:
        if self.forwarder is not None:
            self.forwarder.close()
            self.forwarder = None


@dataclass
class ArchiveHarness:
    """The real archive ``lambda_handler`` wired to moto's S3; ``drain`` hands it the archive queue."""

    aws: AwsStack
    monkeypatch: pytest.MonkeyPatch
    s3: Any = None
    """The client the archiver writes with (a fault-injecting stand-in, if a test sets one)."""

    def __call__(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        from archive import app

        from edge.archive.wiring import build_archiver
        from edge.core.config import ArchiveSettings

        archiver = build_archiver(ArchiveSettings(bucket=self.aws.bucket), s3=self.s3 or self.aws.s3)
        self.monkeypatch.setattr(app, "archiver", archiver)
        return dict(app.lambda_handler({"Records": records}, LocalContext("edge-archive", 60)))

    def drain(self) -> dict[str, Any]:
        """Archive everything on the archive queue, deleting what was written (as the event source
        mapping would); what failed stays, visible again at once."""
        records = self.aws.records(self.aws.archive_url)
        answer = self(records) if records else {"batchItemFailures": []}
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        for record in records:
            if record["messageId"] in failed:
                self.aws.sqs.change_message_visibility(
                    QueueUrl=self.aws.archive_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
                )
            else:
                self.aws.sqs.delete_message(
                    QueueUrl=self.aws.archive_url, ReceiptHandle=record["receiptHandle"]
                )
        return answer


@pytest.fixture
def archive(aws_stack: AwsStack, monkeypatch: pytest.MonkeyPatch) -> ArchiveHarness:
    return ArchiveHarness(aws_stack, monkeypatch)


@pytest.fixture
def forward(
    aws_stack: AwsStack, httpserver: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ForwardHarness]:
    """Calls the real forward ``lambda_handler`` against moto and ``httpserver`` as MetaRouter."""
    harness = ForwardHarness(aws_stack, httpserver.url_for("").rstrip("/"), monkeypatch)
    yield harness
    harness.close()
