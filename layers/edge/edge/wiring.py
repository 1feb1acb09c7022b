"""Builds each function's boundaries once per execution environment (clients, pools, stores)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from edge.config import IngestSettings
from edge.ingestion import Ingestor
from edge.queueing import QueueWriter
from edge.secret import SecretStore

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

__all__ = ["aws_client_config", "build_ingestor"]


def aws_client_config(*, connect_timeout: float, read_timeout: float, attempts: int) -> Config:
    """botocore settings: short timeouts so a stuck dependency becomes a 503, not an API timeout."""
    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": attempts},
        tcp_keepalive=True,
    )


# The API Gateway integration times out at 30 s; two attempts of (1 s + 3 s) stay well inside it.
_INGEST_AWS = aws_client_config(connect_timeout=1, read_timeout=3, attempts=2)


def build_ingestor(
    settings: IngestSettings,
    *,
    sqs: SQSClient | None = None,
    secretsmanager: SecretsManagerClient | None = None,
) -> Ingestor:
    """The ingest service with real clients, unless given others."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    sqs = sqs or _client("sqs")
    secretsmanager = secretsmanager or _client("secretsmanager")
    return Ingestor(
        events=QueueWriter(sqs, settings.events_queue_url, settings.max_message_bytes),
        quarantine=QueueWriter(sqs, settings.quarantine_queue_url, settings.max_message_bytes),
        secrets=SecretStore(
            SecretsProvider(boto3_client=secretsmanager), settings.edge_secret_id, settings.secret_max_age
        ),
        ip_policy=settings.ip_policy,
    )


def _client(service: str) -> Any:
    return boto3.client(service, config=_INGEST_AWS)  # type: ignore[call-overload]
