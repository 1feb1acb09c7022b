"""The archive: where every forwarded event is kept, and in what form (README, "The archive").

**The bucket.** One object per Source, UTC hour of ``receivedAt`` and archive-function
invocation, gzip-compressed JSON Lines (one event per line, exactly the bytes MetaRouter was sent),
under Hive-style partitions that Athena's partition projection reads::

    events/source=<label>/dt=<YYYY-MM-DD>/hour=<HH>/<YYYYMMDDTHHMMSSZ>-<writer>-<n>.jsonl.gz

``<writer>`` is the invocation's request id, so two invocations never write the same key.

**A Source's label** is the one configured for its Source ID in the secret (``labels``), or a
short hash of the Source ID: the Source ID itself never appears in a key.

**The archive queue** carries events from the forwarder, once MetaRouter confirmed them, to the
archive function. A message (version 1)::

    {"v": 1, "kind": "archive", "source": "<label>", "events": <count>, "gzip": "<base64>"}

where ``gzip`` holds one or more gzip members whose concatenation is the events as JSON Lines.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

from pydantic_core import from_json, to_json

from edge.core.errors import Reason, UndeliverableError

__all__ = [
    "ARCHIVE_HEAD",
    "KEY_PREFIX",
    "LABEL_PATTERN",
    "MAX_MEMBER_BYTES",
    "ArchiveBatch",
    "Partition",
    "archive_message",
    "gzip_lines",
    "hour_starts",
    "is_archive_message",
    "label_for",
    "object_key",
    "parse_key",
    "partition_of",
    "read_archive_message",
    "read_lines",
    "received_at",
    "source_hash",
]

KEY_PREFIX: Final = "events/"
#: A configured label: what a Hive partition value and an S3 key take without escaping.
LABEL_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
#: A Source's hash: 16 hex digits (64 bits of SHA-256). A configured label cannot look like one.
_HASH: Final = re.compile(r"[0-9a-f]{16}")
#: How the archive-queue messages the forwarder writes begin (``is_archive_message``).
ARCHIVE_HEAD: Final = '{"v":1,"kind":"archive",'
#: The most gzip bytes one archive-queue message carries: base64 makes them 4/3 as long, and the
#: message must stay within SQS's 256 KiB with room for its envelope.
MAX_MEMBER_BYTES: Final = 190_000
_KEY: Final = re.compile(
    r"events/source=(?P<source>[a-z0-9][a-z0-9_-]*)/dt=(?P<dt>\d{4}-\d{2}-\d{2})/hour=(?P<hour>\d{2})/[^/]+"
)
_RECEIVED_AT: Final = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}):")


def source_hash(source_id: str) -> str:
    """A stable name for a Source ID that does not reveal it (64 bits of its SHA-256)."""
    return hashlib.sha256(b"metarouter-edge/archive\0" + source_id.encode()).hexdigest()[:16]


def label_for(source_id: str, labels: Mapping[str, str] | None) -> str:
    """The archive's name for a Source: its configured label when that is usable (the pattern,
    not hash-like, not another Source ID's too), else its hash."""
    label = (labels or {}).get(source_id)
    if label is None or not LABEL_PATTERN.fullmatch(label) or _HASH.fullmatch(label):
        return source_hash(source_id)
    if sum(1 for other in (labels or {}).values() if other == label) > 1:
        return source_hash(source_id)
    return label


class Partition(NamedTuple):
    """Where an event is kept: its Source's label and the UTC date and hour of its ``receivedAt``."""

    source: str
    dt: str
    """``YYYY-MM-DD``"""
    hour: str
    """``HH``"""

    @property
    def prefix(self) -> str:
        return f"{KEY_PREFIX}source={self.source}/dt={self.dt}/hour={self.hour}/"

    @property
    def start(self) -> datetime:
        return datetime.fromisoformat(f"{self.dt}T{self.hour}:00:00+00:00")


