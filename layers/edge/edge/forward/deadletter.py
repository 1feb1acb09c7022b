"""Parking what can never be forwarded in the dead-letter queue, with the reason (README).

A parked message is what the forwarder read: the original body when it could not be decoded,
else a version-1 events message (``edge.core.queueing``) holding the parked events, so a redrive of
the dead-letter queue into the events queue replays it. Attributes say why:

- ``reason`` (String): ``invalid_message``, ``unsupported_version``, ``unmapped_source``,
  ``upstream_rejected``, ``unroutable_event`` or ``attempts_exhausted`` (``edge.core.errors.Reason``);
- ``detail`` (String, optional): a short explanation, e.g. the upstream's answer (truncated);
- ``upstreamStatus`` (Number, optional): the status the upstream refused the event with;
- ``originMessageId`` (String): the SQS message the events arrived in.

An invocation collects its letters (``Parking``) and sends them together at its end, with
``SendMessageBatch``, within the time it has left.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

from edge.core.errors import Reason
from edge.core.queueing import Entry, Queue, events_message

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

__all__ = ["DeadLetter", "DeadLetterQueue", "Parked", "Parking", "Reason", "printable"]

_DETAIL_CHARS: Final = 256


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message for the dead-letter queue."""

    body: str
    reason: Reason
    origin: str
    detail: str | None = None
    status: int | None = None

    def attributes(self) -> dict[str, MessageAttributeValueTypeDef]:
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            "reason": {"DataType": "String", "StringValue": self.reason},
            "originMessageId": {"DataType": "String", "StringValue": self.origin},
        }
        if self.detail:
            attributes["detail"] = {"DataType": "String", "StringValue": printable(self.detail)}
        if self.status is not None:
            attributes["upstreamStatus"] = {"DataType": "Number", "StringValue": str(self.status)}
        return attributes


def printable(text: str, limit: int = _DETAIL_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with characters SQS refuses in attributes replaced."""
    return "".join(char if char.isprintable() else " " for char in text[:limit]) or "-"


class DeadLetterQueue:
    """The dead-letter queue."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._queue = Queue(sqs, queue_url)

    def park(self, letters: Sequence[DeadLetter], *, time_left: Callable[[], float]) -> list[int]:
        """Send ``letters``; the positions of those not sent."""
        entries = [Entry(letter.body, letter.attributes()) for letter in letters]
        return self._queue.send(entries, time_left=time_left)


class Parkable(Protocol):
    """An event that can be parked: the message it came in, its source, its serialized form."""

    @property
    def origin(self) -> str: ...

    @property
    def source(self) -> str | None: ...

    @property
    def data(self) -> bytes: ...

    @property
    def kind(self) -> str | None: ...


class LetterBox(Protocol):
    def park(self, letters: Sequence[DeadLetter], *, time_left: Callable[[], float]) -> list[int]: ...


@dataclass(slots=True)
class Parked:
    """What an invocation's letters became."""

    by_reason: Counter[str] = field(default_factory=Counter)
    """Parked events per reason (an undecodable message counts as one)."""
    not_sent: set[str] = field(default_factory=set)
    """Origins of letters that could not be sent: SQS must redeliver those messages."""


class Parking:
    """The letters of one invocation: one per SQS message and reason, sent together at the end."""

    def __init__(self) -> None:
        self._letters: list[tuple[DeadLetter, int]] = []
        """Each letter and how many events it counts for (a whole unread message: one)."""

    def message(self, body: str, origin: str, reason: Reason, detail: str) -> None:
        """Park a whole message that could not be read, as it came."""
        self._letters.append((DeadLetter(body, reason, origin, detail), 1))

    def add(self, events: Sequence[Parkable], reason: Reason, detail: str, status: int | None = None) -> None:
        """Park ``events``: a letter per message they came in, as an events message of their own."""
        by_origin: dict[str, list[Parkable]] = {}
        for event in events:
            by_origin.setdefault(event.origin, []).append(event)
        for origin, group in by_origin.items():
            head = group[0]
            body = events_message(head.source, [event.data for event in group], kind=head.kind).decode()
            self._letters.append((DeadLetter(body, reason, origin, detail, status), len(group)))

    def send(self, queue: LetterBox, time_left: Callable[[], float]) -> Parked:
        """Send every letter; a message whose letter could not be sent is redelivered by SQS."""
        parked = Parked()
        if not self._letters:
            return parked
        not_sent = set(queue.park([letter for letter, _ in self._letters], time_left=time_left))
        for position, (letter, events) in enumerate(self._letters):
            if position in not_sent:
                parked.not_sent.add(letter.origin)
            else:
                parked.by_reason[letter.reason] += events
        return parked
