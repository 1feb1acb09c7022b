"""The events-queue message format, both ways, and sending messages to a queue.

Message format, version 1 (the body of every message on the events queue)::

    {"v": 1, "source": "<fingerprint>" | null, "events": [<event>, ...], "sizes": [<bytes>, ...]}
    {"v": 1, "source": "<label>", "kind": "replay" | "replay-undelivered", "events": [...], "sizes": [...]}

``source`` names the inbound key's upstream Source (``edge.core.secret.fingerprint``) in closed
mode and is ``null`` in open mode. Events are complete, enriched Segment events. A message with a
``kind`` holds events sent again from the archive (``edge_ops.replay``): its ``source`` is the
archive's name for the Source (``edge.core.archive``), the forwarder neither archives them again
nor, for ``replay``, asks the delivery log whether they were delivered already. ``sizes``
(optional) is the length in bytes of each event as written: the forwarder cuts the events out
of the body with it instead of decoding and encoding every one of them again (``read_events``);
a message without it, or whose sizes do not fit its body exactly, is decoded in full. Quarantine
messages have the same envelope with ``"kind": "quarantine"`` and ``rejected`` items
``{"index", "reason", "errors", "event"}`` instead of ``events``, and no ``sizes``. Ingest
writes these messages (``pack_events``), the forwarder reads them and writes them again when it
parks events or sends the undelivered ones back (``events_message``).

Events are serialized once and messages are assembled from the serialized bytes, so packing
costs no second encoding.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from pydantic_core import from_json, to_json

from edge.core.errors import Reason, TransientError, UndeliverableError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef, SendMessageBatchRequestEntryTypeDef

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MESSAGE_VERSION",
    "PARKING_ROOM",
    "REPLAY",
    "REPLAY_KINDS",
    "REPLAY_UNDELIVERED",
    "Entry",
    "Queue",
    "QueueWriter",
    "QueuedEvents",
    "chunks",
    "decode_message",
    "events_message",
    "message_prefix",
    "pack",
    "pack_events",
    "read_events",
    "read_message",
    "serialize",
]

MESSAGE_VERSION: Final = 1
#: The kinds of events messages sent again from the archive: every event (``REPLAY``), or only
#: those the delivery log does not hold as delivered (``REPLAY_UNDELIVERED``).
REPLAY: Final = "replay"
REPLAY_UNDELIVERED: Final = "replay-undelivered"
REPLAY_KINDS: Final = frozenset({REPLAY, REPLAY_UNDELIVERED})
#: SQS's classic message size limit, and SendMessageBatch's limit on the sum of its entries.
MAX_MESSAGE_BYTES: Final = 256 * 1024
#: Room ingest leaves in every message for the attributes the forwarder adds if it ever parks
#: the message whole in the dead-letter queue (which has the same size limit): reason, detail
#: (at most 256 characters), status, origin message id, and their names and types.
PARKING_ROOM: Final = 4096
_ENTRIES_PER_BATCH: Final = 10  # SendMessageBatch's limit
_SUFFIX: Final = b"]}"
_SIZES: Final = b'],"sizes":['
# The head of a message as ``message_prefix`` writes it for events: a fingerprint is hex, an
# archive label lower-case letters, digits, ``-`` and ``_``; a kind, lower-case letters and ``-``.
_EVENTS_HEAD: Final = re.compile(
    rb'\{"v":1,"source":(null|"[0-9a-z_-]{1,64}")(?:,"kind":"([a-z-]{1,32})")?,"events":\['
)
_WRITE_KEY: Final = b'"writeKey"'


def serialize(value: Any) -> bytes:
    """Compact JSON, safe for an SQS message body.

    SQS refuses the noncharacters U+FFFE and U+FFFF, which JSON strings may carry: they are
    written as escapes instead, which decode to the same string. Values must be strict JSON
    (``edge.ingest.decoding.json_problem``): an infinite float would be written as ``Infinity``.
    """
    data = to_json(value)
    if b"\xef\xbf\xbe" in data or b"\xef\xbf\xbf" in data:
        data = data.replace(b"\xef\xbf\xbe", b"\\ufffe").replace(b"\xef\xbf\xbf", b"\\uffff")
    return data


@lru_cache(maxsize=256)  # a deployment has few sources; every request of one writes the same head
def message_prefix(source: str | None, *, kind: str | None = None, items: str = "events") -> bytes:
    """The bytes before the first item of a message: ``{"v":1,"source":…,"events":[``."""
    head: dict[str, Any] = {"v": MESSAGE_VERSION, "source": source}
    if kind:
        head["kind"] = kind
    return serialize(head)[:-1] + b',"' + items.encode() + b'":['


def events_message(
    source: str | None, events: Sequence[bytes], *, prefix: bytes | None = None, kind: str | None = None
) -> bytes:
    """A version-1 events message holding ``events`` (each serialized already), with their sizes."""
    sizes = b",".join(b"%d" % len(event) for event in events)
    return (prefix or message_prefix(source, kind=kind)) + b",".join(events) + _SIZES + sizes + _SUFFIX


def pack_events(
    source: str | None, events: Iterable[bytes], max_bytes: int, *, kind: str | None = None
) -> Iterator[bytes]:
    """Greedily pack serialized events into events messages of at most ``max_bytes``."""
    prefix = message_prefix(source, kind=kind)
    if isinstance(events, list) and len(events) == 1:  # a lone event: its own message, whatever its size
        yield events_message(source, events, prefix=prefix)
        return
    base = len(prefix) + len(_SIZES) + len(_SUFFIX)
    # An event costs its bytes and its size's digits, each list with a comma (counted once by
    # ``chunks``, once here).
    for run in chunks(
        events, lambda event: len(event) + len(b"%d" % len(event)) + 1, max_bytes=max_bytes, base=base
    ):
        yield events_message(source, run, prefix=prefix)


#: What an events message holds: its source, its serialized events, and its kind (None for live
#: events; ``replay`` or ``replay-undelivered`` for events sent again). A plain tuple: one per
#: message, on the forwarder's hottest path.
type QueuedEvents = tuple[str | None, list[bytes], str | None]


def read_events(body: str) -> tuple[str | None, list[bytes]]:
    """The source fingerprint and serialized events of an events message (no ``writeKey`` in any),
    or ``UndeliverableError``."""
    source, events, _ = read_message(body)
    return source, events


def read_message(body: str) -> QueuedEvents:
    """An events message's source, serialized events (no ``writeKey`` in any) and kind, or
    ``UndeliverableError``."""
    data = body.encode()
    packed = _cut(data)
    if packed is not None:
        if _WRITE_KEY not in data:  # one scan of the body rather than one per event
            return packed
        source, events, kind = packed
        try:
            return source, [_without_write_key(event) for event in events], kind
        except ValueError:
            pass  # an event that is not JSON: the full decoding says what is wrong
    source, decoded, kind = _decode(body)
    for event in decoded:
        event.pop("writeKey", None)  # ingest removes it; a hand-made or old message may not have
    return source, [serialize(event) for event in decoded], kind


def _cut(data: bytes) -> QueuedEvents | None:
    """The events of a message as ingest writes it, cut out by their ``sizes``; None if the message
    is not written that way or its sizes do not fit it exactly."""
    head = _EVENTS_HEAD.match(data)
    tail = data.rfind(_SIZES)
    if head is None or tail < head.end() - 1 or not data.endswith(_SUFFIX):
        return None
    listed = data[tail + len(_SIZES) : -len(_SUFFIX)]
    position = head.end()
    if listed.isdigit():  # a lone event, as every beacon's message holds: its size is its length
        lone = int(listed) == tail - position and _an_object(data, position, tail)
        return _queued(head, [data[position:tail]]) if lone else None
    events = _slices(data, position, tail, listed)
    return None if events is None else _queued(head, events)


def _slices(data: bytes, position: int, tail: int, listed: bytes) -> list[bytes] | None:
    """The events between ``position`` and ``tail`` by their listed sizes, if they tile it exactly."""
    try:
        sizes = [int(size) for size in listed.split(b",")] if listed else []
    except ValueError:
        return None
    events: list[bytes] = []
    for size in sizes:
        if events:
            if data[position : position + 1] != b",":
                return None
            position += 1
        end = position + size
        if end > tail or not _an_object(data, position, end):
            return None
        events.append(data[position:end])
        position = end
    return events if position == tail else None


def _an_object(data: bytes, start: int, end: int) -> bool:
    """Whether ``data[start:end]`` can be a JSON object: ``{…}``."""
    return end - start >= 2 and data[start] == 0x7B and data[end - 1] == 0x7D


def _queued(head: re.Match[bytes], events: list[bytes]) -> QueuedEvents:
    source, kind = head[1], head[2]
    return (None if source == b"null" else source[1:-1].decode()), events, (kind.decode() if kind else None)


def _without_write_key(event: bytes) -> bytes:
    """``event`` without a top-level ``writeKey`` (ingest removes it; a hand-made message may not)."""
    if _WRITE_KEY not in event:
        return event
    decoded = from_json(event)
    if not isinstance(decoded, dict) or "writeKey" not in decoded:
        return event
    del decoded["writeKey"]
    return serialize(decoded)


def decode_message(body: str) -> tuple[str | None, list[dict[str, Any]]]:
    """The source fingerprint and events of a version-1 message, or ``UndeliverableError``."""
    source, events, _ = _decode(body)
    return source, events


def _decode(body: str) -> tuple[str | None, list[dict[str, Any]], str | None]:
    try:
        message = from_json(body)
    except ValueError as exc:
        raise UndeliverableError(Reason.INVALID_MESSAGE, "The body is not JSON.") from exc
    if not isinstance(message, dict) or "v" not in message:
        raise UndeliverableError(Reason.INVALID_MESSAGE, "The body is not an events message.")
    version = message["v"]
    if not isinstance(version, int) or isinstance(version, bool) or version != MESSAGE_VERSION:
        raise UndeliverableError(Reason.UNSUPPORTED_VERSION, f"Version {version!r} is not read here.")
    source, events = message.get("source"), message.get("events")
    if source is not None and not isinstance(source, str):
        raise UndeliverableError(Reason.INVALID_MESSAGE, "The source is not a string or null.")
    if not isinstance(events, list) or not all(isinstance(event, dict) for event in events):
        raise UndeliverableError(Reason.INVALID_MESSAGE, "The events are not a list of objects.")
    kind = message.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise UndeliverableError(Reason.INVALID_MESSAGE, "The kind is not a string.")
    return source, events, kind


def chunks[T](
    items: Iterable[T],
    size: Callable[[T], int],
    *,
    max_bytes: int,
    max_count: int | None = None,
    base: int = 0,
) -> Iterator[list[T]]:
    """Runs of consecutive ``items`` (in order) within ``max_count`` items and ``max_bytes``.

    A run weighs ``base`` plus its items' sizes plus one byte between items (a JSON comma). An
    item too large to share a run still gets one of its own: the receiver decides.
    """
    run: list[T] = []
    total = base
    for item in items:
        extra = size(item) + (1 if run else 0)
        if run and ((max_count is not None and len(run) >= max_count) or total + extra > max_bytes):
            yield run
            run, total, extra = [], base, size(item)
        run.append(item)
        total += extra
    if run:
        yield run


def pack(items: Iterable[bytes], prefix: bytes, max_bytes: int) -> Iterator[bytes]:
    """Greedily pack serialized items into message bodies of at most ``max_bytes``.

    An item too large to share a message still gets one of its own; callers keep items far
    below ``max_bytes`` (an event is at most 32 KB).
    """
    for run in chunks(items, len, max_bytes=max_bytes, base=len(prefix) + len(_SUFFIX)):
        yield prefix + b",".join(run) + _SUFFIX


@dataclass(frozen=True, slots=True)
class Entry:
    """One message to send: its body, attributes and delivery delay."""

    body: str
    attributes: Mapping[str, MessageAttributeValueTypeDef] = field(default_factory=dict)
    delay: int = 0

    def size(self) -> int:
        """Bytes as SQS counts them against its limits: the body, and each attribute's name,
        type and value."""
        return len(self.body.encode("utf-8")) + sum(
            len(name) + len(value["DataType"]) + len(value.get("StringValue", "").encode("utf-8"))
            for name, value in self.attributes.items()
        )


class Queue:
    """One SQS queue, written with ``SendMessageBatch``: up to 10 entries and 256 KiB a call, the
    entries SQS reports as failed sent again."""

    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        *,
        max_bytes: int = MAX_MESSAGE_BYTES,
        attempts: int = 3,
        backoff: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self.max_bytes = max_bytes
        """The size of one call's entries together (SendMessageBatch's limit)."""
        self._attempts = attempts
        self._backoff = backoff
        self._sleep = sleep

    def send(self, entries: Sequence[Entry], *, time_left: Callable[[], float] | None = None) -> list[int]:
        """Send ``entries``; the positions of those not sent, in order (none: all were).

        A call that fails (botocore already retried connection errors and throttling) or a
        ``time_left`` under a second ends the sending: what was not sent by then is returned.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        numbered = list(enumerate(entries))
        runs = list(
            chunks(numbered, lambda e: e[1].size(), max_bytes=self.max_bytes, max_count=_ENTRIES_PER_BATCH)
        )
        for done, run in enumerate(runs):
            pending = run
            for attempt in range(self._attempts):
                if time_left is not None and time_left() < 1.0:
                    return _positions(runs[done:], pending)
                if attempt:
                    self._sleep(self._backoff * 2 ** (attempt - 1))
                try:
                    answer = self._sqs.send_message_batch(
                        QueueUrl=self.queue_url, Entries=[_request_entry(i, e) for i, e in pending]
                    )
                except (BotoCoreError, ClientError):
                    return _positions(runs[done:], pending)
                failed = {entry["Id"] for entry in answer.get("Failed", [])}
                pending = [(i, e) for i, e in pending if str(i) in failed]
                if not pending:
                    break
            if pending:
                return _positions(runs[done:], pending)
        return []

    def delete(self, receipt_handles: Sequence[str], *, time_left: Callable[[], float]) -> int:
        """Delete received messages, ten a call; how many could not be (a failed call is not
        retried: whoever received them deletes them again, or SQS hands them out again)."""
        from botocore.exceptions import BotoCoreError, ClientError

        left = len(receipt_handles)
        for start in range(0, len(receipt_handles), _ENTRIES_PER_BATCH):
            if time_left() < 1.0:
                break
            handles = receipt_handles[start : start + _ENTRIES_PER_BATCH]
            try:
                answer = self._sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(handles)],
                )
            except (BotoCoreError, ClientError):
                break
            left -= len(handles) - len(answer.get("Failed", []))
        return left


