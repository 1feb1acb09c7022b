"""The forwarder's side of the archive: what MetaRouter confirmed goes to the archive queue.

As MetaRouter confirms a request, its events are compressed (one gzip member per request, level 1:
the archive function compresses again, harder, for the bucket) and kept per Source label. When the
sending is done — and, in a long invocation, at each checkpoint — the members go to the archive
queue, several to a message (``edge.core.archive``), in as few ``SendMessageBatch`` calls as SQS
allows. The invocation sends them before it settles its messages, so a message SQS deletes always
has its events' archive copy on a queue; the archive function writes them to S3 later, whatever
S3's state. It is done on the invocation's own thread: Lambda gives the forwarder a fraction of
one vCPU, so threads would buy no compression time, and measured on loopback they cost more in
hand-offs than they saved (docs/performance.md).

What the archive queue does not take goes to the events queue instead (``Forwarder`` sends it
there; the next delivery relays it), and what neither takes leaves its messages to SQS: their
events reach MetaRouter again, and the archive then. Nothing MetaRouter confirmed is left out of
the archive; an event confirmed twice is archived twice. Events sent again from the archive (a
replay) are not archived again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

from edge.core.archive import MAX_MEMBER_BYTES, archive_message, gzip_lines
from edge.core.queueing import Entry, Queue, chunks

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from edge.forward.batching import Item

__all__ = ["ArchiveQueue", "Archived", "Archiving", "Sink"]

#: Fast compression: the archive function compresses again, harder, for the bucket.
_LEVEL: Final = 1


class Sink(Protocol):
    """Where archive messages go: the archive queue."""

    def send(self, bodies: Sequence[str], *, time_left: Callable[[], float]) -> list[int]:
        """Send ``bodies``; the positions of those not sent."""
        ...


class ArchiveQueue:
    """The archive queue, written with ``SendMessageBatch`` (failed entries sent again)."""

    def __init__(self, sqs: SQSClient, queue_url: str, *, backoff: float = 0.05) -> None:
        self._queue = Queue(sqs, queue_url, attempts=3, backoff=backoff)

    def send(self, bodies: Sequence[str], *, time_left: Callable[[], float]) -> list[int]:
        return self._queue.send([Entry(body) for body in bodies], time_left=time_left)


@dataclass(slots=True)
class _Message:
    body: str
    items: list[Item]
    origin: str | None = None
    """For a relayed archive message: the events-queue message it arrived in."""


@dataclass(slots=True)
class Archived:
    """What became of an invocation's archive copies."""

    events: int = 0
    """Events whose copy is on the archive queue."""
    unsent: list[str] = field(default_factory=list)
    """Archive messages the queue did not take (bodies), for the events queue."""
    unsent_items: list[list[Item]] = field(default_factory=list)
    """The events of each of ``unsent``."""
    relayed: set[str] = field(default_factory=set)
    """Relayed messages that reached the archive queue (their origins)."""
    not_relayed: set[str] = field(default_factory=set)
    """Relayed messages that did not (their origins: SQS redelivers them)."""


class Archiving:
    """One invocation's archive copies: compressed as confirmed (``add``), sent by ``flush``."""

    def __init__(self, sink: Sink, *, label_for: Callable[[str], str]) -> None:
        self._sink = sink
        self._label_for = label_for
        self._labels: dict[str, str] = {}
        self._confirmed: dict[str, list[list[Item]]] = {}
        self._relays: list[_Message] = []
        self.outcome = Archived()

    def add(self, source_id: str, items: list[Item]) -> None:
        """Keep the copies of ``items``, which MetaRouter confirmed for ``source_id`` (compressed
        by ``flush``: while requests are in flight, a thread that lets go of the interpreter lock
        to compress waits to get it back)."""
        label = self._labels.get(source_id)
        if label is None:
            label = self._labels[source_id] = self._label_for(source_id)
        self._confirmed.setdefault(label, []).append(items)

    def relay(self, body: str, origin: str) -> None:
        """Send on an archive message that came through the events queue."""
        self._relays.append(_Message(body, [], origin))

    def flush(self, time_left: Callable[[], float]) -> None:
        """Send everything kept so far; what it became adds to ``outcome``."""
        if not self._confirmed and not self._relays:
            return
        members = {
            label: [p for items in runs for p in _compress(items)] for label, runs in self._confirmed.items()
        }
        messages = [*_messages(members), *self._relays]
        self._confirmed, self._relays = {}, []
        unsent = set(self._sink.send([m.body for m in messages], time_left=time_left))
        outcome = self.outcome
        for position, message in enumerate(messages):
            sent = position not in unsent
            if message.origin is not None:
                (outcome.relayed if sent else outcome.not_relayed).add(message.origin)
            elif sent:
                for item in message.items:
                    item.archived = True
                outcome.events += len(message.items)
            else:
                outcome.unsent.append(message.body)
                outcome.unsent_items.append(message.items)


def _compress(items: list[Item]) -> list[tuple[list[Item], bytes]]:
    """``items`` as gzip members of at most ``MAX_MEMBER_BYTES`` (halved until they fit)."""
    data = gzip_lines([item.data for item in items], _LEVEL)
    if len(data) <= MAX_MEMBER_BYTES or len(items) == 1:
        return [(items, data)]
    middle = len(items) // 2
    return _compress(items[:middle]) + _compress(items[middle:])


def _messages(members: dict[str, list[tuple[list[Item], bytes]]]) -> list[_Message]:
    """The archive messages of ``members``: per label, members packed up to ``MAX_MEMBER_BYTES``."""
    messages: list[_Message] = []
    for label, parts in members.items():
        for run in chunks(parts, lambda part: len(part[1]), max_bytes=MAX_MEMBER_BYTES):
            items = [item for part in run for item in part[0]]
            body = archive_message(label, len(items), [part[1] for part in run])
            messages.append(_Message(body, items))
    return messages
