"""The archive function's composition root: its S3 client and the archiver, built once per
execution environment."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from edge.archive.writing import Archiver, S3Bucket
from edge.core.config import ArchiveSettings
from edge.core.runtime import after_snapstart_restore, aws_client_config

__all__ = ["build_archiver"]

# An object of a few MB: a longer read timeout than the forwarder's SQS calls; botocore retries
# throttling (503 Slow Down) and connection errors three times before the message is left to SQS.
_ARCHIVE_AWS = aws_client_config(connect_timeout=2, read_timeout=20, attempts=3)
#: Objects written at once: a batch holds a few Sources and hours.
_WRITERS = 8


def build_archiver(settings: ArchiveSettings, *, s3: Any = None) -> Archiver:
    """The archiver with a real S3 client, unless given another."""
    import boto3

    s3 = s3 or boto3.client("s3", config=_ARCHIVE_AWS)
    after_snapstart_restore(s3.close)
    executor = ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="archive-put")
    return Archiver(S3Bucket(s3, settings.bucket), executor)