def _positions(runs: list[list[tuple[int, Entry]]], pending: list[tuple[int, Entry]]) -> list[int]:
    """The positions not sent: ``pending`` of the current run, and every later run."""
    return [i for i, _ in pending] + [i for run in runs[1:] for i, _ in run]


def _request_entry(index: int, entry: Entry) -> SendMessageBatchRequestEntryTypeDef:
    request: SendMessageBatchRequestEntryTypeDef = {"Id": str(index), "MessageBody": entry.body}
    if entry.attributes:
        request["MessageAttributes"] = entry.attributes
    if entry.delay:
        request["DelaySeconds"] = entry.delay
    return request


class QueueWriter:
    """Ingest's writer: message bodies to one queue, all of them or ``TransientError``."""

    def __init__(self, sqs: SQSClient, queue_url: str, max_bytes: int, backoff: float = 0.05) -> None:
        self._queue = Queue(sqs, queue_url, max_bytes=max_bytes, backoff=backoff)
        self.max_bytes = max_bytes

    def send(self, messages: Iterable[bytes]) -> None:
        """Send every message or raise ``TransientError``."""
        not_sent = self._queue.send([Entry(message.decode("utf-8")) for message in messages])
        if not_sent:
            raise TransientError(f"{len(not_sent)} messages could not be queued.")
