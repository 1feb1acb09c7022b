"""The SQS message format and how one request's events are packed into few messages.

Message format, version 1 (the body of every message on the events queue)::

    {"v": 1, "source": "<fingerprint>" | null, "events": [<event>, ...]}

``source`` names the inbound key's upstream Source (``edge.secret.fingerprint``) in closed
mode and is ``null`` in open mode. Events are complete, enriched Segment events. Quarantine
messages have the same envelope with ``"kind": "quarantine"`` and ``rejected`` items
``{"index", "reason", "errors", "event"}`` instead of ``events``.

Events are serialized once and messages are assembled from the serialized bytes, so packing
costs no second encoding.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from pydantic_core import to_json

from edge.errors import TransientError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = [
    "MESSAGE_VERSION",
    "PARKING_ROOM",
    "QueueWriter",
    "message_prefix",
    "pack",
    "serialize",
]

MESSAGE_VERSION: Final = 1
#: Room ingest leaves in every message for the attributes the forwarder adds if it ever parks
#: the message whole in the dead-letter queue (which has the same size limit): reason, detail
#: (at most 256 characters), status, origin message id, and their names and types.
PARKING_ROOM: Final = 4096
_ENTRIES_PER_BATCH: Final = 10  # SendMessageBatch's limit
_SEND_ATTEMPTS: Final = 3


def serialize(value: Any) -> bytes:
    """Compact JSON, safe for an SQS message body.

    SQS refuses the noncharacters U+FFFE and U+FFFF, which JSON strings may carry: they are
    written as escapes instead, which decode to the same string. Values must be strict JSON
    (``edge.decoding.json_problem``): an infinite float would be written as ``Infinity``.
    """
    data = to_json(value)
    if b"\xef\xbf\xbe" in data or b"\xef\xbf\xbf" in data:
        data = data.replace(b"\xef\xbf\xbe", b"\\ufffe").replace(b"\xef\xbf\xbf", b"\\uffff")
    return data


def message_prefix(source: str | None, *, kind: str | None = None, items: str = "events") -> bytes:
    """The bytes before the first item of a message: ``{"v":1,"source":…,"events":[``."""
    head: dict[str, Any] = {"v": MESSAGE_VERSION, "source": source}
    if kind:
        head["kind"] = kind
    return serialize(head)[:-1] + b',"' + items.encode() + b'":['


def pack(items: Iterable[bytes], prefix: bytes, max_bytes: int) -> Iterator[bytes]:
    """Greedily pack serialized items into message bodies of at most ``max_bytes``.

    An item too large to share a message still gets one of its own; callers keep items far
    below ``max_bytes`` (an event is at most 32 KB).
    """
    suffix = b"]}"
    chunk: list[bytes] = []
    size = len(prefix) + len(suffix)
    for item in items:
        extra = len(item) + (1 if chunk else 0)
        if chunk and size + extra > max_bytes:
            yield prefix + b",".join(chunk) + suffix
            chunk, size = [], len(prefix) + len(suffix)
            extra = len(item)
        chunk.append(item)
        size += extra
    if chunk:
        yield prefix + b",".join(chunk) + suffix


def _entry_batches(bodies: Sequence[str], max_bytes: int) -> Iterator[list[tuple[int, str]]]:
    """Groups of at most 10 message bodies whose total stays within SendMessageBatch's limit."""
    group: list[tuple[int, str]] = []
    total = 0
    for index, body in enumerate(bodies):
        size = len(body.encode("utf-8"))
        if group and (len(group) == _ENTRIES_PER_BATCH or total + size > max_bytes):
            yield group
            group, total = [], 0
        group.append((index, body))
        total += size
    if group:
        yield group


class QueueWriter:
    """Sends message bodies to one queue with ``SendMessageBatch``, retrying failed entries."""

    def __init__(self, sqs: SQSClient, queue_url: str, max_bytes: int, backoff: float = 0.05) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self.max_bytes = max_bytes
        self._backoff = backoff

    def send(self, messages: Iterable[bytes]) -> int:
        """Send every message or raise ``TransientError``; returns the number of SQS calls."""
        from botocore.exceptions import BotoCoreError, ClientError

        bodies = [message.decode("utf-8") for message in messages]
        calls = 0
        for group in _entry_batches(bodies, self.max_bytes):
            pending = group
            for attempt in range(_SEND_ATTEMPTS):
                if attempt:
                    time.sleep(self._backoff * 2 ** (attempt - 1))
                calls += 1
                try:  # botocore already retried connection errors and throttling
                    answer = self._sqs.send_message_batch(
                        QueueUrl=self.queue_url,
                        Entries=[{"Id": str(i), "MessageBody": body} for i, body in pending],
                    )
                except (BotoCoreError, ClientError) as exc:
                    raise TransientError("The queue could not be reached.") from exc
                failed = {entry["Id"] for entry in answer.get("Failed", [])}
                pending = [(i, body) for i, body in pending if str(i) in failed]
                if not pending:
                    break
            if pending:
                raise TransientError(f"{len(pending)} messages could not be queued.")
        return calls
