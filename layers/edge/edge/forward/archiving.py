"""The forwarder's side of the archive: what MetaRouter confirmed goes to the archive queue.

As MetaRouter confirms a request, its events are compressed on the archive's threads (one gzip
member per request; zlib lets go of the interpreter lock, so this overlaps the other requests) and
kept per Source label. When the sending is done — and, in a long invocation, at each checkpoint —
the members go to the archive queue, several to a message (``edge.core.archive``), in as few
``SendMessageBatch`` calls as SQS allows, on a thread of their own while the forwarder settles its
messages. The invocation waits for them before it answers, so a message SQS deletes always has its
events' archive copy on a queue. The archive function writes them to S3 later, whatever S3's state.

What the archive queue does not take goes to the events queue instead (``Forwarder`` sends it
there; the next delivery relays it), and what neither takes leaves its messages to SQS: their
events reach MetaRouter again, and the archive then. Nothing MetaRouter confirmed is left out of
the archive; an event confirmed twice is archived twice. Events sent again from the archive (a
replay) are not archived again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, wait
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
    """Where archive messages go: the archive queue (or, when it refuses them, the events queue)."""

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
class _Member:
    """A request's confirmed events and their gzip member (compressed on the archive's threads)."""

    label: str
    items: list[Item]
    data: Future[list[tuple[list[Item], bytes]]]


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
    unfinished: list[Item] = field(default_factory=list)
    """Events whose send failed or did not finish in time: their messages come back."""
    relayed: set[str] = field(default_factory=set)
    """Relayed messages that reached the archive queue (their origins)."""
    not_relayed: set[str] = field(default_factory=set)
    """Relayed messages that did not (their origins: SQS redelivers them)."""

    def merge(self, other: Archived) -> None:
        self.events += other.events
        self.unsent += other.unsent
        self.unsent_items += other.unsent_items
        self.unfinished += other.unfinished
        self.relayed |= other.relayed
        self.not_relayed |= other.not_relayed


class Archiving:
    """One invocation's archive copies: compressed as confirmed, sent by ``flush``, awaited by ``wait``."""

    def __init__(
        self,
        sink: Sink,
        *,
        compressor: Executor,
        sender: Executor,
        label_for: Callable[[str], str],
    ) -> None:
        self._sink = sink
        self._compressor = compressor
        self._sender = sender
        self._label_for = label_for
        self._labels: dict[str, str] = {}
        self._members: list[_Member] = []
        self._relays: list[_Message] = []
        self._sends: list[tuple[Future[Archived], list[_Member], list[_Message]]] = []

    def add(self, source_id: str, items: list[Item]) -> None:
        """Keep the copies of ``items``, which MetaRouter confirmed for ``source_id``."""
        label = self._labels.get(source_id)
        if label is None:
            label = self._labels[source_id] = self._label_for(source_id)
        self._members.append(_Member(label, items, self._compressor.submit(_compress, items)))

    def relay(self, body: str, origin: str) -> None:
        """Send on an archive message that came through the events queue."""
        self._relays.append(_Message(body, [], origin))

    @property
    def pending(self) -> int:
        return len(self._members) + len(self._relays)

    def flush(self, time_left: Callable[[], float]) -> None:
        """Start sending everything kept so far (on the sender's thread)."""
        if not self._members and not self._relays:
            return
        members, self._members = self._members, []
        relays, self._relays = self._relays, []
        send = self._sender.submit(self._send, members, relays, time_left)
        self._sends.append((send, members, relays))

    def wait(self, timeout: float) -> Archived:
        """Wait for the sends (within ``timeout``); what they became. A send that failed or did not
        finish in time leaves its events and relayed messages unarchived."""
        outcome = Archived()
        sends, self._sends = self._sends, []
        finished, _ = wait([send for send, _, _ in sends], timeout=max(timeout, 0.0))
        for send, members, relays in sends:
            if send in finished and send.exception() is None:
                outcome.merge(send.result())
                continue
            outcome.unfinished += [item for member in members for item in member.items if not item.archived]
            outcome.not_relayed |= {relay.origin for relay in relays if relay.origin is not None}
        return outcome

    def _send(
        self, members: list[_Member], relays: list[_Message], time_left: Callable[[], float]
    ) -> Archived:
        messages = [*_messages(members), *relays]
        unsent = set(self._sink.send([m.body for m in messages], time_left=time_left))
        outcome = Archived()
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
        return outcome


def _compress(items: list[Item]) -> list[tuple[list[Item], bytes]]:
    """``items`` as gzip members of at most ``MAX_MEMBER_BYTES`` (halved until they fit)."""
    data = gzip_lines([item.data for item in items], _LEVEL)
    if len(data) <= MAX_MEMBER_BYTES or len(items) == 1:
        return [(items, data)]
    middle = len(items) // 2
    return _compress(items[:middle]) + _compress(items[middle:])


def _messages(members: list[_Member]) -> list[_Message]:
    """The archive messages of ``members``: per label, members packed up to ``MAX_MEMBER_BYTES``."""
    by_label: dict[str, list[tuple[list[Item], bytes]]] = {}
    for member in members:
        by_label.setdefault(member.label, []).extend(member.data.result())
    messages: list[_Message] = []
    for label, parts in by_label.items():
        for run in chunks(parts, lambda part: len(part[1]), max_bytes=MAX_MEMBER_BYTES):
            items = [item for part in run for item in part[0]]
            body = archive_message(label, len(items), [part[1] for part in run])
            messages.append(_Message(body, items))
    return messages
