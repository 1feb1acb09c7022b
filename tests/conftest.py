"""Shared fixtures: no test reaches AWS or the internet; AWS comes from moto."""

from __future__ import annotations

import os

# Before any boto3 client exists: fake credentials, a region, and the handler's configuration.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "edge-tests",
        "POWERTOOLS_METRICS_NAMESPACE": "MetaRouterEdge",
        "EVENTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/unset-events",
        "QUARANTINE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/unset-quarantine",
        "EDGE_SECRET_ID": "unset",
        "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/unset-dlq",
        "METAROUTER_ENDPOINT": "http://127.0.0.1:9",
        "ARCHIVE_BUCKET_NAME": "unset-archive",
        # Every request's outcome line, whatever the deployed default samples.
        "OUTCOME_LOG_SAMPLE_RATE": "1",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

import io
import logging
from collections.abc import Iterator

import moto  # noqa: F401  - registers moto's botocore hook before clients are created
import pytest

from edge_local.moto_dynamodb import patch_transactions

patch_transactions()  # in-process moto too: the delivery log's claims, without moto's table copies


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Everything the Powertools logger writes, formatted as in Lambda."""
    from edge.core.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)
