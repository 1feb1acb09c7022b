"""The embedded AWS endpoint: moto in server mode, with the queues and secret the template creates."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.server import ThreadedMotoServer

from edge_local.clients import client
from edge_local.guard import guard_wsgi
from edge_local.template import TemplateSettings

#: The Source ID every event goes to in open mode unless ``METAROUTER_WRITE_KEY`` names another.
DEFAULT_SOURCE_ID = "LOCAL_SOURCE_ID"
#: The local archive bucket (in AWS the stack's name is generated: the ArchiveBucketName output).
ARCHIVE_BUCKET = "metarouter-edge-archive"


def edge_secret(env: dict[str, str]) -> dict[str, Any]:
    """The edge's secret as the local stack creates it: closed mode from ``EDGE_SOURCES``,
    else open mode with ``METAROUTER_WRITE_KEY`` (or ``DEFAULT_SOURCE_ID``)."""
    if env.get("EDGE_SOURCES"):
        sources = json.loads(env["EDGE_SOURCES"])
        if not isinstance(sources, dict) or not sources:
            raise SystemExit("EDGE_SOURCES must be a JSON object of write key -> Source ID")
        return {"sources": sources}
    return {"writeKey": env.get("METAROUTER_WRITE_KEY") or DEFAULT_SOURCE_ID}


@dataclass(frozen=True)
class Resources:
    endpoint: str
    events_queue_url: str
    events_queue_arn: str
    dead_letter_queue_url: str
    quarantine_queue_url: str
    secret_id: str
    archive_queue_url: str | None = None
    archive_bucket: str | None = None


class EmbeddedAws:
    """moto's server on loopback; ``start`` creates the stack's queues and secret in it."""

    def __init__(self, port: int = 0) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log per SQS call
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)

    def start(
        self,
        settings: TemplateSettings,
        secret: dict[str, Any],
        *,
        visibility_timeout: int,
        archive_days: int = 0,
        archive_visibility_timeout: int | None = None,
    ) -> Resources:
        self._server.start()
        served = self._server._server  # werkzeug's server: it calls its ``app`` for each request
        if served is not None:
            served.app = guard_wsgi(served.app)  # loopback SDK requests only (edge_local.guard)
        host, port = self._server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        sqs = client("sqs", endpoint)
        dead = sqs.create_queue(
            QueueName="edge-dead-letter", Attributes=settings.dead_letter_queue_attributes
        )
        dead_arn = _arn(sqs, dead["QueueUrl"])
        events_attributes = {
            **settings.events_queue_attributes,
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dead_arn, "maxReceiveCount": settings.max_receive_count}
            ),
        }
        events = sqs.create_queue(QueueName="edge-events", Attributes=events_attributes)
        quarantine = sqs.create_queue(
            QueueName="edge-quarantine", Attributes=settings.quarantine_queue_attributes
        )
        secret_arn = client("secretsmanager", endpoint).create_secret(
            Name="metarouter-edge/secret", SecretString=json.dumps(secret)
        )["ARN"]
        archive_queue_url = archive_bucket = None
        if archive_days:
            attributes = dict(settings.archive_queue_attributes)
            if archive_visibility_timeout is not None:
                attributes["VisibilityTimeout"] = str(archive_visibility_timeout)
            archive_queue_url = sqs.create_queue(QueueName="edge-archive", Attributes=attributes)["QueueUrl"]
            archive_bucket = create_archive_bucket(client("s3", endpoint), archive_days)
        return Resources(
            endpoint=endpoint,
            events_queue_url=events["QueueUrl"],
            events_queue_arn=_arn(sqs, events["QueueUrl"]),
            dead_letter_queue_url=dead["QueueUrl"],
            quarantine_queue_url=quarantine["QueueUrl"],
            secret_id=secret_arn,
            archive_queue_url=archive_queue_url,
            archive_bucket=archive_bucket,
        )

    def stop(self) -> None:
        self._server.stop()


class SeparateMoto:
    """moto's server in a process of its own, on loopback: the delivery log's DynamoDB (with
    ``edge_local.moto_dynamodb``'s transactions).

    In AWS, DynamoDB is a service of its own; served from the stack's process, it would share one
    interpreter with SQS, the poller, the gateway and the stand-in, and be several times slower
    than the queues it sits beside. The forwarder reaches it through ``AWS_ENDPOINT_URL_DYNAMODB``.
    """

    def __init__(self, timeout: float = 30) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._process = subprocess.Popen(  # noqa: S603 - this interpreter, moto's own server
            [sys.executable, "-m", "edge_local.moto_dynamodb", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parents[1],
            # No CORS allowance for every origin: no web page can read or call it (DynamoDB's calls
            # all need a preflight).
            env={**os.environ, "MOTO_DISABLE_GLOBAL_CORS": "true"},
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.stop()
                    raise RuntimeError("moto's server for DynamoDB did not start") from None
                time.sleep(0.1)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)


def create_delivered_table(dynamodb: Any, name: str = "edge-delivered") -> str:
    """The delivery log as template.yaml's DeliveredTable declares it (on demand, TTL, SSE)."""
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        SSESpecification={"Enabled": True},
    )
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"AttributeName": "expiresAt", "Enabled": True}
    )
    return name


def create_archive_bucket(s3: Any, days: int, name: str = ARCHIVE_BUCKET) -> str:
    """The archive bucket as template.yaml's ArchiveBucket declares it: private, encrypted, objects
    expiring after ``days`` (moto keeps the settings; it enforces neither TLS nor the policy)."""
    s3.create_bucket(Bucket=name)
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=name,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "ExpireAfterTheRetention",
                    "Status": "Enabled",
                    "Filter": {},
                    "Expiration": {"Days": days},
                }
            ]
        },
    )
    return name


def _arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
