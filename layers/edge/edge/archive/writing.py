"""Writing the archive: archive-queue messages become objects in the archive bucket.

One invocation reads its batch of archive messages (``edge.core.archive``), sorts their events by
partition — the Source's label and the UTC date and hour of each event's ``receivedAt`` — and
puts one gzip JSON Lines object per partition, concurrently. A message whose events were all
written is done; one with events in an object that could not be written (S3 refusing, slow or
down) is left to SQS, which hands it out again after the queue's visibility timeout, for as long as
the queue keeps it (14 days): an outage delays the archive, it loses nothing. The objects of a
partition that were written before such a failure are written again on the retry: those events
are then archived twice (their ``messageId`` tells the copies apart).

A message that is not an archive message at all is kept as it is, under ``unreadable/``, so
nothing that reached the archive queue is dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol

from edge.core.archive import Partition, gzip_lines, object_key, partition_of, read_archive_message
from edge.core.errors import TransientError, UndeliverableError
from edge.core.observability import MetricName, MetricUnit, logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client  # type: ignore[import-not-found]

__all__ = ["Archiver", "Bucket", "Record", "S3Bucket", "Written"]

#: Compression of the objects: they are kept for the whole retention, so bytes count more than
#: the CPU (level 6 makes varied event JSON ~11x smaller, level 1 ~10x; docs/operations.md).
_LEVEL: Final = 6
_UNREADABLE: Final = "unreadable/"


class Record(NamedTuple):
    """An SQS record of the archive queue: its id and its body."""

    message_id: str
    body: str


class Bucket(Protocol):
    def put(self, key: str, body: bytes) -> None:
        """Write an object; ``TransientError`` if it could not be written."""
        ...


class S3Bucket:
    """The archive bucket (its default encryption applies: SSE-S3, or the stack's KMS key)."""

    def __init__(self, s3: S3Client | Any, name: str) -> None:
        self._s3 = s3
        self.name = name

    def put(self, key: str, body: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._s3.put_object(Bucket=self.name, Key=key, Body=body, ContentType="application/gzip")
        except (BotoCoreError, ClientError) as exc:
            raise TransientError(f"The archive bucket refused an object ({type(exc).__name__}).") from exc


@dataclass(slots=True)
class Written:
    """What an invocation wrote."""

    objects: int = 0
    events: int = 0
    failed: set[str] = field(default_factory=set)
    """Records to leave to SQS (``batchItemFailures``)."""
    errors: int = 0
    """Events in objects that could not be written."""
    unreadable: int = 0


@dataclass(slots=True)
class _Group:
    events: list[bytes] = field(default_factory=list)
    records: set[str] = field(default_factory=set)


class Archiver:
    """Writes batches of archive messages to the bucket; one per execution environment."""

    def __init__(
        self,
        bucket: Bucket,
        executor: Executor,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bucket = bucket
        self._executor = executor
        self._now = now
        self._clock = clock

    def write(self, records: Sequence[Record], writer: str) -> Written:
        """Write ``records``; ``writer`` (the invocation's request id) makes the keys its own."""
        started = self._clock()
        now = self._now()
        written = Written()
        groups: dict[Partition, _Group] = {}
        for record in records:
            try:
                batch = read_archive_message(record.body)
                events = batch.events
            except (UndeliverableError, ValueError) as exc:
                self._keep_unreadable(record, writer, written, str(exc))
                continue
            for event in events:
                group = groups.setdefault(partition_of(batch.source, event, now), _Group())
                group.events.append(event)
                group.records.add(record.message_id)
        puts = [
            (group, self._executor.submit(self._put, partition, group.events, now, writer, n))
            for n, (partition, group) in enumerate(groups.items())
        ]
        failures: list[str] = []
        for group, put in puts:
            error = put.exception()
            if error is None:
                written.objects += 1
                written.events += len(group.events)
            else:
                written.failed |= group.records
                written.errors += len(group.events)
                failures.append(str(error))
        self._publish(written, len(records), failures, self._clock() - started)
        return written

    def _put(self, partition: Partition, events: list[bytes], now: datetime, writer: str, n: int) -> None:
        self._bucket.put(object_key(partition, now, writer, n), gzip_lines(events, _LEVEL))

    def _keep_unreadable(self, record: Record, writer: str, written: Written, why: str) -> None:
        """An archive-queue message that is not an archive message, kept as it came."""
        key = f"{_UNREADABLE}{writer}-{record.message_id}"
        try:
            self._bucket.put(key, record.body.encode())
        except TransientError:
            written.failed.add(record.message_id)
            return
        written.unreadable += 1
        logger.error("unreadable archive message kept", extra={"key": key, "reason": why})

    def _publish(self, written: Written, messages: int, failures: list[str], seconds: float) -> None:
        metrics.add_metric(MetricName.EVENTS_ARCHIVED, MetricUnit.Count, written.events)
        if written.errors:
            metrics.add_metric(MetricName.ARCHIVE_ERRORS, MetricUnit.Count, written.errors)
            logger.warning(
                "archive bucket refused objects: their messages are retried",
                extra={"events": written.errors, "reason": failures[0]},
            )
        logger.info(
            "events archived",
            extra={
                "messages": messages,
                "objects": written.objects,
                "events_archived": written.events,
                "archive_errors": written.errors,
                "messages_failed": len(written.failed),
                "unreadable": written.unreadable,
                "ms": round(seconds * 1000, 1),
            },
        )