def received_at(event: bytes) -> str | None:
    """An archived event's ``receivedAt`` (the edge's clock, ISO-8601 UTC), or None."""
    try:
        decoded = from_json(event)
    except ValueError:
        return None
    value = decoded.get("receivedAt") if isinstance(decoded, dict) else None
    return value if isinstance(value, str) else None


def partition_of(source: str, event: bytes, fallback: datetime) -> Partition:
    """The partition of an event: its ``receivedAt``'s date and hour, or ``fallback``'s for an
    event without one (written by hand: ingest always sets it)."""
    found = _RECEIVED_AT.match(received_at(event) or "")
    if found is None:
        when = fallback.astimezone(UTC)
        return Partition(source, when.strftime("%Y-%m-%d"), when.strftime("%H"))
    return Partition(source, found[1], found[2])


def object_key(partition: Partition, written_at: datetime, writer: str, n: int) -> str:
    """The key of the ``n``-th object one writer (an invocation) puts in ``partition``."""
    safe = re.sub(r"[^A-Za-z0-9-]", "-", writer)[:64]
    return f"{partition.prefix}{written_at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{safe}-{n}.jsonl.gz"


def parse_key(key: str) -> Partition | None:
    """The partition an archive object's key names, or None for another key."""
    found = _KEY.fullmatch(key)
    return Partition(found["source"], found["dt"], found["hour"]) if found else None


def hour_starts(start: datetime, end: datetime) -> Iterator[datetime]:
    """The UTC hours (their first instant) that share time with ``[start, end)``."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while hour < end and start < end:
        yield hour
        hour += timedelta(hours=1)


def gzip_lines(events: Sequence[bytes], level: int = 6) -> bytes:
    """One gzip member of ``events`` as JSON Lines (each followed by a newline)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
    return compressor.compress(b"\n".join(events) + b"\n") + compressor.flush()


def read_lines(data: bytes) -> list[bytes]:
    """The events of gzip-compressed JSON Lines (every member of a multi-member stream)."""
    out: list[bytes] = []
    while data:
        inflater = zlib.decompressobj(31)
        out.append(inflater.decompress(data))
        if not inflater.eof:
            raise ValueError("a gzip member is cut short")
        data = inflater.unused_data
    return [line for line in b"".join(out).split(b"\n") if line]


class ArchiveBatch(NamedTuple):
    """An archive-queue message: a Source's label, its events' count and their gzip members."""

    source: str
    event_count: int
    data: bytes

    @property
    def events(self) -> list[bytes]:
        return read_lines(self.data)


def archive_message(source: str, count: int, members: Sequence[bytes]) -> str:
    """An archive-queue message of ``count`` events in ``members`` (gzip, concatenated)."""
    data = base64.b64encode(b"".join(members)).decode()
    head: dict[str, Any] = {"source": source, "events": count}
    return ARCHIVE_HEAD + to_json(head).decode()[1:-1] + ',"gzip":"' + data + '"}'


def is_archive_message(body: str) -> bool:
    """Whether a message body is an archive-queue message (the forwarder relays those)."""
    return body.startswith(ARCHIVE_HEAD)


def read_archive_message(body: str) -> ArchiveBatch:
    """An archive-queue message, or ``UndeliverableError``."""
    try:
        message = from_json(body)
        data = base64.b64decode(message["gzip"], validate=True)
        source, count = message["source"], message["events"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UndeliverableError(Reason.INVALID_MESSAGE, "Not an archive message.") from exc
    if message.get("v") != 1 or message.get("kind") != "archive":
        raise UndeliverableError(Reason.UNSUPPORTED_VERSION, "Not a version-1 archive message.")
    if not isinstance(source, str) or not LABEL_PATTERN.fullmatch(source) or not isinstance(count, int):
        raise UndeliverableError(Reason.INVALID_MESSAGE, "The archive message names no Source label.")
    return ArchiveBatch(source, count, data)
